"""``order-latency``: POST /orders open loop at a fixed rate, latency from the intended send time.

The order flow is the API profile's (:mod:`hftperf.scenarios.order_api`): limits around the mid,
cancels and amends of resting orders, market orders; seeded; dry-run before the load. Latency is
recorded per operation too, and the realised mix reported against the asked one. Server-Timing
parts (e.g. gateway, engine, db) are recorded in histograms of their own when the target sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hftperf.addresses import join_url
from hftperf.config import ScenarioConfig, StageConfig, param, stages_param
from hftperf.loadgen import GrpcRequestSpec, LoadPlan, LoadResult, RequestSpec, Stage, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome, plan_stages, stage_figures
from hftperf.scenarios.order_api import flow_figures, prepare_flow, profile_protocols
from hftperf.scenarios.order_mix import OrderMixParams
from hftperf.shapes import OPEN_LOOP
from hftperf.targets.grpc_flow import GrpcOrderFactory
from hftperf.targets.order_flow import ProfileOrderFactory

__all__ = ["OrderLatency", "OrderLatencyParams", "operation_histograms", "order_plan", "profile_paths",
           "server_timing_histograms"]


@dataclass(frozen=True)
class OrderLatencyParams(OrderMixParams):
    """``order-latency`` keys."""

    rate_per_s: float = param(key="rate", unit="rate_per_s", default=500.0)
    connections: int = param(default=32, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)
    stages: tuple[StageConfig, ...] = stages_param()  # instead of rate and duration


def order_plan(flow: ProfileOrderFactory | GrpcOrderFactory, context: RunContext, rate_per_s: float | None,
               connections: int, timeout_s: float, duration_s: float, warmup_s: float,
               stages: tuple[Stage, ...] = ()) -> LoadPlan:
    """An open-loop plan sending the profile's order flow to the target (at a rate, or in ``stages``;
    over gRPC for a gRPC profile)."""
    workers = min(context.workers or 1, connections)
    rate_per_s = None if stages else rate_per_s
    if isinstance(flow, GrpcOrderFactory):
        assert context.grpc_target is not None
        metadata = tuple((k.lower(), v) for k, v in flow.profile.submit.headers)
        grpc_spec = GrpcRequestSpec(context.grpc_target, flow.methods[0], source=flow, metadata=metadata,
                                    channel_options=context.grpc_channel_options)
        return LoadPlan(request=grpc_spec, connections=connections, duration_s=duration_s, rate_per_s=rate_per_s,
                        stages=stages, warmup_s=warmup_s, timeout_s=timeout_s, workers=workers)
    spec = RequestSpec(
        url=join_url(context.target_url, "/"),
        method="POST",
        capture_server_timing=True,
        source=flow,
    )
    return LoadPlan(request=spec, connections=connections, duration_s=duration_s, rate_per_s=rate_per_s,
                    stages=stages, warmup_s=warmup_s, timeout_s=timeout_s, workers=workers)


def server_timing_histograms(result: LoadResult) -> dict[str, Any]:
    """The Server-Timing parts as extra histograms named ``server_timing_<part>``."""
    return {f"server_timing_{name}": h for name, h in result.server_timing.items() if h.total_count}


class OrderLatency:
    """Order submission latency at a fixed arrival rate (coordinated-omission free)."""

    kind = "order-latency"
    summary = "order entry of any API profile (default: the bundled stack's), open loop at a fixed rate, seeded mix"
    params_type = OrderLatencyParams
    protocols = frozenset({"http"})  # the default profile's; protocols_for() reads the chosen one
    shape = OPEN_LOOP

    def protocols_for(self, params: OrderLatencyParams) -> frozenset[str]:
        """The API profile's protocol ({"http"} or {"grpc"})."""
        return profile_protocols(params)

    def request_paths(self, params: OrderLatencyParams) -> tuple[str, ...]:
        """The profile's order paths (their constant part)."""
        return profile_paths(params)

    def run(self, config: ScenarioConfig, params: OrderLatencyParams, context: RunContext) -> ScenarioOutcome:
        """Dry-run the profile, then send the mix at ``rate`` for the scenario's duration."""
        flow = prepare_flow(params, context, config.seed)
        plan = order_plan(flow, context, params.rate_per_s, params.connections, params.timeout_s,
                          config.duration_s, config.warmup_s, stages=plan_stages(params.stages))
        result = run_load(plan, context.on_interval, executor=context.executor)
        figures = flow_figures(result, flow)
        staged = stage_figures(result)
        figures.update(staged, summary={**figures.get("summary", {}), **staged.get("summary", {})})
        return ScenarioOutcome(kind=OPEN_LOOP, load=result, interrupted=result.interrupted,
                               figures=figures,
                               extra_histograms={**server_timing_histograms(result), **operation_histograms(result)})


def operation_histograms(result: LoadResult) -> dict[str, Any]:
    """Each operation's latency as an extra histogram named ``op.<operation>``."""
    return {f"op.{name}": h for name, h in result.operations.items() if h.total_count}


def profile_paths(params: OrderMixParams) -> tuple[str, ...]:
    """The constant part of the profile's submit, cancel and amend paths (``/orders`` for the reference)."""
    from hftperf.targets import load_profile

    profile = load_profile(params.api, "api")
    paths = [op.path.split("${", 1)[0].rstrip("/") for op in (profile.submit, profile.cancel, profile.amend) if op]
    return tuple(dict.fromkeys(p for p in paths if p))
