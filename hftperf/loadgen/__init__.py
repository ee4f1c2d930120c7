"""The instrument: an open- and closed-loop HTTP/1.1 and gRPC load generator recording HDR histograms.

One entry point, :func:`run_load`; it imports neither typer, rich, docker, pandas nor matplotlib.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from hftperf.errors import TargetUnreachable
from hftperf.loadgen.plan import LoadPlan, default_workers, grpc_plan
from hftperf.loadgen.request import GrpcRequestSpec, RequestCycle, RequestSpec
from hftperf.loadgen.result import Aggregator, IntervalRecord, IntervalReport, LoadResult
from hftperf.loadgen.transport import ErrorClass

__all__ = [
    "ErrorClass",
    "GrpcRequestSpec",
    "IntervalRecord",
    "IntervalReport",
    "LoadPlan",
    "LoadResult",
    "RequestCycle",
    "RequestSpec",
    "check_reachable",
    "default_workers",
    "grpc_plan",
    "run_load",
]

_STOP_GRACE_S = 5.0


def check_reachable(host: str, port: int, timeout_s: float) -> None:
    """Open and close one TCP connection; raise TargetUnreachable with the reason otherwise."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, (TimeoutError, socket.timeout)):
            reason = f"no answer within {timeout_s:g}s"
        raise TargetUnreachable(f"cannot connect to {host}:{port} ({reason.lower()})") from None


def run_load(plan: LoadPlan, on_interval: Callable[[IntervalReport], None] | None = None,
             preflight: bool = True) -> LoadResult:
    """Run the plan (in this process for one worker, else in worker processes) and merge.

    ``on_interval`` receives each interval merged over all workers, in order, as it completes.
    The run never outlives warm-up + duration + timeout + a short grace.
    """
    if preflight:
        target = plan.request.target
        host, port = plan.grpc.host_port if plan.grpc is not None else (target.host, target.port)
        check_reachable(host, port, min(plan.timeout_s, 5.0))
    aggregator = Aggregator(plan, on_interval)
    if plan.workers == 1:
        from hftperf.loadgen.runner import run_worker

        summaries = [run_worker(plan.for_worker(0), aggregator.add)]
    else:
        from hftperf.loadgen.pool import run_pool

        parts = [plan.for_worker(k) for k in range(plan.workers)]
        deadline_s = plan.warmup_s + plan.duration_s + plan.timeout_s + _STOP_GRACE_S
        summaries = run_pool(parts, aggregator, deadline_s)
    return aggregator.result(summaries)
