"""``order-latency``: POST /orders open loop at a fixed rate, latency from the intended send time.

The order flow is :mod:`order_mix` (limits around the mid, cancels of resting orders, market
orders; seeded). The gateway's Server-Timing parts (gateway, engine, db) are recorded in
histograms of their own when the target sends that header.
"""

from __future__ import annotations

from dataclasses import dataclass

from hftperf.config import ScenarioConfig, param
from hftperf.loadgen import LoadPlan, LoadResult, RequestSpec, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.scenarios.order_mix import OrderMixFactory, OrderMixParams

__all__ = ["OrderLatency", "OrderLatencyParams", "order_plan", "server_timing_histograms"]


@dataclass(frozen=True)
class OrderLatencyParams(OrderMixParams):
    """``order-latency`` keys."""

    rate_per_s: float = param(key="rate", unit="rate_per_s", default=500.0)
    connections: int = param(default=32, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)


def order_plan(config: ScenarioConfig, params: OrderMixParams, context: RunContext, rate_per_s: float,
               connections: int, timeout_s: float, duration_s: float, warmup_s: float) -> LoadPlan:
    """An open-loop plan submitting the seeded order mix to ``<target>/orders``."""
    spec = RequestSpec(
        url=context.target_url.rstrip("/") + "/orders",
        method="POST",
        capture_server_timing=True,
        source=OrderMixFactory(params, config.seed),
    )
    return LoadPlan(request=spec, connections=connections, duration_s=duration_s, rate_per_s=rate_per_s,
                    warmup_s=warmup_s, timeout_s=timeout_s, workers=min(context.workers or 1, connections))


def server_timing_histograms(result: LoadResult) -> dict[str, object]:
    """The Server-Timing parts as extra histograms named ``server_timing_<part>``."""
    return {f"server_timing_{name}": h for name, h in result.server_timing.items() if h.total_count}


class OrderLatency:
    """Order submission latency at a fixed arrival rate (coordinated-omission free)."""

    kind = "order-latency"
    summary = "POST /orders open loop at a fixed rate with a seeded order mix; Server-Timing breakdown"
    params_type = OrderLatencyParams

    def run(self, config: ScenarioConfig, params: OrderLatencyParams, context: RunContext) -> ScenarioOutcome:
        """Submit the mix at ``rate`` for the scenario's duration."""
        plan = order_plan(config, params, context, params.rate_per_s, params.connections, params.timeout_s,
                          config.duration_s, config.warmup_s)
        result = run_load(plan, context.on_interval)
        return ScenarioOutcome(kind="open-loop", load=result, interrupted=result.interrupted,
                               extra_histograms=server_timing_histograms(result))  # type: ignore[arg-type]
