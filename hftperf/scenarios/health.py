"""``health-sequential`` and ``health-concurrent``: closed-loop GETs of the bare request path."""

from __future__ import annotations

from dataclasses import dataclass, field

from hftperf.addresses import join_url
from hftperf.config import RequestConfig, ScenarioConfig, param
from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.shapes import CLOSED_LOOP

__all__ = ["HealthConcurrent", "HealthSequential", "request_spec"]


def request_spec(context: RunContext, request: RequestConfig, seed: int) -> RequestSpec:
    """An HTTP request of the config relative to the run's target URL."""
    return RequestSpec(
        url=join_url(context.target_url, request.path),
        method=request.method.upper(),
        headers=request.header_pairs(),
        body=request.body.encode("utf-8"),
        template=request.template,
        seed=seed,
    )


@dataclass(frozen=True)
class SequentialParams:
    """``health-sequential`` keys."""

    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)
    request: RequestConfig = field(default_factory=lambda: RequestConfig(path="/health"))


@dataclass(frozen=True)
class ConcurrentParams(SequentialParams):
    """``health-concurrent`` keys: also the number of connections."""

    connections: int = param(default=64, min=1)


def _closed_loop(config: ScenarioConfig, request: RequestConfig, connections: int, timeout_s: float,
                 context: RunContext) -> ScenarioOutcome:
    workers = min(context.workers or 1, connections)
    plan = LoadPlan(
        request=request_spec(context, request, config.seed),
        connections=connections,
        duration_s=config.duration_s,
        warmup_s=config.warmup_s,
        timeout_s=timeout_s,
        workers=workers,
    )
    result = run_load(plan, context.on_interval, executor=context.executor)
    return ScenarioOutcome(kind=CLOSED_LOOP, load=result, interrupted=result.interrupted)


class HealthSequential:
    """One connection, closed loop: throughput and latency of the bare request path."""

    kind = "health-sequential"
    protocols = frozenset({"http"})
    shape = CLOSED_LOOP
    summary = "GET /health on one connection, closed loop: the bare request path"
    params_type = SequentialParams

    def request_paths(self, params: SequentialParams) -> tuple[str, ...]:
        """The one path requested."""
        return (params.request.path,)

    def run(self, config: ScenarioConfig, params: SequentialParams, context: RunContext) -> ScenarioOutcome:
        """Run the closed loop on one connection."""
        return _closed_loop(config, params.request, 1, params.timeout_s, context)


class HealthConcurrent:
    """N connections, closed loop (like wrk)."""

    kind = "health-concurrent"
    protocols = frozenset({"http"})
    shape = CLOSED_LOOP
    summary = "GET /health on N connections, closed loop (like wrk)"
    params_type = ConcurrentParams

    def request_paths(self, params: ConcurrentParams) -> tuple[str, ...]:
        """The one path requested."""
        return (params.request.path,)

    def run(self, config: ScenarioConfig, params: ConcurrentParams, context: RunContext) -> ScenarioOutcome:
        """Run the closed loop on ``connections`` connections."""
        return _closed_loop(config, params.request, params.connections, params.timeout_s, context)
