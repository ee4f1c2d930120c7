"""LoadPlan: everything a load run needs, validated once; and its split across workers."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from hftperf.histogram import HIGHEST_US_DEFAULT
from hftperf.loadgen.request import GrpcRequestSpec, RequestSpec

__all__ = ["LoadPlan", "WorkerPlan", "default_workers", "grpc_plan", "split_connections"]


@dataclass(frozen=True)
class LoadPlan:
    """A load run: what to send, how many connections, closed loop or open loop at a rate."""

    request: RequestSpec
    connections: int = 16
    duration_s: float = 10.0  # measured period, after the warm-up
    rate_per_s: float | None = None  # None: closed loop; otherwise open loop at this total rate
    warmup_s: float = 1.0  # sent and answered but not recorded
    timeout_s: float = 10.0  # per request, from its actual send
    workers: int = 1
    interval_s: float = 1.0  # length of one interval histogram
    highest_us: int = HIGHEST_US_DEFAULT
    keep_intervals: bool = True  # keep every interval in the result (False: memory flat for any length)
    grpc: GrpcRequestSpec | None = None  # set: unary gRPC calls (``request`` then describes them, see grpc_plan)

    def __post_init__(self) -> None:
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
        target = self.request.target  # raises ValueError for a bad URL
        if self.grpc is not None and (target.host, target.port) != self.grpc.host_port:
            raise ValueError("request must describe the gRPC target (build the plan with grpc_plan)")

    @property
    def open_loop(self) -> bool:
        """True when the plan paces requests at a fixed rate."""
        return self.rate_per_s is not None

    def for_worker(self, worker_index: int, start_ns: int | None = None) -> WorkerPlan:
        """The share of this plan that worker ``worker_index`` runs."""
        return WorkerPlan(
            plan=self,
            worker_index=worker_index,
            connections=split_connections(self.connections, self.workers)[worker_index],
            start_ns=start_ns,
        )


def grpc_plan(spec: GrpcRequestSpec, **options: Any) -> LoadPlan:
    """A load plan of unary gRPC calls; ``options`` are the other LoadPlan fields (connections = slots)."""
    return LoadPlan(spec.as_request_spec(), grpc=spec, **options)


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
