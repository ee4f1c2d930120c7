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
from hftperf.result import RunResult, ScenarioResult
from hftperf.thresholds import format_figure
from hftperf.units import format_duration_us, format_rate

__all__ = [
    "LAG_WARN_FRACTION",
    "LAG_WARN_US",
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

REPORT_SCHEMA = "hftperf.report/1"
LAG_WARN_FRACTION = 0.10  # schedule-lag p99 above 10 % of the p50 latency: latency is suspect
LAG_WARN_US = 1_000.0  # ... or above 1 ms, whatever the latency
_PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max"))
# Server-Timing layers, outermost first: (histogram key, share label, sentence subject)
_PARTS = (
    ("network_client", "network + client", "Network and client time"),
    ("gateway", "gateway", "Gateway processing"),
    ("engine", "engine", "Engine matching"),
    ("db", "database", "Database writes"),
)
_TIMING_KEYS = ("server_timing_gateway", "server_timing_engine", "server_timing_db")


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
    """One sentence: all targets met, how many failed, or interrupted."""
    failed = sum(1 for s in run.scenarios for t in s.thresholds if not t.passed)
    total = sum(len(s.thresholds) for s in run.scenarios)
    if run.interrupted:
        return f"Interrupted: partial results; {failed} of {total} targets failed so far."
    if failed == 0:
        return f"All {total} targets met."
    return f"{failed} of {total} targets failed."


def target_records(run: RunResult) -> list[dict[str, Any]]:
    """One record per threshold, the worst first (failures, then the least headroom)."""
    rows = [
        {"scenario": s.name, "metric": t.metric, "target": t.limit, "observed": t.observed,
         "passed": t.passed, "headroom_pct": t.headroom_pct}
        for s in run.scenarios for t in s.thresholds
    ]

    def worst_first(row: dict[str, Any]) -> tuple[bool, float]:
        headroom = row["headroom_pct"]
        return (row["passed"], float("inf") if headroom is None else float(headroom))

    return sorted(rows, key=worst_first)


def targets_table(run: RunResult) -> pd.DataFrame:
    """Scenario, metric, target, observed, status (MEETS/FAILS), headroom; the worst first."""
    rows = [
        {"scenario": r["scenario"], "metric": r["metric"], "target": r["target"],
         "observed": format_figure(r["metric"], r["observed"]),
         "status": "MEETS" if r["passed"] else "FAILS",
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
        row = {"scenario": r["scenario"], "requests": f"{r['requests']:,}", "errors": _errors_text(r["errors"]),
               "error rate": _pct(r["error_rate"]), "throughput": _rate(r["throughput_rps"])}
        row.update({label: _us(r["latency_us"][key]) for key, label in _PERCENTILES})
        rows.append(row)
    return _frame(rows, ["scenario", "requests", "errors", "error rate", "throughput",
                         *(label for _, label in _PERCENTILES)])


# -- capacity -------------------------------------------------------------------------------


def _capacity_scenarios(run: RunResult) -> list[ScenarioResult]:
    return [s for s in run.scenarios if s.figures.get("curve")]


def capacity_records(run: RunResult) -> list[dict[str, Any]]:
    """Per capacity scenario: capacity, SLO and the curve with the knee (last step meeting it)."""
    out = []
    for s in _capacity_scenarios(run):
        curve = [dict(step) for step in s.figures["curve"]]
        capacity = s.figures.get("capacity_rps")
        knee = max((i for i, step in enumerate(curve) if step.get("passed")), default=None)
        for i, step in enumerate(curve):
            step["knee"] = i == knee
        out.append({"scenario": s.name, "capacity_rps": capacity, "slo_p99_us": s.figures.get("slo_p99_us"),
                    "knee_rate_rps": curve[knee]["rate_rps"] if knee is not None else None, "curve": curve})
    return out


def capacity_summary(record: Mapping[str, Any]) -> str:
    """'1,500/s at p99 < 50.00ms (knee at 1,500/s)' for one capacity record."""
    return f"{_rate(record['capacity_rps'])} at p99 < {_us(record['slo_p99_us'])} " \
           f"(knee at {_rate(record['knee_rate_rps'])})"


def capacity_table(record: Mapping[str, Any]) -> pd.DataFrame:
    """Rate against latency for one capacity record; the knee row marked."""
    rows = [
        {"offered rate": _rate(step.get("rate_rps")), "throughput": _rate(step.get("throughput_rps")),
         "p50": _us(step.get("p50_us")), "p99": _us(step.get("p99_us")), "error rate": _pct(step.get("error_rate")),
         "meets SLO": "yes" if step.get("passed") else "no", "knee": "◀ knee" if step["knee"] else ""}
        for step in record["curve"]
    ]
    return _frame(rows, ["offered rate", "throughput", "p50", "p99", "error rate", "meets SLO", "knee"])


# -- complexity -----------------------------------------------------------------------------


def complexity_records(run: RunResult) -> list[dict[str, Any]]:
    """Per complexity scenario: overall class, per-operation fit (class, r², reason) and the table."""
    out = []
    for s in run.scenarios:
        if "table" not in s.figures or "fits" not in s.figures:
            continue
        fits = {}
        for op, fit in s.figures["fits"].items():
            model = fit.get("models", {}).get(fit.get("best"), {})
            fits[op] = {"class": fit.get("best"), "r2": model.get("r2"), "rel_rmse": model.get("rel_rmse"),
                        "reason": fit.get("reason")}
        out.append({"scenario": s.name, "complexity": s.figures.get("complexity"), "fits": fits,
                    "table": [dict(row) for row in s.figures["table"]]})
    return out


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"scenario": self.scenario, "total_us": self.total_us, "parts_us": self.parts_us,
                "shares": self.shares, "sentence": self.sentence}


def _layer_parts(total: float, gateway: float, engine: float, db: float) -> dict[str, float]:
    """Each layer's own time: the outer layer's time minus the next one inside (never negative)."""
    values = (total - gateway, gateway - engine, engine - db, db)
    return {key: max(0.0, value) for (key, _, _), value in zip(_PARTS, values, strict=True)}


def _bottleneck(s: ScenarioResult) -> Bottleneck | None:
    if s.histogram is None or not all(k in s.extra_histograms for k in _TIMING_KEYS):
        return None
    hists = [LatencyHistogram.decode(s.histogram)] + [LatencyHistogram.decode(s.extra_histograms[k])
                                                      for k in _TIMING_KEYS]
    if any(h.total_count == 0 for h in hists):
        return None
    totals, parts, shares = {}, {}, {}
    for label, pct in (("p50", 50.0), ("p99", 99.0)):
        values = [float(h.value_at_percentile(pct)) for h in hists]
        totals[label] = values[0]
        parts[label] = _layer_parts(*values)
        whole = sum(parts[label].values()) or 1.0
        shares[label] = {key: value / whole for key, value in parts[label].items()}
    largest = max(shares["p99"], key=lambda key: shares["p99"][key])
    subject = next(text for key, _, text in _PARTS if key == largest)
    sentence = f"{subject} {'are' if subject.endswith('s') else 'is'} {_share(shares['p99'][largest])} " \
               f"of p99 latency in {s.name} ({_share(shares['p50'][largest])} of the median)."
    return Bottleneck(s.name, totals, parts, shares, sentence)


def bottlenecks(run: RunResult) -> list[Bottleneck]:
    """The breakdown of every scenario that recorded all Server-Timing histograms."""
    return [b for s in run.scenarios if (b := _bottleneck(s)) is not None]


def bottleneck_table(item: Bottleneck) -> pd.DataFrame:
    """Layer, time and share at the median and at p99."""
    rows = [{"layer": label, "p50 time": _us(item.parts_us["p50"][key]), "p50 share": _share(item.shares["p50"][key]),
             "p99 time": _us(item.parts_us["p99"][key]), "p99 share": _share(item.shares["p99"][key])}
            for key, label, _ in _PARTS]
    return _frame(rows, ["layer", "p50 time", "p50 share", "p99 time", "p99 share"])


# -- instrument quality ---------------------------------------------------------------------


def instrument_records(run: RunResult) -> list[dict[str, Any]]:
    """Schedule-lag p99 of each open-loop scenario and whether it makes the latency suspect."""
    rows = []
    for s in run.scenarios:
        lag = s.figures.get("schedule_lag_us")
        if not lag:
            continue
        lag_p99 = float(lag["p99"])
        p50 = (s.latency_us or {}).get("p50")
        limit = LAG_WARN_US if p50 is None else min(LAG_WARN_US, LAG_WARN_FRACTION * float(p50))
        rows.append({"scenario": s.name, "schedule_lag_p99_us": lag_p99, "latency_p50_us": p50,
                     "warning": lag_p99 > limit})
    return rows


def instrument_table(run: RunResult) -> pd.DataFrame:
    """Schedule-lag p99 against the p50 latency, with a verdict per open-loop scenario."""
    rows = [{"scenario": r["scenario"], "schedule-lag p99": _us(r["schedule_lag_p99_us"]),
             "latency p50": _us(r["latency_p50_us"]), "status": "WARNING" if r["warning"] else "ok"}
            for r in instrument_records(run)]
    return _frame(rows, ["scenario", "schedule-lag p99", "latency p50", "status"])


def instrument_warnings(run: RunResult) -> list[str]:
    """One sentence per scenario whose schedule lag makes its latency untrustworthy."""
    return [f"Warning: {r['scenario']} schedule-lag p99 {_us(r['schedule_lag_p99_us'])} exceeds 10% of its "
            f"p50 latency or 1 ms; the load generator fell behind and its latencies are not trustworthy."
            for r in instrument_records(run) if r["warning"]]


# -- environment and JSON -------------------------------------------------------------------


def environment_table(run: RunResult) -> pd.DataFrame:
    """The environment block as key/value rows."""
    rows = [{"key": str(key), "value": "-" if value is None else str(value)} for key, value in run.environment.items()]
    return _frame(rows, ["key", "value"])


def summary_dict(run: RunResult) -> dict[str, Any]:
    """The machine-readable report: the same figures as the tables, unformatted."""
    sections: dict[str, Callable[[RunResult], Any]] = {
        "targets": target_records, "scenarios": scenario_records, "capacity": capacity_records,
        "complexity": complexity_records, "bottlenecks": lambda r: [b.to_dict() for b in bottlenecks(r)],
        "instrument": instrument_records,
    }
    return {
        "schema": REPORT_SCHEMA, "label": run.label, "started_at": run.started_at, "ended_at": run.ended_at,
        "passed": run.passed, "interrupted": run.interrupted, "verdict": verdict_line(run),
        **{name: build(run) for name, build in sections.items()},
        "environment": dict(run.environment),
    }
