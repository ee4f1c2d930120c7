"""LoadPlan: everything a load run needs, validated once; and its split across workers."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from hftperf.histogram import HIGHEST_US_DEFAULT
from hftperf.loadgen.grpc_spec import GrpcRequestSpec
from hftperf.loadgen.request import RequestSpec
from hftperf.loadgen.schedule import ClosedLoop, ConstantRate, Schedule, Stage, Steps

__all__ = ["LoadPlan", "RequestSpecs", "WorkerPlan", "default_workers", "grpc_plan", "split_connections"]

# What a plan can send: one spec type per protocol; transports.py maps each type to its transport.
RequestSpecs = RequestSpec | GrpcRequestSpec


@dataclass(frozen=True)
class LoadPlan:
    """A load run: what to send, how many connections, closed loop, open loop at a rate, or stages.

    With ``stages`` the measured time is the stages' total (``duration_s`` is set to it) and
    ``rate_per_s`` must be None; the warm-up runs at the first stage's rate.
    """

    request: RequestSpecs  # its type chooses the transport (transports.TRANSPORTS)
    connections: int = 16
    duration_s: float = 10.0  # measured period, after the warm-up
    rate_per_s: float | None = None  # None: closed loop; otherwise open loop at this total rate
    warmup_s: float = 1.0  # sent and answered but not recorded
    timeout_s: float = 10.0  # per request, from its actual send
    workers: int = 1
    interval_s: float = 1.0  # length of one interval histogram
    highest_us: int = HIGHEST_US_DEFAULT
    keep_intervals: bool = True  # keep every interval in the result (False: memory flat for any length)
    stages: tuple[Stage, ...] = ()  # open loop in stages (constant or ramped rates) after the warm-up

    def __post_init__(self) -> None:
        if self.stages:
            if self.rate_per_s is not None:
                raise ValueError("stages and rate exclude each other")
            object.__setattr__(self, "stages", tuple(self.stages))
            object.__setattr__(self, "duration_s", Steps(self.stages).duration_s)
        checks = [
            (self.connections >= 1, "connections must be at least 1"),
            (self.duration_s > 0, "duration must be positive"),
            (self.rate_per_s is None or self.rate_per_s > 0, "rate must be positive"),
            (self.warmup_s >= 0, "warm-up must not be negative"),
            (self.timeout_s > 0, "timeout must be positive"),
            (self.workers >= 1, "workers must be at least 1"),
            (self.workers <= self.connections, "workers must not exceed connections"),
            (self.interval_s >= 0.05, "interval must be at least 50 ms"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        self.request.host_port  # noqa: B018 - raises ValueError for a bad URL or HOST:PORT

    @property
    def grpc(self) -> GrpcRequestSpec | None:
        """The gRPC spec when the plan sends gRPC calls (for callers that describe the request)."""
        return self.request if isinstance(self.request, GrpcRequestSpec) else None

    @property
    def open_loop(self) -> bool:
        """True when the plan paces requests (at a fixed rate or in stages)."""
        return self.rate_per_s is not None or bool(self.stages)

    @property
    def offered_rate_per_s(self) -> float | None:
        """The rate asked for: the fixed rate, or the stages' mean over the measured time (None: closed loop)."""
        return Steps(self.stages).mean_rate_per_s if self.stages else self.rate_per_s

    @property
    def schedule(self) -> Schedule:
        """The whole run's schedule from the start of warm-up (one worker's: ``schedule_for``)."""
        if self.stages:
            if self.warmup_s <= 0:
                return Steps(self.stages)
            first = self.stages[0]
            # The warm-up runs at the first stage's rate; a first ramp still starts where it would without it.
            start = Steps(self.stages[:1]).start_rate_per_s(0)
            measured = (replace(first, from_rate_per_s=start), *self.stages[1:]) if first.ramp else self.stages
            return Steps((Stage(first.rate_per_s, self.warmup_s), *measured))
        return ConstantRate(self.rate_per_s) if self.rate_per_s is not None else ClosedLoop()

    def schedule_for(self, worker_index: int) -> Schedule:
        """Worker ``worker_index``'s interleaved share of the schedule."""
        return self.schedule.for_worker(worker_index, self.workers)

    def stage_bounds_ns(self) -> tuple[int, ...]:
        """Stage starts and the end, in ns from the end of warm-up (empty without stages)."""
        return Steps(self.stages).stage_bounds_ns() if self.stages else ()

    def for_worker(self, worker_index: int, start_ns: int | None = None) -> WorkerPlan:
        """The share of this plan that worker ``worker_index`` runs."""
        return WorkerPlan(
            plan=self,
            worker_index=worker_index,
            connections=split_connections(self.connections, self.workers)[worker_index],
            start_ns=start_ns,
        )


def grpc_plan(spec: GrpcRequestSpec, **options: Any) -> LoadPlan:
    """A load plan of gRPC calls; ``options`` are the other LoadPlan fields (connections = slots)."""
    return LoadPlan(spec, **options)


@dataclass(frozen=True)
class WorkerPlan:
    """One worker's part: its connections and position in the interleaved schedule."""

    plan: LoadPlan
    worker_index: int
    connections: int
    start_ns: int | None = None  # common perf_counter_ns start; None: start at once

    def starting_at(self, start_ns: int) -> WorkerPlan:
        """The same part with a fixed common start time."""
        return replace(self, start_ns=start_ns)


def split_connections(connections: int, workers: int) -> list[int]:
    """Spread connections over workers as evenly as possible (the first ones get one more)."""
    base, extra = divmod(connections, workers)
    return [base + (1 if index < extra else 0) for index in range(workers)]


def default_workers(connections: int, rate_per_s: float | None = None) -> int:
    """One process per two cores, at most one per 8 connections (and never more than connections).

    The load generator shares the machine with the target in most set-ups, so it takes half
    the cores; below 8 connections one event loop is not the bottleneck.
    """
    cores = os.cpu_count() or 1
    by_cores = max(1, cores // 2)
    by_connections = max(1, connections // 8)
    return max(1, min(by_cores, by_connections, connections))
