"""The one way any outcome becomes a ScenarioResult: what a scenario measured, recorded and judged.

:func:`scenario_result` takes a :class:`ScenarioOutcome` (a load through the instrument, or
operations measured in process) and returns the record result.json holds: counts, latency,
histograms, the common figures of a load, what was sent (credentials redacted), the registry
kind and the result shape, and, when thresholds are given, their verdicts (INCONCLUSIVE when the
load generator fell behind). :func:`load_outcome` wraps a bare ``LoadResult`` (``hftperf load``,
``ab --scenario load``) so it takes the same road. Nothing here runs a load: unit tests build
results from hand-made outcomes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hftperf.loadgen.request import RequestSpec
from hftperf.result import ScenarioResult, ThresholdResult, error_rate
from hftperf.shapes import load_shape

if TYPE_CHECKING:
    from hftperf.loadgen.result import LoadResult
    from hftperf.scenarios.base import ScenarioOutcome
    from hftperf.thresholds import Threshold, Verdict

__all__ = ["ADHOC_KIND", "judged", "load_outcome", "scenario_result", "scenario_result_from_load",
           "threshold_results"]

ADHOC_KIND = "load"  # the registry kind of an ad-hoc request (hftperf load, ab --scenario load)


def load_outcome(result: LoadResult, figures: Mapping[str, Any] | None = None) -> ScenarioOutcome:
    """A bare load as a scenario's outcome: open loop at a rate or in stages (with the per-stage
    figures), closed loop without either."""
    from hftperf.scenarios.base import ScenarioOutcome, stage_figures

    return ScenarioOutcome(kind=load_shape(result.plan.open_loop), load=result,
                           figures={**stage_figures(result), **(figures or {})}, interrupted=result.interrupted)


def scenario_result(name: str, outcome: ScenarioOutcome, hlog: str | None = None, repeat_index: int = 0, *,
                    scenario_kind: str | None = None, thresholds: Sequence[Threshold] | None = None,
                    max_pacer_lag_us: float | None = None, max_steal_share: float | None = None,
                    redact_headers: Iterable[str] | None = None) -> ScenarioResult:
    """The result record of one scenario run.

    ``redact_headers`` given: an HTTP load records what it sent (``figures.request``, those
    headers' values redacted too). ``thresholds`` given: they are evaluated (see :func:`judged`).
    """
    result = _recorded(name, outcome, hlog, repeat_index, scenario_kind)
    load = outcome.load
    spec = load.plan.request if load is not None else None
    if redact_headers is not None and isinstance(spec, RequestSpec):  # what was sent, credentials redacted
        from hftperf.redact import describe_request

        request = describe_request(spec.method, spec.url, spec.headers, tuple(redact_headers))
        result = dataclasses.replace(result, figures={**result.figures, "request": request})
    if thresholds is None:
        return result
    return judged(result, thresholds, max_pacer_lag_us, max_steal_share)


def _recorded(name: str, outcome: ScenarioOutcome, hlog: str | None, repeat_index: int,
              scenario_kind: str | None) -> ScenarioResult:
    extra = {key: h.encode() for key, h in outcome.extra_histograms.items()}
    extra_out_of_range = {key: h.out_of_range_count for key, h in outcome.extra_histograms.items()}
    if outcome.load is not None:
        result = scenario_result_from_load(
            name, outcome.kind, outcome.load, figures=outcome.figures, extra_histograms=extra,
            extra_out_of_range=extra_out_of_range, hlog=hlog, repeat_index=repeat_index, scenario_kind=scenario_kind,
        )
        if outcome.interrupted and not result.interrupted:
            result = dataclasses.replace(result, interrupted=True, passed=False)
        return result
    latency = outcome.latency
    operations = outcome.operations
    return ScenarioResult(
        name=name,
        kind=outcome.kind,
        requests=operations,
        ok=operations,
        errors={},
        in_flight=0,
        duration_s=outcome.duration_s,
        throughput_rps=operations / outcome.duration_s if outcome.duration_s > 0 else 0.0,
        latency_us=latency.summary_us() if latency is not None and latency.total_count else None,
        histogram=latency.encode() if latency is not None else None,
        extra_histograms=extra,
        out_of_range=latency.out_of_range_count if latency is not None else 0,
        extra_out_of_range=extra_out_of_range,
        figures={"error_rate": error_rate(0, operations), **outcome.figures},
        interrupted=outcome.interrupted,
        hlog=hlog,
        repeat_index=repeat_index,
        scenario_kind=scenario_kind,
    )


def threshold_results(verdicts: list[Verdict]) -> tuple[ThresholdResult, ...]:
    """Verdicts as the result file records them."""
    results = []
    for verdict in verdicts:
        threshold = verdict.threshold
        limit_text = threshold.text.split(threshold.op, 1)[1].strip()
        results.append(ThresholdResult(metric=threshold.metric, limit=f"{threshold.op} {limit_text}",
                                       observed=verdict.observed, passed=verdict.passed,
                                       headroom_pct=verdict.headroom_pct))
    return tuple(results)


def judged(result: ScenarioResult, thresholds: Sequence[Threshold], max_pacer_lag_us: float | None,
           max_steal_share: float | None = None) -> ScenarioResult:
    """The result with its thresholds evaluated (``hftperf.instrument``): all INCONCLUSIVE if the load
    generator fell behind; on a starved machine, each failure its CPU steal could explain.

    ``max_pacer_lag_us``, ``max_steal_share``: the run's bounds, recorded beside what they judge.
    """
    from hftperf.instrument import diagnose, machine_starved, steal_explains
    from hftperf.thresholds import evaluate_all

    if "pacer_lag_us" in result.figures and max_pacer_lag_us is not None:  # the bound judged by
        result = dataclasses.replace(result, figures={**result.figures, "max_pacer_lag_floor_us": max_pacer_lag_us})
    if result.figures.get("steal_share_max") is not None and max_steal_share is not None:
        result = dataclasses.replace(result, figures={**result.figures, "max_steal_share": max_steal_share})
    figures: dict[str, Any] = dict(result.figures)
    figures.update(result.latency_us or {})
    figures["throughput_rps"] = result.throughput_rps
    verdicts = evaluate_all(thresholds, {k: v for k, v in figures.items() if _is_figure(v)})
    checked = result.with_thresholds(threshold_results(verdicts))
    diagnosis = diagnose(checked)
    if diagnosis is not None and diagnosis.inconclusive:
        return checked.as_inconclusive()
    if machine_starved(checked) is None:
        return checked
    steal = float(checked.figures["steal_share_max"])
    stall_us = float(checked.figures.get("steal_stall_us_max") or 0.0)
    doubtful = [not v.passed and steal_explains(v.threshold.kind, v.threshold.op, v.observed, v.threshold.limit,
                                                steal, stall_us) for v in verdicts]
    if not any(doubtful):
        return checked
    marked = (dataclasses.replace(t, inconclusive=True) if doubt else t
              for t, doubt in zip(checked.thresholds, doubtful, strict=True))
    return dataclasses.replace(checked, inconclusive=True).with_thresholds(marked)


def steal_stall_us(intervals: Sequence[Any]) -> float | None:
    """The longest stall the worst interval's CPU steal allows any one process: the stolen share of all
    CPUs' time, on one CPU, at most the whole interval (µs; None without a steal reading)."""
    cpus = os.cpu_count() or 1
    stalls = [min(1.0, r.steal_share * cpus) * r.length_s * 1e6 for r in intervals if r.steal_share is not None]
    return round(max(stalls), 1) if stalls else None


def _is_figure(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def scenario_result_from_load(
    name: str,
    kind: str,
    load_result: LoadResult,
    *,
    figures: Mapping[str, Any] | None = None,
    extra_histograms: Mapping[str, str] | None = None,
    extra_out_of_range: Mapping[str, int] | None = None,
    thresholds: Iterable[ThresholdResult] = (),
    hlog: str | None = None,
    repeat_index: int = 0,
    scenario_kind: str | None = None,
) -> ScenarioResult:
    """A ScenarioResult with the common figures of a LoadResult; ``figures`` given here win.

    Common figures: error_rate (failed / requests), not_sent, censored, warmup_requests,
    offered_rate_rps, connections, workers, the load generator's CPU and the machine's load
    (per interval too), and in open loop pacer_lag_us, connection_wait_us, connection_waits
    and drain_s. The pacer-lag and connection-wait histograms go into
    ``extra_histograms`` with their out-of-range counts.
    """
    plan = load_result.plan
    common: dict[str, Any] = {
        "error_rate": error_rate(load_result.failed, load_result.requests),
        "not_sent": load_result.not_sent,
        "censored": load_result.censored,
        "warmup_requests": load_result.warmup_requests,
        "offered_rate_rps": plan.offered_rate_per_s,
        "connections": plan.connections,
        "workers": plan.workers,
        "loadgen_cpu_s": load_result.cpu_s,
        "loadgen_cpu_share": load_result.cpu_core_share,
        "load_1m_max": load_result.load_1m_max,
        "steal_share_max": load_result.steal_share_max,
        "steal_stall_us_max": steal_stall_us(load_result.intervals),
        "instrument_intervals": [
            {"start_s": round(r.start_s, 3), "length_s": round(r.length_s, 3),
             "cpu_share": round(r.cpu_s / r.length_s, 4) if r.length_s > 0 else None,
             "load_1m": r.load_1m, "steal_share": r.steal_share, "connection_waits": r.connection_waits}
            for r in load_result.intervals
        ],
        **load_result.cluster_figures(),
    }
    histograms: dict[str, str] = {}
    out_of_range: dict[str, int] = {}
    if plan.open_loop:
        for key, histogram in (("pacer_lag", load_result.pacer_lag), ("connection_wait", load_result.connection_wait)):
            common[f"{key}_us"] = histogram.summary_us() if histogram is not None and histogram.total_count else None
            if histogram is not None:
                histograms[key] = histogram.encode()
                out_of_range[key] = histogram.out_of_range_count
        common.update(connection_waits=load_result.connection_waits, drain_s=load_result.drain_s)
    histograms.update(extra_histograms or {})
    out_of_range.update(extra_out_of_range or {})
    latency = load_result.latency
    scenario = ScenarioResult(
        name=name,
        kind=kind,
        requests=load_result.requests,
        ok=load_result.ok,
        errors=dict(load_result.errors),
        in_flight=load_result.in_flight,
        duration_s=load_result.duration_s,
        throughput_rps=load_result.throughput_rps,
        latency_us=latency.summary_us() if latency.total_count else None,
        histogram=latency.encode(),
        extra_histograms=histograms,
        out_of_range=latency.out_of_range_count,
        extra_out_of_range=out_of_range,
        figures={**common, **(figures or {})},
        interrupted=load_result.interrupted,
        hlog=hlog,
        repeat_index=repeat_index,
        scenario_kind=scenario_kind,
    )
    return scenario.with_thresholds(thresholds)
