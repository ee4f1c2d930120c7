"""When is request i due: pure functions of the request index, testable without a network.

Open loop schedules answer "at what offset from the start is request i intended" (vegeta's
Pacer, wrk2's constant throughput). Latency is measured from that intended time, so a
stalled server cannot slow the schedule down and hide its own stall (coordinated omission).
With several workers, worker k of K takes the global requests k, k+K, k+2K, ... so that
the merged arrivals stay evenly spaced.

Schedules are values (frozen dataclasses, picklable to worker processes): :class:`ConstantRate`,
:class:`Steps` (stages of constant rate or linear ramps, vegeta/k6 style) and :class:`ClosedLoop`
(no intended times: each connection sends as soon as its last answer came back).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from typing import Protocol

__all__ = ["ClosedLoop", "ConstantRate", "Schedule", "Stage", "Steps", "stage_at_ns"]


class Schedule(Protocol):
    """An arrival schedule for one worker (``for_worker`` gives each worker its interleaved share)."""

    @property
    def open_loop(self) -> bool:
        """True when requests have intended send times (False: closed loop)."""

    def due_ns(self, index: int) -> int:
        """Intended send time of the worker's request ``index``, in ns from the schedule start."""

    def count_due(self, elapsed_ns: int) -> int:
        """How many of the worker's requests are due at or before ``elapsed_ns``."""

    def for_worker(self, worker_index: int, workers: int) -> Schedule:
        """Worker ``worker_index`` of ``workers``'s share: global requests k, k+K, ..."""


@dataclass(frozen=True)
class ClosedLoop:
    """No intended times: each connection sends its next request when its answer arrives."""

    open_loop = False

    def due_ns(self, index: int) -> int:
        """Closed loop has no intended times."""
        raise TypeError("a closed loop has no intended send times")

    def count_due(self, elapsed_ns: int) -> int:
        """Closed loop has no due requests."""
        return 0

    def for_worker(self, worker_index: int, workers: int) -> ClosedLoop:
        """The same closed loop (each worker runs its own connections)."""
        return self


def _check_share(worker_index: int, workers: int) -> None:
    if not 0 <= worker_index < workers:
        raise ValueError("worker_index must be in [0, workers)")


def _count_due(schedule: ConstantRate | Steps, global_due: float, elapsed_ns: int) -> int:
    """This worker's count from an estimate of the last global number due, made exact by due_ns."""
    k, workers = schedule.worker_index, schedule.workers
    last = math.floor(global_due)
    count = 0 if last < k else (last - k) // workers + 1
    # Guard the float edge: make the answer consistent with due_ns().
    while count > 0 and schedule.due_ns(count - 1) > elapsed_ns:
        count -= 1
    while schedule.due_ns(count) <= elapsed_ns:
        count += 1
    return count


@dataclass(frozen=True)
class ConstantRate:
    """A constant total arrival rate, interleaved across ``workers`` workers."""

    rate_per_s: float  # total over all workers
    worker_index: int = 0
    workers: int = 1
    open_loop = True

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"rate must be positive, got {self.rate_per_s}")
        _check_share(self.worker_index, self.workers)

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
        return _count_due(self, elapsed_ns / self.period_ns, elapsed_ns)

    def for_worker(self, worker_index: int, workers: int) -> ConstantRate:
        """This rate, interleaved: worker ``worker_index`` of ``workers``."""
        return replace(self, worker_index=worker_index, workers=workers)


@dataclass(frozen=True)
class Stage:
    """One stage of a :class:`Steps` schedule: a rate held (or ramped to, from the previous rate) for a time."""

    rate_per_s: float
    duration_s: float
    ramp: bool = False  # True: the rate goes linearly from the previous stage's rate (0 for the first)
    from_rate_per_s: float | None = None  # a ramp's start rate when not the previous stage's

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"rate must be positive, got {self.rate_per_s}")
        if not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")


@dataclass(frozen=True)
class Steps:
    """Stages of constant or linearly ramped rate; after the last stage its end rate goes on.

    Global request n is due at the time t where the integrated rate N(t) reaches n (request 0
    at 0). In a ramp from r0 to r1 over D the rate is r0 + (r1 - r0) t / D, so
    N(t) = r0 t + (r1 - r0) t² / 2D, inverted in closed form: t = 2m / (r0 + sqrt(r0² + 2 (r1 - r0) m / D))
    for the m-th request of the stage (the stable root, also right when r0 is 0 or r1 = r0).
    """

    stages: tuple[Stage, ...]
    worker_index: int = 0
    workers: int = 1
    open_loop = True
    _starts_s: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _starts_ns: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _counts: tuple[float, ...] = field(init=False, repr=False, compare=False)  # N at each stage start

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a stepped schedule needs at least one stage")
        _check_share(self.worker_index, self.workers)
        starts, counts = [0.0], [0.0]
        for index, stage in enumerate(self.stages):
            start_rate = self.start_rate_per_s(index)
            counts.append(counts[-1] + (start_rate + stage.rate_per_s) / 2 * stage.duration_s)
            starts.append(starts[-1] + stage.duration_s)
        object.__setattr__(self, "_starts_s", tuple(starts))
        object.__setattr__(self, "_starts_ns", tuple(round(s * 1e9) for s in starts))
        object.__setattr__(self, "_counts", tuple(counts))

    @property
    def duration_s(self) -> float:
        """The total length of the stages."""
        return self._starts_s[-1]

    @property
    def expected_requests(self) -> float:
        """The integrated rate over all stages: requests due in the whole schedule."""
        return self._counts[-1]

    @property
    def mean_rate_per_s(self) -> float:
        """Requests over time of the whole schedule."""
        return self.expected_requests / self.duration_s

    def stage_bounds_ns(self) -> tuple[int, ...]:
        """Each stage's start offset and, last, the schedule's end (ns)."""
        return self._starts_ns

    def start_rate_per_s(self, index: int) -> float:
        """The rate stage ``index`` begins with (a ramp: the previous rate, or its own start rate)."""
        stage = self.stages[index]
        if not stage.ramp:
            return stage.rate_per_s
        if stage.from_rate_per_s is not None:
            return stage.from_rate_per_s
        return self.stages[index - 1].rate_per_s if index > 0 else 0.0

    def _offset_ns(self, index: int, m: float) -> float:
        """Time (ns from the start of stage ``index``) at which its integrated rate reaches ``m``."""
        if m <= 0:
            return 0.0
        if index == len(self.stages):  # past the end: the last rate goes on
            return m * (1e9 / self.stages[-1].rate_per_s)
        stage = self.stages[index]
        r0 = self.start_rate_per_s(index)
        if r0 == stage.rate_per_s:  # constant: the same arithmetic as ConstantRate
            return m * (1e9 / r0)
        slope = (stage.rate_per_s - r0) / stage.duration_s  # rate change per second
        return 2e9 * m / (r0 + math.sqrt(max(0.0, r0 * r0 + 2 * slope * m)))

    def integrated(self, elapsed_s: float) -> float:
        """N(t): requests due (all workers) by ``elapsed_s``, as a real number."""
        starts = self._starts_s
        if elapsed_s >= starts[-1]:
            return self._counts[-1] + (elapsed_s - starts[-1]) * self.stages[-1].rate_per_s
        index = bisect.bisect_right(starts, elapsed_s) - 1
        t = elapsed_s - starts[index]
        stage = self.stages[index]
        r0 = self.start_rate_per_s(index)
        return self._counts[index] + r0 * t + (stage.rate_per_s - r0) * t * t / (2 * stage.duration_s)

    def due_ns(self, index: int) -> int:
        """Intended offset of this worker's request ``index`` (global number index*K + k)."""
        number = index * self.workers + self.worker_index
        stage = bisect.bisect_right(self._counts, number) - 1
        due = int(self._starts_ns[stage] + self._offset_ns(stage, number - self._counts[stage]))
        # Clamp to the stage's integer bounds so that due_ns never goes backwards at a stage edge.
        if stage < len(self.stages):
            due = min(max(due, self._starts_ns[stage]), self._starts_ns[stage + 1])
        else:
            due = max(due, self._starts_ns[-1])
        return due

    def count_due(self, elapsed_ns: int) -> int:
        """Number of this worker's requests with ``due_ns(i) <= elapsed_ns``."""
        if elapsed_ns < 0:
            return 0
        return _count_due(self, self.integrated(elapsed_ns / 1e9), elapsed_ns)

    def for_worker(self, worker_index: int, workers: int) -> Steps:
        """These stages, interleaved: worker ``worker_index`` of ``workers``."""
        return Steps(self.stages, worker_index, workers)

    def stage_at_ns(self, offset_ns: int) -> int:
        """The stage an intended time (ns from the schedule start) falls in (clamped to the stages)."""
        return stage_at_ns(self._starts_ns, offset_ns)


def stage_at_ns(bounds_ns: tuple[int, ...], offset_ns: int) -> int:
    """Index of the stage holding ``offset_ns`` given the stage starts and the end (``bounds_ns``)."""
    index = bisect.bisect_right(bounds_ns, offset_ns) - 1
    return min(max(index, 0), len(bounds_ns) - 2)
