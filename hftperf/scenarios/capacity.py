"""``order-throughput``: a capacity search — the highest order rate that still meets the SLO.

The open-loop rate steps up from ``start_rate`` by ``step_rate``; each step runs for
``step_duration``. The search ends at the first step whose p99 (from intended send time)
exceeds ``slo_p99`` or whose error rate exceeds ``max_error_rate``, or at ``max_rate``.
``capacity_rps`` is the last rate that met the SLO (0 when none did); the whole curve of rate
against p50/p99 is kept. Only the first step has a warm-up: later steps follow on a warm target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hftperf.config import ScenarioConfig, param
from hftperf.loadgen import IntervalReport, LoadResult, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome, shifted
from hftperf.scenarios.order_mix import OrderMixParams
from hftperf.scenarios.orders import order_plan, server_timing_histograms

__all__ = ["CapacityParams", "OrderThroughput", "step_passed"]


@dataclass(frozen=True)
class CapacityParams(OrderMixParams):
    """``order-throughput`` keys."""

    start_rate_per_s: float = param(key="start_rate", unit="rate_per_s", default=250.0)
    step_rate_per_s: float = param(key="step_rate", unit="rate_per_s", default=250.0)
    max_rate_per_s: float = param(key="max_rate", unit="rate_per_s", default=5000.0)
    step_duration_s: float = param(key="step_duration", unit="duration_s", default=5.0, scaled=True, min=0.05)
    slo_p99_us: float = param(key="slo_p99", unit="duration_us", default=50_000.0)
    max_error_rate: float = param(unit="percent", default=0.001)
    connections: int = param(default=64, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)

    def __post_init__(self) -> None:
        if self.max_rate_per_s < self.start_rate_per_s:
            raise ValueError("max_rate must not be below start_rate")


def step_passed(result: LoadResult, params: CapacityParams) -> bool:
    """True when a step kept p99 within the SLO, errors within bounds, and sent what was due."""
    if result.requests == 0 or result.ok == 0:
        return False
    error_rate = result.failed / result.requests
    due = result.requests + result.not_sent
    return (result.latency.value_at_percentile(99) <= params.slo_p99_us
            and error_rate <= params.max_error_rate
            and result.not_sent <= 0.01 * due)


class OrderThroughput:
    """Capacity search over the open-loop order rate."""

    kind = "order-throughput"
    summary = "POST /orders capacity search: step the rate up until p99 breaks the SLO or errors appear"
    params_type = CapacityParams

    def run(self, config: ScenarioConfig, params: CapacityParams, context: RunContext) -> ScenarioOutcome:
        """Step through the rates; the last passing step's run is the scenario's figures."""
        curve: list[dict[str, Any]] = []
        best: LoadResult | None = None
        last: LoadResult | None = None
        offset_s = 0.0
        rate = params.start_rate_per_s
        warmup_s = config.warmup_s
        while rate <= params.max_rate_per_s + 1e-9 and not context.stop_requested():
            plan = order_plan(config, params, context, rate, params.connections, params.timeout_s,
                              params.step_duration_s, warmup_s)
            result = run_load(plan, _shift(context, offset_s))
            offset_s += result.duration_s
            warmup_s = 0.0
            passed = step_passed(result, params) and not result.interrupted
            curve.append(_curve_point(rate, result, passed))
            last = result
            if result.interrupted or not passed:
                break
            best = result
            rate += params.step_rate_per_s
        chosen = best or last
        figures: dict[str, Any] = {
            "capacity_rps": best.plan.rate_per_s if best is not None and best.plan.rate_per_s else 0.0,
            "slo_p99_us": params.slo_p99_us,
            "curve": curve,
        }
        return ScenarioOutcome(
            kind="capacity",
            load=chosen,
            figures=figures,
            extra_histograms=server_timing_histograms(chosen) if chosen is not None else {},  # type: ignore[arg-type]
            interrupted=bool(last and last.interrupted) or context.stop_requested(),
        )


def _curve_point(rate: float, result: LoadResult, passed: bool) -> dict[str, Any]:
    latency = result.latency
    return {
        "rate_rps": rate,
        "sent_rps": result.requests / result.duration_s if result.duration_s else 0.0,
        "throughput_rps": result.throughput_rps,
        "p50_us": latency.value_at_percentile(50) if latency.total_count else None,
        "p99_us": latency.value_at_percentile(99) if latency.total_count else None,
        "error_rate": result.failed / result.requests if result.requests else 0.0,
        "not_sent": result.not_sent,
        "passed": passed,
    }


def _shift(context: RunContext, offset_s: float) -> Callable[[IntervalReport], None] | None:
    """The run's interval sink with each interval moved to the step's place in the scenario."""
    if context.on_interval is None:
        return None
    sink = context.on_interval

    def on_interval(report: IntervalReport) -> None:
        sink(shifted(report, offset_s))

    return on_interval
