"""Turn a ScenarioOutcome (what a scenario measured) into the ScenarioResult the file records."""

from __future__ import annotations

import dataclasses

from hftperf.result import ScenarioResult, error_rate, scenario_result_from_load
from hftperf.scenarios.base import ScenarioOutcome

__all__ = ["scenario_result"]


def scenario_result(name: str, outcome: ScenarioOutcome, hlog: str | None, repeat_index: int) -> ScenarioResult:
    """The result record of one scenario run (thresholds not yet evaluated)."""
    extra = {key: h.encode() for key, h in outcome.extra_histograms.items()}
    extra_out_of_range = {key: h.out_of_range_count for key, h in outcome.extra_histograms.items()}
    if outcome.load is not None:
        result = scenario_result_from_load(
            name, outcome.kind, outcome.load, figures=outcome.figures, extra_histograms=extra,
            extra_out_of_range=extra_out_of_range, hlog=hlog, repeat_index=repeat_index,
        )
        return result if not outcome.interrupted or result.interrupted else _interrupted(result)
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
    )


def _interrupted(result: ScenarioResult) -> ScenarioResult:
    return dataclasses.replace(result, interrupted=True, passed=False)
