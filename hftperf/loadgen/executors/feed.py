"""Coordinator side of a remote run: feed samples to the Aggregator, and close a lost worker's gap.

The Aggregator emits interval i once every worker delivered it. When a worker is lost, the feed
stands in for it with an *empty* sample of the same interval (nothing merges into nothing, so the
merge stays exact) as soon as every live worker has delivered that interval; the live progress
line keeps moving. The lost worker's share is accounted, never hidden: what it was due to send in
the measured period and did not report is ``not_sent`` ("worker lost"), and what it reported sent
but never answered is ``in_flight``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.executors.base import LostWorker
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.transport import ErrorClass
from hftperf.loadgen.worker_summary import WorkerSummary

__all__ = ["Delivered", "IntervalFeed", "empty_like"]

_KEEP = frozenset({"index", "start_s", "length_s"})


def empty_like(sample: Any, highest_us: int) -> Any:
    """A sample of the same interval that measured nothing (any IntervalSample layout).

    Built field by field from the sample's own shape, so that the feed stays right when the
    recorder's payload gains or renames histograms: encoded histograms become an empty one,
    numbers 0, counter tuples zeros, tuples of parts empty.
    """
    empty_encoded = LatencyHistogram(highest_us).encode()
    values: dict[str, Any] = {}
    for item in dataclasses.fields(sample):
        value = getattr(sample, item.name)
        if item.name in _KEEP or value is None:
            continue
        if isinstance(value, bool):
            values[item.name] = False
        elif isinstance(value, int):
            values[item.name] = 0
        elif isinstance(value, float):
            values[item.name] = 0.0
        elif isinstance(value, str):
            values[item.name] = empty_encoded
        elif isinstance(value, tuple) and all(isinstance(v, int) for v in value):
            values[item.name] = (0,) * len(value)
        elif isinstance(value, tuple):
            values[item.name] = ()
    return dataclasses.replace(sample, **values)


@dataclasses.dataclass
class Delivered:
    """What one worker reported over its intervals (the per-worker table of a cluster run)."""

    requests: int = 0
    ok: int = 0
    errors: int = 0  # not_sent included
    not_sent: int = 0  # the not_sent it reported itself (due, no connection came free)
    stage_sent: dict[int, int] = dataclasses.field(default_factory=dict)  # stepped plans: sent per stage
    stage_answered: dict[int, int] = dataclasses.field(default_factory=dict)  # ok + errors per stage
    stage_not_sent: dict[int, int] = dataclasses.field(default_factory=dict)  # not_sent it reported per stage

    def table_row(self) -> dict[str, int]:
        """The per-worker table's figures."""
        return {"requests": self.requests, "ok": self.ok, "errors": self.errors}


class IntervalFeed:
    """Feeds an Aggregator the samples of K workers, some of which may be lost mid-run."""

    def __init__(self, plan: LoadPlan, aggregator: Aggregator) -> None:
        self.plan = plan
        self.aggregator = aggregator
        self.lost: set[int] = set()
        self.delivered = [Delivered() for _ in range(plan.workers)]
        self._seen: dict[int, set[int]] = {}  # interval index -> workers that delivered it
        self._template: dict[int, Any] = {}

    def add(self, worker_index: int, sample: Any) -> None:
        """One worker's interval sample."""
        if worker_index in self.lost:
            return  # a late message of a worker already written off: its share is accounted as lost
        counts = self.delivered[worker_index]
        counts.requests += sample.sent
        counts.ok += sample.ok
        counts.errors += sum(sample.errors)
        counts.not_sent += sample.errors[ErrorClass.NOT_SENT]
        for stage in getattr(sample, "stages", ()):
            counts.stage_sent[stage.index] = counts.stage_sent.get(stage.index, 0) + stage.sent
            unsent = stage.errors[ErrorClass.NOT_SENT]
            counts.stage_answered[stage.index] = (counts.stage_answered.get(stage.index, 0) + stage.ok
                                                  + sum(stage.errors) - unsent)
            counts.stage_not_sent[stage.index] = counts.stage_not_sent.get(stage.index, 0) + unsent
        self._seen.setdefault(sample.index, set()).add(worker_index)
        self._template.setdefault(sample.index, sample)
        self.aggregator.add(sample)
        self._fill(final=False)

    def lose(self, worker_index: int) -> None:
        """Write a worker off; its missing intervals are filled in from now on."""
        self.lost.add(worker_index)
        self._fill(final=False)

    def finish(self) -> None:
        """Fill every interval a lost worker missed (call before ``aggregator.result``)."""
        self._fill(final=True)

    def _fill(self, final: bool) -> None:
        if not self.lost:
            return
        live = set(range(self.plan.workers)) - self.lost
        for index in sorted(self._seen):
            seen = self._seen[index]
            if not final and not live <= seen:
                continue
            for worker_index in sorted(self.lost - seen):
                self.aggregator.add(empty_like(self._template[index], self.plan.highest_us))
                seen.add(worker_index)
            if final or seen >= set(range(self.plan.workers)):
                del self._seen[index]
                self._template.pop(index, None)

    def lost_share(self, worker_index: int, name: str, lost_after_s: float) -> tuple[LostWorker, WorkerSummary]:
        """What a lost worker did not deliver, and the summary that stands in for its own."""
        plan = self.plan
        counts = self.delivered[worker_index]
        not_sent = 0
        by_stage: tuple[int, ...] = ()
        in_flight_by_stage: tuple[int, ...] = ()
        if plan.open_loop:
            schedule = plan.schedule_for(worker_index)
            warmup_ns = int(plan.warmup_s * 1e9)
            end_ns = warmup_ns + int(plan.duration_s * 1e9)
            # measured requests are those intended at or after the end of warm-up (as in Worker)
            due = schedule.count_due(end_ns - 1) - schedule.count_due(warmup_ns - 1)
            not_sent = max(0, due - counts.requests - counts.not_sent)
            if plan.stages:  # each stage's due share, by intended time (as the stage tallies count)
                bounds = [warmup_ns + b for b in plan.stage_bounds_ns()]
                by_stage = tuple(
                    max(0, schedule.count_due(end - 1) - schedule.count_due(start - 1)
                        - counts.stage_sent.get(i, 0) - counts.stage_not_sent.get(i, 0))
                    for i, (start, end) in enumerate(itertools.pairwise(bounds)))
                not_sent = sum(by_stage)
                # sent in a stage it delivered, answered in an interval that never arrived
                in_flight_by_stage = tuple(max(0, counts.stage_sent.get(i, 0) - counts.stage_answered.get(i, 0))
                                           for i in range(len(by_stage)))
        in_flight = max(0, counts.requests - counts.ok - (counts.errors - counts.not_sent))
        lost = LostWorker(name, worker_index, lost_after_s, not_sent, in_flight, by_stage, in_flight_by_stage)
        summary = WorkerSummary(in_flight=in_flight, not_sent=not_sent, warmup_requests=0, measured_s=0.0,
                                interrupted=False)
        return lost, summary
