"""``order-throughput``: a capacity search — the highest order rate that still meets the SLO.

The open-loop rate steps up from ``start_rate`` by ``step_rate``; each step runs for
``step_duration``, all in ONE load run over a step schedule (same processes and connections
throughout; each request counts in the step of its intended time). The search ends at the first
step whose p99 (from intended send time) exceeds ``slo_p99``, whose error rate exceeds
``max_error_rate``, or that saturated the target (any request never sent, or more than 1% waited
for a connection while the connections were busy on the wire 95% of the step), or at
``max_rate``. Each step of the curve records its reason. ``capacity_rps`` is the last rate that
met the SLO (0 when none did); the whole curve of rate against p50/p99 is kept. Only the first
step has a warm-up: later steps follow on a warm target. Once a step has clearly failed and the
next has begun, the run ends there (the rest cannot change the result).

A failed step is measured once more before the search accepts it (RFC 2544's trial repeated, as
NDR searches do): a one-off stall of the target (a database checkpoint, a GC pause) fails the one
second it lands in, not the rate. The re-measurement is a new load run from that rate up (fresh
connections, the scenario's warm-up first); when it passes, the search goes on up in it. Each step
is re-measured at most once and a search at most ``remeasure`` times (default 2, 0: the first
failure ends it); the curve keeps both measurements (``attempt`` 1 and 2), so the stall stays
visible.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hftperf.config import ScenarioConfig, param
from hftperf.instrument import is_saturated
from hftperf.loadgen import IntervalReport, LoadResult, Stage, StageResult, run_load
from hftperf.loadgen.stages import stage_view
from hftperf.scenarios.base import RunContext, ScenarioOutcome, shifted
from hftperf.scenarios.order_api import flow_figures, prepare_flow, profile_protocols
from hftperf.scenarios.order_mix import OrderMixParams
from hftperf.scenarios.orders import order_plan, profile_paths, server_timing_histograms
from hftperf.shapes import CAPACITY, CapacityFigures, CurveStep

__all__ = ["CapacityParams", "OrderThroughput", "clearly_failed", "step_passed", "step_rates", "step_reasons"]


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
    remeasure: int = param(default=2, min=0)  # re-measurements of failed steps in one search (each step once)

    def __post_init__(self) -> None:
        if self.max_rate_per_s < self.start_rate_per_s:
            raise ValueError("max_rate must not be below start_rate")


def step_reasons(result: LoadResult, params: CapacityParams) -> list[str]:
    """Why a step is over capacity ("p99 over SLO", "errors", "saturation"); empty when it met the SLO."""
    if result.requests == 0 or result.ok == 0:
        return ["no responses"]
    reasons = []
    if result.latency.value_at_percentile(99) > params.slo_p99_us:
        reasons.append("p99 over SLO")
    if result.failed - result.not_sent > params.max_error_rate * result.requests:
        reasons.append("errors")
    saturation = _saturation(result)
    if saturation:
        reasons.append(saturation)
    return reasons


POOL_BUSY_SATURATED = 0.95  # the connections were on the wire this share of a step: they carry no more


def pool_busy_share(result: LoadResult) -> float | None:
    """How busy a step kept its connections, by Little's law: sent rate x mean time on the wire / connections.

    A request's time on the wire is its latency (from its intended time) less the time it was due
    but not yet sent (connection wait, then pacer lag). None when the run recorded neither (closed
    loop) or answered nothing.
    """
    if result.connection_wait is None or result.pacer_lag is None or not result.latency.total_count \
            or not result.duration_s or not result.plan.connections:
        return None
    wire_us = max(0.0, result.latency.mean_us - result.connection_wait.mean_us - result.pacer_lag.mean_us)
    return result.sent / result.duration_s * wire_us / 1e6 / result.plan.connections


def _saturation(result: LoadResult) -> str | None:
    """"saturation" when a request was never sent, or more than 1% waited for a connection while the
    connections were busy at least 95% of the step (the pool, and the target behind it, carried no
    more: the backlog grows). Waits in bursts on a pool with room to spare are in the p99 already."""
    if not is_saturated(result.sent, result.connection_waits, result.not_sent):
        return None
    if result.not_sent:
        return "saturation"
    busy = pool_busy_share(result)
    if busy is None:
        return "saturation"
    return f"saturation (connections {min(busy, 1.0):.0%} busy)" if busy >= POOL_BUSY_SATURATED else None


def step_passed(result: LoadResult, params: CapacityParams) -> bool:
    """True when a step kept p99 within the SLO and errors within bounds without saturating the target."""
    return not step_reasons(result, params)


class OrderThroughput:
    """Capacity search over the open-loop order rate."""

    kind = "order-throughput"
    summary = "order-entry capacity search: step the rate up until p99 breaks the SLO, errors or saturation"
    params_type = CapacityParams
    protocols = frozenset({"http"})  # the default profile's; protocols_for() reads the chosen one
    shape = CAPACITY

    def protocols_for(self, params: CapacityParams) -> frozenset[str]:
        """The API profile's protocol ({"http"} or {"grpc"})."""
        return profile_protocols(params)

    def planned_s(self, config: ScenarioConfig, params: CapacityParams) -> float:
        """Warm-up, every step's time (one run over a step schedule), a timeout of drain, and each
        re-measurement's own warm-up, step and drain."""
        span = params.max_rate_per_s - params.start_rate_per_s
        steps = math.floor(span / params.step_rate_per_s + 1e-9) + 1 if params.step_rate_per_s > 0 else 1
        once = config.warmup_s + params.step_duration_s + params.timeout_s
        return once + (steps - 1) * params.step_duration_s + params.remeasure * once

    def request_paths(self, params: CapacityParams) -> tuple[str, ...]:
        """The profile's order paths (their constant part)."""
        return profile_paths(params)

    def run(self, config: ScenarioConfig, params: CapacityParams, context: RunContext) -> ScenarioOutcome:
        """Runs over a step schedule (one, plus one per re-measured step); the last passing stage is the figures."""
        flow = prepare_flow(params, context, config.seed)
        rates = step_rates(params)
        search = _Search(params)
        began_s = time.monotonic()
        interrupted = False
        first: int | None = 0
        while first is not None and not context.stop_requested():
            stages = tuple(Stage(rate, params.step_duration_s) for rate in rates[first:])
            plan = order_plan(flow, context, None, params.connections, params.timeout_s, params.step_duration_s,
                              config.warmup_s, stages=stages)
            result = run_load(plan, _shifted(context.on_interval, time.monotonic() - began_s),
                              executor=context.executor,
                              finish_when=lambda so_far: _past_a_failed_stage(so_far, params))
            interrupted = interrupted or result.interrupted
            first = search.judge(result, rates, first)
        chosen = search.best or search.last
        best = search.best
        capacity = CapacityFigures(
            capacity_rps=best.plan.rate_per_s if best is not None and best.plan.rate_per_s else 0.0,
            slo_p99_us=params.slo_p99_us, curve=tuple(search.curve))
        figures: dict[str, Any] = {**capacity.to_figures(),
                                   **(flow_figures(chosen, flow) if chosen is not None else {})}
        return ScenarioOutcome(
            kind=CAPACITY,
            load=chosen,
            figures=figures,
            extra_histograms=server_timing_histograms(chosen) if chosen is not None else {},  # type: ignore[arg-type]
            interrupted=interrupted or context.stop_requested(),
        )


class _Search:
    """The curve so far, the best and last step views, and which steps were re-measured."""

    def __init__(self, params: CapacityParams) -> None:
        self.params = params
        self.curve: list[CurveStep] = []
        self.best: LoadResult | None = None
        self.last: LoadResult | None = None
        self.remeasured: set[int] = set()

    def judge(self, result: LoadResult, rates: list[float], first: int) -> int | None:
        """Judge one run's stages (its first at ``rates[first]``) in order; the index of the step to
        measure again from, or None when the search is over."""
        reached = [stage for stage in result.stages if stage.requests]
        for stage in reached:
            view = stage_view(result, stage.index)
            index = first + stage.index
            interrupted = result.interrupted and stage is reached[-1]
            cut_short = stage.start_s + stage.duration_s > result.duration_s + 1e-3  # the run ended in it
            reasons = step_reasons(view, self.params) + (["interrupted"] if interrupted else
                                                         ["ended early"] if cut_short else [])
            attempt = 2 if index in self.remeasured else 1
            self.curve.append(_curve_point(rates[index], view, reasons, attempt))
            self.last = view
            if not reasons:
                self.best = view
                continue
            if interrupted or cut_short or attempt > 1 or len(self.remeasured) >= self.params.remeasure:
                return None
            self.remeasured.add(index)
            return index
        return None


def _shifted(sink: Callable[[IntervalReport], None] | None,
             offset_s: float) -> Callable[[IntervalReport], None] | None:
    """``sink`` with each interval's start moved by ``offset_s`` (a re-measurement's run starts its clock at 0;
    the scenario's interval log goes on from where the last run ended)."""
    if sink is None or offset_s <= 0:
        return sink

    def on_interval(report: IntervalReport) -> None:
        sink(shifted(report, offset_s))
    return on_interval


def step_rates(params: CapacityParams) -> list[float]:
    """The rates of the search: start to max by step (one step when step_rate is 0)."""
    rates = [params.start_rate_per_s]
    if params.step_rate_per_s > 0:
        while rates[-1] + params.step_rate_per_s <= params.max_rate_per_s + 1e-9:
            rates.append(rates[-1] + params.step_rate_per_s)
    return rates


def clearly_failed(stage: StageResult, params: CapacityParams) -> bool:
    """True when a stage seen so far must fail ``step_reasons`` however its last answers turn out.

    Each count is compared with the stage's whole due share (its integrated rate), so more answers
    can only confirm it: over 1% of the due requests slower than the SLO, or errors over their bound.
    (Connection waits alone do not: saturation also needs the connections' busy share, known only
    once the stage's intervals are in.)
    """
    expected = stage.expected_requests * 1.01 + 1
    latency = stage.latency
    if latency.total_count:
        values, counts = latency.recorded_values()
        if counts[values > params.slo_p99_us * 1.01].sum() > 0.01 * expected:
            return True
    return stage.failed - stage.not_sent > params.max_error_rate * expected


def _past_a_failed_stage(stages: tuple[StageResult, ...], params: CapacityParams) -> bool:
    """End the run early once a stage clearly failed and the next one has begun (the search is over)."""
    return any(following.sent and clearly_failed(stage, params) for stage, following in itertools.pairwise(stages))


def _curve_point(rate: float, result: LoadResult, reasons: list[str], attempt: int) -> CurveStep:
    latency = result.latency
    return CurveStep(
        rate_rps=rate,
        sent_rps=result.sent / result.duration_s if result.duration_s else 0.0,
        throughput_rps=result.throughput_rps,
        p50_us=latency.value_at_percentile(50) if latency.total_count else None,
        p99_us=latency.value_at_percentile(99) if latency.total_count else None,
        error_rate=result.failed / result.requests if result.requests else 0.0,
        not_sent=result.not_sent,
        connection_waits=result.connection_waits,
        passed=not reasons,
        reason=", ".join(reasons) or "meets SLO",
        attempt=attempt,
    )
