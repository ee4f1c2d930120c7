"""Per-stage figures of a stepped run: each request counted in the stage of its *intended* time.

A worker keeps one :class:`StageTally` per stage next to its interval counters; each interval
sample carries the tallies as :class:`StageSample` values (histograms encoded, like
``operations``), the aggregator adds them up into :class:`StageResult` values, lossless across
workers and processes. Exact accounting holds per stage: requests due = sent + not sent, and
sent = ok + failed (not counting not sent) + in flight.
"""

from __future__ import annotations

import dataclasses
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.schedule import Stage
from hftperf.loadgen.transport import ErrorClass

if TYPE_CHECKING:
    from hftperf.loadgen.result import IntervalRecord, LoadResult

__all__ = ["StageResult", "StageSample", "StageTally", "StageTotals", "stage_view"]

_ERROR_SLOTS = max(ErrorClass) + 1


class StageTally:
    """One worker's counters of one stage for the current interval (hot-path mutable)."""

    __slots__ = ("censored", "connection_waits", "errors", "in_flight", "latency_ns", "ok", "sent")

    def __init__(self) -> None:
        self.latency_ns = array("q")
        self.sent = self.ok = self.censored = self.connection_waits = self.in_flight = 0
        self.errors = [0] * _ERROR_SLOTS

    def busy(self) -> bool:
        """True when anything was counted since the last sample."""
        return bool(self.sent or self.ok or self.in_flight or any(self.errors) or self.latency_ns)

    def take(self, index: int, histogram: LatencyHistogram) -> StageSample:
        """The tally as a sample (latency folded into ``histogram`` and encoded); counters reset."""
        from hftperf.loadgen.recorder import _encoded

        sample = StageSample(index, self.sent, self.ok, tuple(self.errors), _encoded(self.latency_ns, histogram),
                             histogram.out_of_range_count, self.censored, self.connection_waits, self.in_flight)
        self.sent = self.ok = self.censored = self.connection_waits = self.in_flight = 0
        self.errors = [0] * _ERROR_SLOTS
        return sample


@dataclass(frozen=True)
class StageSample:
    """What one worker counted for one stage in one interval (picklable)."""

    index: int
    sent: int
    ok: int
    errors: tuple[int, ...]  # indexed by ErrorClass value, not_sent included
    latency: str  # encoded histogram (µs from intended send), censored lower bounds included
    latency_out_of_range: int = 0
    censored: int = 0
    connection_waits: int = 0
    in_flight: int = 0  # unanswered when an interrupted run stopped (last interval only)


@dataclass(frozen=True)
class StageResult:
    """One stage of the whole run: asked for (rate, duration) against what was sent and answered."""

    index: int
    stage: Stage
    start_s: float  # from the end of warm-up
    expected_requests: float  # the integrated rate over the stage
    sent: int
    ok: int
    errors: dict[str, int]  # includes not_sent
    in_flight: int
    latency: LatencyHistogram
    censored: int = 0
    connection_waits: int = 0

    @property
    def duration_s(self) -> float:
        """The stage's length as asked."""
        return self.stage.duration_s

    @property
    def not_sent(self) -> int:
        """Requests due in the stage that never went out."""
        return self.errors.get(ErrorClass.NOT_SENT.key, 0)

    @property
    def requests(self) -> int:
        """Requests due in the stage: sent + not sent."""
        return self.sent + self.not_sent

    @property
    def failed(self) -> int:
        """Requests of the stage that ended in an error of any class (not sent included)."""
        return sum(self.errors.values())

    @property
    def throughput_rps(self) -> float:
        """Successful responses per second of the stage."""
        return self.ok / self.duration_s

    @property
    def accounted(self) -> bool:
        """True when requests = ok + failed + in flight holds exactly."""
        return self.requests == self.ok + self.failed + self.in_flight

    def to_dict(self) -> dict[str, Any]:
        """The stage's figures for ``--json`` and the result's workload."""
        stage = self.stage
        return {
            "stage": self.index,
            "rate_rps": stage.rate_per_s,
            "ramp": stage.ramp,
            "start_s": round(self.start_s, 6),
            "duration_s": stage.duration_s,
            "expected_requests": round(self.expected_requests, 3),
            "requests": self.requests,
            "sent": self.sent,
            "sent_rps": round(self.sent / stage.duration_s, 3),
            "ok": self.ok,
            "errors": dict(self.errors),
            "not_sent": self.not_sent,
            "in_flight": self.in_flight,
            "throughput_rps": round(self.throughput_rps, 3),
            "latency_us": self.latency.summary_us() if self.latency.total_count else None,
            "connection_waits": self.connection_waits,
            "censored": self.censored,
        }


@dataclass
class StageTotals:
    """The aggregator's running sums of one stage over all workers and intervals."""

    latency: LatencyHistogram
    sent: int = 0
    ok: int = 0
    errors: list[int] = field(default_factory=lambda: [0] * _ERROR_SLOTS)
    censored: int = 0
    connection_waits: int = 0
    in_flight: int = 0

    def add(self, sample: StageSample) -> None:
        """Add one worker's interval of this stage."""
        self.latency.merge(LatencyHistogram.decode(sample.latency, out_of_range_count=sample.latency_out_of_range))
        self.sent += sample.sent
        self.ok += sample.ok
        self.errors = [a + b for a, b in zip(self.errors, sample.errors, strict=True)]
        self.censored += sample.censored
        self.connection_waits += sample.connection_waits
        self.in_flight += sample.in_flight


def stage_results(stages: tuple[Stage, ...], totals: dict[int, StageTotals],
                  highest_us: int) -> tuple[StageResult, ...]:
    """The stages' results from the aggregator's totals (a stage nobody reached is all zero)."""
    from hftperf.loadgen.result import errors_by_name
    from hftperf.loadgen.schedule import Steps

    steps = Steps(stages)
    bounds = steps.stage_bounds_ns()
    counts = [steps.integrated(b / 1e9) for b in bounds]
    results = []
    for index, stage in enumerate(stages):
        total = totals.get(index) or StageTotals(LatencyHistogram(highest_us))
        results.append(StageResult(index, stage, bounds[index] / 1e9, counts[index + 1] - counts[index], total.sent,
                                   total.ok, errors_by_name(total.errors), total.in_flight, total.latency,
                                   total.censored, total.connection_waits))
    return tuple(results)


def stage_view(result: LoadResult, index: int) -> LoadResult:
    """The run restricted to stage ``index``, shaped as a LoadResult at the stage's rate.

    Counts and latency are the stage's own (by intended time, exact). Pacer lag, connection wait,
    Server-Timing, operations, counters and CPU come from the intervals that start in the stage
    (by interval time: exact when the stage bounds fall on interval cuts).
    """
    stage = result.stages[index]
    end_s = stage.start_s + stage.duration_s
    intervals = tuple(r for r in result.intervals if stage.start_s - 1e-9 <= r.start_s < end_s - 1e-9)
    plan = dataclasses.replace(result.plan, stages=(), rate_per_s=stage.stage.rate_per_s,
                               duration_s=stage.duration_s)
    last = index == len(result.stages) - 1
    return dataclasses.replace(
        result,
        plan=plan,
        requests=stage.requests,
        ok=stage.ok,
        errors=dict(stage.errors),
        in_flight=stage.in_flight,
        warmup_requests=result.warmup_requests if index == 0 else 0,
        duration_s=stage.duration_s,
        latency=stage.latency,
        pacer_lag=_merged(intervals, "pacer_lag", result.plan.highest_us) if result.pacer_lag is not None else None,
        connection_wait=(_merged(intervals, "connection_wait", result.plan.highest_us)
                         if result.connection_wait is not None else None),
        intervals=intervals,
        server_timing=_merged_named(intervals, "server_timing", result.plan.highest_us),
        operations=_merged_named(intervals, "operations", result.plan.highest_us),
        counts=_summed_counts(intervals),
        connection_waits=stage.connection_waits,
        censored=stage.censored,
        drain_s=result.drain_s if last else 0.0,
        cpu_s=sum(r.cpu_s for r in intervals),
        stages=(),
        load_workers=(),  # each worker's counts are of the whole run, not of this stage
    )


def _merged(intervals: tuple[IntervalRecord, ...], name: str, highest_us: int) -> LatencyHistogram:
    total = LatencyHistogram(highest_us)
    for record in intervals:
        text = getattr(record, name)
        if text is not None:
            out_of_range = record.lag_out_of_range if name == "pacer_lag" else record.wait_out_of_range
            total.merge(LatencyHistogram.decode(text, out_of_range_count=out_of_range))
    return total


def _merged_named(intervals: tuple[IntervalRecord, ...], name: str, highest_us: int) -> dict[str, LatencyHistogram]:
    totals: dict[str, LatencyHistogram] = {}
    for record in intervals:
        for part, text, out_of_range in getattr(record, name):
            if part not in totals:
                totals[part] = LatencyHistogram(highest_us)
            totals[part].merge(LatencyHistogram.decode(text, out_of_range_count=out_of_range))
    return totals


def _summed_counts(intervals: tuple[IntervalRecord, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in intervals:
        for name, count in record.counts:
            counts[name] = counts.get(name, 0) + count
    return counts
