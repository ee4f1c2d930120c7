"""LoadResult and the lossless merge of per-worker interval samples into it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.recorder import IntervalSample
from hftperf.loadgen.transport import ErrorClass
from hftperf.loadgen.worker import WorkerSummary

__all__ = ["Aggregator", "IntervalRecord", "IntervalReport", "LoadResult", "errors_by_name"]


def errors_by_name(counts: tuple[int, ...] | list[int]) -> dict[str, int]:
    """Error counters indexed by ErrorClass value → ``{"timeout": 3, ...}`` (non-zero only)."""
    return {cls.key: counts[cls] for cls in ErrorClass if counts[cls]}


@dataclass(frozen=True)
class IntervalRecord:
    """One interval merged over all workers, histograms kept encoded (small, picklable)."""

    index: int
    start_s: float
    length_s: float
    sent: int
    ok: int
    errors: dict[str, int]
    latency: str
    schedule_lag: str | None
    latency_out_of_range: int = 0
    lag_out_of_range: int = 0
    server_timing: tuple[tuple[str, str, int], ...] = ()  # (part, encoded histogram, out of range)

    def latency_histogram(self) -> LatencyHistogram:
        """The decoded latency histogram, with its out-of-range count."""
        return LatencyHistogram.decode(self.latency, out_of_range_count=self.latency_out_of_range)


@dataclass(frozen=True)
class IntervalReport:
    """One merged interval with decoded histograms, handed to live progress and log writers."""

    record: IntervalRecord
    latency: LatencyHistogram
    schedule_lag: LatencyHistogram | None
    server_timing: dict[str, LatencyHistogram] = field(default_factory=dict)

    def tagged_histograms(self) -> list[tuple[str | None, LatencyHistogram]]:
        """Every histogram of the interval with its interval-log tag (latency is untagged)."""
        tagged: list[tuple[str | None, LatencyHistogram]] = [(None, self.latency)]
        if self.schedule_lag is not None:
            tagged.append(("schedule_lag", self.schedule_lag))
        tagged += [(f"server_timing.{name}", part) for name, part in self.server_timing.items()]
        return tagged


@dataclass(frozen=True)
class LoadResult:
    """Everything one load run measured (after warm-up)."""

    plan: LoadPlan
    requests: int  # sent during the measured period
    ok: int
    errors: dict[str, int]
    in_flight: int
    not_sent: int  # open loop: due before the end but no connection was free
    warmup_requests: int
    duration_s: float
    latency: LatencyHistogram
    schedule_lag: LatencyHistogram | None
    intervals: tuple[IntervalRecord, ...] = field(repr=False)  # empty unless plan.keep_intervals
    interrupted: bool = False
    server_timing: dict[str, LatencyHistogram] = field(default_factory=dict)  # part → durations (µs)

    @property
    def failed(self) -> int:
        """Requests that ended in an error of any class."""
        return sum(self.errors.values())

    @property
    def throughput_rps(self) -> float:
        """Successful responses per second of measured time."""
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def accounted(self) -> bool:
        """True when sent = ok + failed + in flight holds exactly."""
        return self.requests == self.ok + self.failed + self.in_flight

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``hftperf load --json``."""
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "in_flight": self.in_flight,
            "not_sent": self.not_sent,
            "warmup_requests": self.warmup_requests,
            "duration_s": round(self.duration_s, 6),
            "throughput_rps": round(self.throughput_rps, 3),
            "offered_rate_rps": self.plan.rate_per_s,
            "connections": self.plan.connections,
            "workers": self.plan.workers,
            "latency_us": self.latency.summary_us() if self.latency.total_count else None,
            "schedule_lag_us": (
                self.schedule_lag.summary_us()
                if self.schedule_lag is not None and self.schedule_lag.total_count
                else None
            ),
            "server_timing_us": (
                {name: h.summary_us() for name, h in self.server_timing.items() if h.total_count} or None
            ),
            "out_of_range": self.latency.out_of_range_count,
            "interrupted": self.interrupted,
            "histogram": self.latency.encode(),
        }


def _merged(encoded: list[tuple[str, int]]) -> LatencyHistogram:
    """Decode and add up (encoding, out-of-range count) pairs; needs at least one.

    The first decoded histogram becomes the sum: no empty one to merge into, so each interval
    makes half the large short-lived allocations, which otherwise fragment a long run's heap.
    """
    total: LatencyHistogram | None = None
    for text, out_of_range in encoded:
        part = LatencyHistogram.decode(text, out_of_range_count=out_of_range)
        if total is None:
            total = part
        else:
            total.merge(part)
    assert total is not None
    return total


class Aggregator:
    """Merges interval samples from K workers (in any order) and builds the LoadResult."""

    def __init__(self, plan: LoadPlan, on_interval: Callable[[IntervalReport], None] | None) -> None:
        self.plan = plan
        self.on_interval = on_interval
        self.latency = LatencyHistogram(plan.highest_us)
        self.schedule_lag = LatencyHistogram(plan.highest_us) if plan.open_loop else None
        self._pending: dict[int, list[IntervalSample]] = {}
        self._records: list[IntervalRecord] = []
        self._sent = 0
        self._ok = 0
        self._errors: dict[str, int] = {}
        self.server_timing: dict[str, LatencyHistogram] = {}

    def add(self, sample: IntervalSample) -> None:
        """Take one worker's interval; emit the merged interval once every worker sent it.

        Intervals that not every worker reached (the last, partial one) are merged in ``result``.
        """
        group = self._pending.setdefault(sample.index, [])
        group.append(sample)
        if len(group) == self.plan.workers:
            self._emit(self._pending.pop(sample.index))

    def _emit(self, samples: list[IntervalSample]) -> None:
        latency = _merged([(s.latency, s.latency_out_of_range) for s in samples])
        lag = None
        if self.plan.open_loop:
            lags = [(s.schedule_lag, s.lag_out_of_range) for s in samples if s.schedule_lag is not None]
            lag = _merged(lags) if lags else LatencyHistogram(self.plan.highest_us)
        errors = [0] * len(samples[0].errors)
        for sample in samples:
            errors = [a + b for a, b in zip(errors, sample.errors, strict=True)]
        self.latency.merge(latency)
        if lag is not None and self.schedule_lag is not None:
            self.schedule_lag.merge(lag)
        timing: dict[str, LatencyHistogram] = {}
        for sample in samples:
            for name, encoded, out_of_range in sample.server_timing:
                part = LatencyHistogram.decode(encoded, out_of_range_count=out_of_range)
                if name in timing:
                    timing[name].merge(part)
                else:
                    timing[name] = part
        for name, part in timing.items():
            if name not in self.server_timing:
                self.server_timing[name] = LatencyHistogram(self.plan.highest_us)
            self.server_timing[name].merge(part)
        first = min(samples, key=lambda s: s.start_s)
        record = IntervalRecord(
            index=first.index,
            start_s=first.start_s,
            length_s=max(s.length_s for s in samples),
            sent=sum(s.sent for s in samples),
            ok=sum(s.ok for s in samples),
            errors=errors_by_name(errors),
            latency=latency.encode(),
            schedule_lag=lag.encode() if lag is not None else None,
            latency_out_of_range=latency.out_of_range_count,
            lag_out_of_range=lag.out_of_range_count if lag is not None else 0,
            server_timing=tuple((name, h.encode(), h.out_of_range_count) for name, h in timing.items()),
        )
        if self.plan.keep_intervals:
            self._records.append(record)
        self._sent += record.sent
        self._ok += record.ok
        for name, count in record.errors.items():
            self._errors[name] = self._errors.get(name, 0) + count
        if self.on_interval is not None:
            self.on_interval(IntervalReport(record, latency, lag, timing))

    def result(self, summaries: list[WorkerSummary]) -> LoadResult:
        """Flush what is left and total everything up."""
        for index in sorted(self._pending):
            self._emit(self._pending.pop(index))
        return LoadResult(
            plan=self.plan,
            requests=self._sent,
            ok=self._ok,
            errors=dict(self._errors),
            in_flight=sum(s.in_flight for s in summaries),
            not_sent=sum(s.not_sent for s in summaries),
            warmup_requests=sum(s.warmup_requests for s in summaries),
            duration_s=max((s.measured_s for s in summaries), default=0.0),
            latency=self.latency,
            schedule_lag=self.schedule_lag,
            intervals=tuple(sorted(self._records, key=lambda r: r.index)),
            interrupted=any(s.interrupted for s in summaries),
            server_timing=self.server_timing,
        )
