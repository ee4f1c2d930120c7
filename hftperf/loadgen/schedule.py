"""When is request i due: pure functions of the request index, testable without a network.

Open loop schedules answer "at what offset from the start is request i intended" (vegeta's
Pacer, wrk2's constant throughput). Latency is measured from that intended time, so a
stalled server cannot slow the schedule down and hide its own stall (coordinated omission).
With several workers, worker k of K takes the global requests k, k+K, k+2K, ... so that
the merged arrivals stay evenly spaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConstantRate", "Schedule"]


class Schedule(Protocol):
    """An open-loop arrival schedule for one worker."""

    def due_ns(self, index: int) -> int:
        """Intended send time of the worker's request ``index``, in ns from the schedule start."""

    def count_due(self, elapsed_ns: int) -> int:
        """How many of the worker's requests are due at or before ``elapsed_ns``."""


@dataclass(frozen=True)
class ConstantRate:
    """A constant total arrival rate, interleaved across ``workers`` workers."""

    rate_per_s: float  # total over all workers
    worker_index: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"rate must be positive, got {self.rate_per_s}")
        if not 0 <= self.worker_index < self.workers:
            raise ValueError("worker_index must be in [0, workers)")

    @property
    def period_ns(self) -> float:
        """Time between two consecutive requests of the whole run (all workers)."""
        return 1e9 / self.rate_per_s

    def due_ns(self, index: int) -> int:
        """Intended offset of this worker's request ``index`` (global number index*K + k)."""
        return int((index * self.workers + self.worker_index) * self.period_ns)

    def count_due(self, elapsed_ns: int) -> int:
        """Number of this worker's requests with ``due_ns(i) <= elapsed_ns``."""
        if elapsed_ns < 0:
            return 0
        global_due = math.floor(elapsed_ns / self.period_ns)  # last global number due
        if global_due < self.worker_index:
            return 0
        count = (global_due - self.worker_index) // self.workers + 1
        # Guard the float edge: make the answer consistent with due_ns().
        while count > 0 and self.due_ns(count - 1) > elapsed_ns:
            count -= 1
        while self.due_ns(count) <= elapsed_ns:
            count += 1
        return count
