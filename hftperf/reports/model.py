"""The report's figures, built once from a RunResult: raw records (for JSON) and display tables.

Every renderer (markdown, HTML, JSON) reads this module and nothing else, so each figure is
computed and formatted in exactly one place: ``*_records`` return raw numbers, ``*_table``
return pandas DataFrames of display strings built from those same records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hftperf.histogram import LatencyHistogram
from hftperf.instrument import Diagnosis, diagnose
from hftperf.result import RunResult, ScenarioResult
from hftperf.shapes import records_of, shape_of
from hftperf.thresholds import format_figure
from hftperf.units import format_duration_us, format_rate

__all__ = [
    "REPORT_SCHEMA",
    "Bottleneck",
    "bottleneck_table",
    "bottlenecks",
    "capacity_records",
    "capacity_summary",
    "capacity_table",
    "complexity_fit_table",
    "complexity_records",
    "complexity_table",
    "environment_table",
    "instrument_records",
    "instrument_table",
    "instrument_warnings",
    "scenario_records",
    "scenario_table",
    "summary_dict",
    "target_records",
    "targets_table",
    "verdict_line",
]

# hftperf.report/2: "instrument" holds the diagnosis per open-loop scenario (state, sentence,
# pacer lag and bound, connection waits, CPU, load per interval); targets carry "status".
REPORT_SCHEMA = "hftperf.report/2"
_PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max"))
_OUTSIDE = {"name": "network_client", "label": "network + client", "subject": "Network and client time"}


# -- formatting (the one place) -------------------------------------------------------------


def _us(value: float | None) -> str:
    return "-" if value is None else format_duration_us(float(value))


def _pct(fraction: float | None, digits: int = 3) -> str:
    return "-" if fraction is None else f"{100.0 * fraction:.{digits}g}%"


def _share(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100.0 * fraction:.0f}%"


def _rate(value: float | None) -> str:
    return "-" if value is None else format_rate(float(value))


def _frame(rows: list[dict[str, str]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object)


# -- verdict and targets --------------------------------------------------------------------


def verdict_line(run: RunResult) -> str:
    """One sentence: all targets met, how many failed or were inconclusive, or interrupted."""
    statuses = [t.status for s in run.scenarios for t in s.thresholds]
    failed, inconclusive, total = statuses.count("FAILS"), statuses.count("INCONCLUSIVE"), len(statuses)
    if run.interrupted:
        return f"Interrupted: partial results; {failed} of {total} targets failed so far."
    if total == 0:
        return "No targets set: figures only."
    unsure = (f"{inconclusive} of {total} targets INCONCLUSIVE (the load generator fell behind: "
              "machine too busy to measure)") if inconclusive else ""
    if failed == 0 and not inconclusive:
        return f"All {total} targets met."
    if failed == 0:
        return f"{unsure}."
    return f"{failed} of {total} targets failed" + (f"; {unsure}." if unsure else ".")


def target_records(run: RunResult) -> list[dict[str, Any]]:
    """One record per threshold, the worst first (failures, then the least headroom)."""
    rows = [
        {"scenario": s.name, "metric": t.metric, "target": t.limit, "observed": t.observed,
         "passed": t.passed, "status": t.status, "headroom_pct": t.headroom_pct}
        for s in run.scenarios for t in s.thresholds
    ]
    rank = {"FAILS": 0, "INCONCLUSIVE": 1, "MEETS": 2}

    def worst_first(row: dict[str, Any]) -> tuple[int, float]:
        headroom = row["headroom_pct"]
        return (rank[row["status"]], float("inf") if headroom is None else float(headroom))

    return sorted(rows, key=worst_first)


def targets_table(run: RunResult) -> pd.DataFrame:
    """Scenario, metric, target, observed, status (MEETS/FAILS), headroom; the worst first."""
    rows = [
        {"scenario": r["scenario"], "metric": r["metric"], "target": r["target"],
         "observed": format_figure(r["metric"], r["observed"]),
         "status": r["status"],
         "headroom": "-" if r["headroom_pct"] is None else f"{r['headroom_pct']:+.1f}%"}
        for r in target_records(run)
    ]
    return _frame(rows, ["scenario", "metric", "target", "observed", "status", "headroom"])


# -- per scenario ---------------------------------------------------------------------------


def scenario_records(run: RunResult) -> list[dict[str, Any]]:
    """Requests, errors by class, error rate, throughput and latency percentiles per scenario."""
    rows = []
    for s in run.scenarios:
        lat = s.latency_us or {}
        rows.append({
            "scenario": s.name, "kind": s.kind, "requests": s.requests, "ok": s.ok,
            "errors": dict(s.errors), "error_rate": s.figures.get("error_rate"),
            "throughput_rps": s.throughput_rps,
            "latency_us": {key: lat.get(key) for key, _ in _PERCENTILES},
        })
    return rows


def _errors_text(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(errors.items()) if count) or "none"


def scenario_table(run: RunResult) -> pd.DataFrame:
    """One display row per scenario (requests … max latency)."""
    rows = []
    for r in scenario_records(run):
        in_process = shape_of(r["kind"]).in_process  # operations in process: not comparable with requests
        row = {"scenario": r["scenario"],
               "requests": f"{r['requests']:,} operations" if in_process else f"{r['requests']:,}",
               "errors": _errors_text(r["errors"]), "error rate": _pct(r["error_rate"]),
               "throughput": f"{_rate(r['throughput_rps'])} ops (in process)" if in_process
               else _rate(r["throughput_rps"])}
        row.update({label: _us(r["latency_us"][key]) for key, label in _PERCENTILES})
        rows.append(row)
    return _frame(rows, ["scenario", "requests", "errors", "error rate", "throughput",
                         *(label for _, label in _PERCENTILES)])


# -- capacity -------------------------------------------------------------------------------


def capacity_records(run: RunResult) -> list[dict[str, Any]]:
    """Per capacity scenario: capacity, SLO and the curve with the knee (its shape's record, hftperf.shapes)."""
    return records_of(run.scenarios, "capacity")


def capacity_summary(record: Mapping[str, Any]) -> str:
    """'1,500/s at p99 < 50.00ms (knee at 1,500/s)' for one capacity record."""
    return f"{_rate(record['capacity_rps'])} at p99 < {_us(record['slo_p99_us'])} " \
           f"(knee at {_rate(record['knee_rate_rps'])})"


def capacity_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Rate against latency for one capacity record; the knee row marked, a re-measured step "(again)"."""
    rows = [
        {"offered rate": _rate(step.get("rate_rps")) + (" (again)" if (step.get("attempt") or 1) > 1 else ""),
         "throughput": _rate(step.get("throughput_rps")),
         "p50": _us(step.get("p50_us")), "p99": _us(step.get("p99_us")), "error rate": _pct(step.get("error_rate")),
         "meets SLO": "yes" if step.get("passed") else "no", "reason": str(step.get("reason") or "-"),
         "knee": "◀ knee" if step["knee"] else ""}
        for step in record["curve"]
    ]
    return _frame(rows, ["offered rate", "throughput", "p50", "p99", "error rate", "meets SLO", "reason", "knee"])


# -- complexity -----------------------------------------------------------------------------


def complexity_records(run: RunResult) -> list[dict[str, Any]]:
    """Per complexity scenario: overall class, per-operation fit and the table (its shape's record)."""
    return records_of(run.scenarios, "complexity")


def _operations(record: Mapping[str, Any]) -> list[str]:
    first = record["table"][0] if record["table"] else {}
    return [key[: -len("_p50_us")] for key in first if key.endswith("_p50_us")]


def complexity_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Depth against median (p99) latency per operation."""
    ops = _operations(record)
    rows = []
    for row in record["table"]:
        cells = {"depth": f"{row['depth']:,}"}
        cells.update({op: f"{_us(row.get(f'{op}_p50_us'))} ({_us(row.get(f'{op}_p99_us'))})" for op in ops})
        rows.append(cells)
    return _frame(rows, ["depth", *ops])


def complexity_fit_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Fitted class and fit quality per operation."""
    rows = [{"operation": op, "class": str(fit["class"]), "r²": "-" if fit["r2"] is None else f"{fit['r2']:.3f}",
             "rel. RMSE": _pct(fit["rel_rmse"], 2), "reason": str(fit["reason"] or "")}
            for op, fit in record["fits"].items()]
    return _frame(rows, ["operation", "class", "r²", "rel. RMSE", "reason"])


# -- bottlenecks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bottleneck:
    """Where one scenario's latency goes, by layer, at the median and at p99."""

    scenario: str
    total_us: dict[str, float]  # "p50", "p99" → end-to-end latency
    parts_us: dict[str, dict[str, float]]  # "p50"/"p99" → layer → µs
    shares: dict[str, dict[str, float]]  # "p50"/"p99" → layer → fraction of the total
    sentence: str
    layers: tuple[tuple[str, str], ...] = ()  # (layer, label), outermost first

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"scenario": self.scenario, "total_us": self.total_us, "parts_us": self.parts_us,
                "shares": self.shares, "sentence": self.sentence}


def timing_layers(s: ScenarioResult) -> list[dict[str, str]]:
    """The Server-Timing layers a result reported, outermost first, with their names.

    A result records them (``figures.server_timing_layers``, from the target's API profile); a
    file written before that was always the bundled stack's, whose profile names them.
    """
    layers = s.figures.get("server_timing_layers")
    if not isinstance(layers, list):
        if not any(key.startswith("server_timing_") for key in s.extra_histograms):
            return []
        from hftperf.targets import load_profile

        layers = load_profile("reference", "api").server_timing.describe()
    return [dict(layer) for layer in layers if isinstance(layer, Mapping) and "name" in layer]


def _layer_parts(keys: list[str], values: list[float]) -> dict[str, float]:
    """Each layer's own time: the outer layer's time minus the next one inside (never negative)."""
    inner = [*values[1:], 0.0]
    return {key: max(0.0, outer - nested) for key, outer, nested in zip(keys, values, inner, strict=True)}


def _bottleneck(s: ScenarioResult) -> Bottleneck | None:
    layers = timing_layers(s)
    keys = [f"server_timing_{x['name']}" for x in layers]
    if s.histogram is None or not layers or not all(key in s.extra_histograms for key in keys):
        return None
    hists = [LatencyHistogram.decode(text) for text in (s.histogram, *(s.extra_histograms[k] for k in keys))]
    if any(h.total_count == 0 for h in hists):
        return None
    described = [_OUTSIDE, *layers]
    keys = [x["name"] for x in described]  # the layer names: network_client, then the server's
    totals, parts, shares = {}, {}, {}
    for label, pct in (("p50", 50.0), ("p99", 99.0)):
        values = [float(h.value_at_percentile(pct)) for h in hists]
        totals[label] = values[0]
        parts[label] = _layer_parts(keys, values)
        whole = sum(parts[label].values()) or 1.0
        shares[label] = {key: value / whole for key, value in parts[label].items()}
    largest = max(shares["p99"], key=lambda key: shares["p99"][key])
    subject = next(x.get("subject", x["name"]) for x in described if x["name"] == largest)
    sentence = f"{subject} {'are' if subject.endswith('s') else 'is'} {_share(shares['p99'][largest])} " \
               f"of p99 latency in {s.name} ({_share(shares['p50'][largest])} of the median)."
    names = tuple((x["name"], x.get("label", x["name"])) for x in described)
    return Bottleneck(s.name, totals, parts, shares, sentence, names)


def bottlenecks(run: RunResult) -> list[Bottleneck]:
    """The breakdown of every scenario that recorded all its Server-Timing layers' histograms."""
    return [b for s in run.scenarios if (b := _bottleneck(s)) is not None]


def bottleneck_table(item: Bottleneck) -> pd.DataFrame:
    """Layer, time and share at the median and at p99."""
    rows = [{"layer": label, "p50 time": _us(item.parts_us["p50"][key]), "p50 share": _share(item.shares["p50"][key]),
             "p99 time": _us(item.parts_us["p99"][key]), "p99 share": _share(item.shares["p99"][key])}
            for key, label in item.layers]
    return _frame(rows, ["layer", "p50 time", "p50 share", "p99 time", "p99 share"])


# -- instrument quality ---------------------------------------------------------------------


def diagnoses(run: RunResult) -> list[Diagnosis]:
    """The instrument diagnosis of every open-loop scenario (hftperf.instrument)."""
    return [d for s in run.scenarios if (d := diagnose(s)) is not None]


def instrument_records(run: RunResult) -> list[dict[str, Any]]:
    """Per open-loop scenario: the diagnosis in words and its evidence (lags, waits, CPU, load)."""
    return [d.to_dict() for d in diagnoses(run)]


def _load_text(loads: list[float]) -> str:
    if not loads:
        return "-"
    low, high = min(loads), max(loads)
    return f"{low:.1f}" if high - low < 0.05 else f"{low:.1f}-{high:.1f}"


def instrument_table(run: RunResult) -> pd.DataFrame:
    """Pacer lag against its bound, connection waits, the load generator's CPU, the machine's load and steal."""
    rows = []
    for r in instrument_records(run):
        share = r["loadgen_cpu_share"]
        cpu = "-" if r["loadgen_cpu_s"] is None else f"{r['loadgen_cpu_s']:.2f} s" + (
            f" ({_share(share)} of a core)" if share is not None else "")
        status = {"ok": "ok", "saturated": "target saturated", "fell_behind": "INCONCLUSIVE",
                  "machine_starved": "machine starved", "unknown": "unknown"}[r["state"]]
        rows.append({"scenario": r["scenario"], "pacer-lag p99": _us(r["pacer_lag_p99_us"]),
                     "bound": _us(r["bound_us"]), "waited for a connection": f"{r['connection_waits']:,}",
                     "wait p99": _us(r["connection_wait_p99_us"]), "never sent": f"{r['not_sent']:,}",
                     "load generator CPU": cpu, "machine load": _load_text(r["load_1m"]),
                     "CPU steal (max)": _share(max(r["steal_share"])) if r["steal_share"] else "-", "status": status})
    return _frame(rows, ["scenario", "pacer-lag p99", "bound", "waited for a connection", "wait p99", "never sent",
                         "load generator CPU", "machine load", "CPU steal (max)", "status"])


def instrument_warnings(run: RunResult) -> list[str]:
    """One sentence per scenario: 'instrument OK', 'target saturated at …' or 'load generator fell behind …'."""
    lines = []
    for d in diagnoses(run):
        evidence = d.evidence()
        lines.append(f"{d.scenario}: {d.sentence}" + (f" ({evidence})." if evidence else "."))
    return lines


# -- environment and JSON -------------------------------------------------------------------


def environment_table(run: RunResult) -> pd.DataFrame:
    """The environment block as key/value rows."""
    rows = [{"key": str(key), "value": "-" if value is None else str(value)} for key, value in run.environment.items()
            if key != "load_workers"]  # a cluster's workers have a section of their own
    return _frame(rows, ["key", "value"])


def _workload_records(run: RunResult) -> list[dict[str, Any]]:
    from hftperf.reports.workload import workload_records

    return workload_records(run)


def summary_dict(run: RunResult) -> dict[str, Any]:
    """The machine-readable report: the same figures as the tables, unformatted."""
    sections: dict[str, Callable[[RunResult], Any]] = {
        "targets": target_records, "scenarios": scenario_records, "capacity": capacity_records,
        "complexity": complexity_records, "bottlenecks": lambda r: [b.to_dict() for b in bottlenecks(r)],
        "instrument": instrument_records, "workload": _workload_records,
    }
    return {
        "schema": REPORT_SCHEMA, "label": run.label, "started_at": run.started_at, "ended_at": run.ended_at,
        "passed": run.passed, "interrupted": run.interrupted, "verdict": verdict_line(run),
        **{name: build(run) for name, build in sections.items()},
        "environment": dict(run.environment),
    }
