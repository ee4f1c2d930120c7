"""The instrument: an open- and closed-loop HTTP/1.1 and gRPC load generator recording HDR histograms.

One entry point, :func:`run_load`; it imports neither typer, rich, docker, pandas nor matplotlib.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable

from hftperf.errors import TargetUnreachable
from hftperf.loadgen.executors import Executor, LocalProcesses, open_executor
from hftperf.loadgen.executors.base import LostWorker
from hftperf.loadgen.plan import LoadPlan, default_workers, grpc_plan
from hftperf.loadgen.request import GrpcRequestSpec, RequestCycle, RequestSpec
from hftperf.loadgen.result import Aggregator, IntervalRecord, IntervalReport, LoadResult
from hftperf.loadgen.schedule import Stage
from hftperf.loadgen.stages import StageResult
from hftperf.loadgen.transport import ErrorClass

__all__ = [
    "ErrorClass",
    "Executor",
    "GrpcRequestSpec",
    "IntervalRecord",
    "IntervalReport",
    "LoadPlan",
    "LoadResult",
    "RequestCycle",
    "RequestSpec",
    "Stage",
    "StageResult",
    "check_reachable",
    "default_workers",
    "grpc_plan",
    "open_executor",
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
             preflight: bool = True, executor: Executor | None = None,
             finish_when: Callable[[tuple[StageResult, ...]], bool] | None = None) -> LoadResult:
    """Run the plan on ``executor`` (default: this process for one worker, else local processes).

    ``on_interval`` receives each interval merged over all workers, in order, as it completes.
    The run never outlives warm-up + duration + timeout + a short grace. A cluster executor
    decides the number of workers (``result.plan.workers``) and checks reachability from them.
    ``finish_when`` (stepped plans) sees the stages merged so far after each interval; once it says
    True the schedule ends there, as if it had ended then (local executors; others run all stages).
    """
    executor = executor or LocalProcesses()
    local = isinstance(executor, LocalProcesses)
    plan = executor.fit(plan)
    if preflight and local:
        host, port = plan.request.host_port
        check_reachable(host, port, min(plan.timeout_s, 5.0))
    aggregator = Aggregator(plan, on_interval, finish_when)
    parts = [plan.for_worker(k) for k in range(plan.workers)]
    deadline_s = plan.warmup_s + plan.duration_s + plan.timeout_s + _STOP_GRACE_S
    outcome = executor.run(parts, aggregator, deadline_s)
    result = aggregator.result(outcome.summaries)
    if local:
        return result
    # A lost worker's due share never reached the merge: it is counted not_sent (an error class, so
    # requests = ok + failed + in flight still holds), with the reason "worker lost" in the figures.
    lost_not_sent = sum(lost.not_sent for lost in outcome.lost)
    errors = dict(result.errors)
    if lost_not_sent:
        errors["not_sent"] = errors.get("not_sent", 0) + lost_not_sent
    return dataclasses.replace(result, executor=executor.name, load_workers=outcome.workers,
                               lost_workers=tuple(lost.to_dict() for lost in outcome.lost), errors=errors,
                               requests=result.requests + lost_not_sent,
                               stages=_with_lost_shares(result.stages, outcome.lost))


def _with_lost_shares(stages: tuple[StageResult, ...], lost: tuple[LostWorker, ...]) -> tuple[StageResult, ...]:
    """Each stage with the lost workers' due share of it counted not_sent and their unanswered requests in
    flight (a stage's accounting holds)."""
    if not stages or not lost:
        return stages
    key = ErrorClass.NOT_SENT.key
    adjusted = []
    for stage in stages:
        missing = sum(w.not_sent_by_stage[stage.index] for w in lost if len(w.not_sent_by_stage) > stage.index)
        unanswered = sum(w.in_flight_by_stage[stage.index] for w in lost if len(w.in_flight_by_stage) > stage.index)
        errors = {**stage.errors, key: stage.errors.get(key, 0) + missing} if missing else stage.errors
        adjusted.append(dataclasses.replace(stage, errors=errors, in_flight=stage.in_flight + unanswered))
    return tuple(adjusted)
