"""LoadResult and the lossless merge of per-worker interval samples into it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.recorder import IntervalSample
from hftperf.loadgen.stages import StageResult, StageTotals, stage_results
from hftperf.loadgen.transport import ErrorClass
from hftperf.loadgen.worker_summary import WorkerSummary

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
    pacer_lag: str | None
    connection_wait: str | None
    latency_out_of_range: int = 0
    lag_out_of_range: int = 0
    wait_out_of_range: int = 0
    connection_waits: int = 0
    censored: int = 0
    cpu_s: float = 0.0  # summed over the workers' processes
    load_1m: float | None = None  # the highest any worker saw
    steal_share: float | None = None  # the machine's CPU steal in the interval, the highest any worker saw
    server_timing: tuple[tuple[str, str, int], ...] = ()  # (part, encoded histogram, out of range)
    operations: tuple[tuple[str, str, int], ...] = ()  # (operation, encoded histogram, out of range)
    counts: tuple[tuple[str, int], ...] = ()  # the request source's counters, summed over workers

    def latency_histogram(self) -> LatencyHistogram:
        """The decoded latency histogram, with its out-of-range count."""
        return LatencyHistogram.decode(self.latency, out_of_range_count=self.latency_out_of_range)


@dataclass(frozen=True)
class IntervalReport:
    """One merged interval with decoded histograms, handed to live progress and log writers."""

    record: IntervalRecord
    latency: LatencyHistogram
    pacer_lag: LatencyHistogram | None
    connection_wait: LatencyHistogram | None = None
    server_timing: dict[str, LatencyHistogram] = field(default_factory=dict)
    operations: dict[str, LatencyHistogram] = field(default_factory=dict)

    def tagged_histograms(self) -> list[tuple[str | None, LatencyHistogram]]:
        """Every histogram of the interval with its interval-log tag (latency is untagged)."""
        tagged: list[tuple[str | None, LatencyHistogram]] = [(None, self.latency)]
        if self.pacer_lag is not None:
            tagged.append(("pacer_lag", self.pacer_lag))
        if self.connection_wait is not None:
            tagged.append(("connection_wait", self.connection_wait))
        tagged += [(f"server_timing.{name}", part) for name, part in self.server_timing.items()]
        tagged += [(f"op.{name}", part) for name, part in self.operations.items()]
        return tagged


@dataclass(frozen=True)
class LoadResult:
    """Everything one load run measured (after warm-up)."""

    plan: LoadPlan
    requests: int  # closed loop: sent; open loop: due in the measured period (sent + not_sent)
    ok: int
    errors: dict[str, int]  # open loop: includes not_sent, and timeout for those unanswered at the end
    in_flight: int  # unanswered at the end: closed loop or interrupted only (open loop censors them)
    warmup_requests: int
    duration_s: float
    latency: LatencyHistogram  # ok responses, plus censored lower bounds (open loop)
    pacer_lag: LatencyHistogram | None  # open loop: the load generator woke late (its own error)
    connection_wait: LatencyHistogram | None  # open loop: due but every connection busy (the target)
    intervals: tuple[IntervalRecord, ...] = field(repr=False)  # empty unless plan.keep_intervals
    interrupted: bool = False
    server_timing: dict[str, LatencyHistogram] = field(default_factory=dict)  # part → durations (µs)
    operations: dict[str, LatencyHistogram] = field(default_factory=dict)  # a flow's operation → latency (µs)
    counts: dict[str, int] = field(default_factory=dict)  # the request source's counters (sent per operation, ...)
    connection_waits: int = 0  # requests that waited for a connection
    censored: int = 0  # latency values that are lower bounds (unanswered or never sent at the cut-off)
    drain_s: float = 0.0  # time after the measured period spent on the backlog and last answers
    cpu_s: float = 0.0  # user + system CPU of the load generator's worker processes
    load_1m_max: float | None = None  # the machine's highest 1-minute load average seen
    steal_share_max: float | None = None  # the machine's highest CPU steal share of an interval (0..1)

    @property
    def not_sent(self) -> int:
        """Open loop: requests due in the measured period that never went out."""
        return self.errors.get("not_sent", 0)

    @property
    def sent(self) -> int:
        """Requests actually sent in the measured period."""
        return self.requests - self.not_sent

    @property
    def cpu_core_share(self) -> float:
        """The load generator's CPU as a share of one core over the whole run."""
        span_s = self.duration_s + self.drain_s
        return self.cpu_s / span_s if span_s > 0 else 0.0
    # Cluster runs only: the executor ("local:2", "tcp://..."), each load worker's environment and
    # clock offset, and the workers lost mid-run (their unsent share is counted in not_sent).
    executor: str = "local"
    load_workers: tuple[dict[str, Any], ...] = ()
    lost_workers: tuple[dict[str, Any], ...] = ()
    # Stepped schedules: per stage, by intended time (see hftperf.loadgen.stages)
    stages: tuple[StageResult, ...] = ()

    @property
    def not_sent_worker_lost(self) -> int:
        """Requests that lost load workers were due to send (part of ``not_sent``)."""
        return sum(int(lost["not_sent"]) for lost in self.lost_workers)

    def cluster_figures(self) -> dict[str, Any]:
        """The cluster's keys of result figures and ``--json`` (empty for local processes)."""
        if self.executor == "local":
            return {}
        return {
            "executor": self.executor,
            # per-worker counts of the whole run; a stage's view has none (they cannot be split by stage)
            **({"load_workers": [dict(worker) for worker in self.load_workers]} if self.load_workers else {}),
            "lost_workers": [dict(lost) for lost in self.lost_workers],
            "not_sent_by_reason": {"no idle connection": self.not_sent - self.not_sent_worker_lost,
                                   "worker lost": self.not_sent_worker_lost},
        }

    @property
    def failed(self) -> int:
        """Requests that ended in an error of any class."""
        return sum(self.errors.values())

    @property
    def throughput_rps(self) -> float:
        """Successful responses per second of measured time plus drain (the backlog's answers take time too)."""
        span_s = self.duration_s + self.drain_s
        return self.ok / span_s if span_s > 0 else 0.0

    @property
    def accounted(self) -> bool:
        """True when requests = ok + failed + in flight holds exactly (not_sent is a failure)."""
        return self.requests == self.ok + self.failed + self.in_flight

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape of ``hftperf load --json``."""
        return {
            "requests": self.requests,
            "sent": self.sent,
            "ok": self.ok,
            "errors": dict(self.errors),
            "in_flight": self.in_flight,
            "not_sent": self.not_sent,
            "warmup_requests": self.warmup_requests,
            "duration_s": round(self.duration_s, 6),
            "throughput_rps": round(self.throughput_rps, 3),
            "offered_rate_rps": self.plan.offered_rate_per_s,
            "connections": self.plan.connections,
            "workers": self.plan.workers,
            "latency_us": self.latency.summary_us() if self.latency.total_count else None,
            "pacer_lag_us": _summary(self.pacer_lag),
            "connection_wait_us": _summary(self.connection_wait),
            "connection_waits": self.connection_waits,
            "censored": self.censored,
            "drain_s": round(self.drain_s, 6),
            "loadgen_cpu_s": round(self.cpu_s, 6),
            "loadgen_cpu_share": round(self.cpu_core_share, 4),
            "load_1m_max": self.load_1m_max,
            "steal_share_max": None if self.steal_share_max is None else round(self.steal_share_max, 4),
            "server_timing_us": (
                {name: h.summary_us() for name, h in self.server_timing.items() if h.total_count} or None
            ),
            "operations_us": {name: h.summary_us() for name, h in self.operations.items() if h.total_count} or None,
            "counts": dict(self.counts) or None,
            "out_of_range": self.latency.out_of_range_count,
            "interrupted": self.interrupted,
            "histogram": self.latency.encode(),
            **self.cluster_figures(),
            **({"stages": [stage.to_dict() for stage in self.stages]} if self.stages else {}),
        }


def _summary(histogram: LatencyHistogram | None) -> dict[str, float] | None:
    return histogram.summary_us() if histogram is not None and histogram.total_count else None


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

    def __init__(self, plan: LoadPlan, on_interval: Callable[[IntervalReport], None] | None,
                 finish_when: Callable[[tuple[StageResult, ...]], bool] | None = None) -> None:
        self.plan = plan
        self.on_interval = on_interval
        self.finish_when = finish_when  # stepped plans: asked the stages so far after each interval
        self.finish_requested = False  # the executor ends the schedule early when set
        self.latency = LatencyHistogram(plan.highest_us)
        self.pacer_lag = LatencyHistogram(plan.highest_us) if plan.open_loop else None
        self.connection_wait = LatencyHistogram(plan.highest_us) if plan.open_loop else None
        self._pending: dict[int, list[IntervalSample]] = {}
        self._records: list[IntervalRecord] = []
        self._sent = 0
        self._ok = 0
        self._errors: dict[str, int] = {}
        self._connection_waits = 0
        self._censored = 0
        self._cpu_s = 0.0
        self._load_1m_max: float | None = None
        self._steal_max: float | None = None
        self.server_timing: dict[str, LatencyHistogram] = {}
        self.operations: dict[str, LatencyHistogram] = {}
        self.counts: dict[str, int] = {}
        self._stages: dict[int, StageTotals] = {}

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
        lag = wait = None
        if self.plan.open_loop:
            lag = self._merged_or_empty([(s.pacer_lag, s.lag_out_of_range) for s in samples])
            wait = self._merged_or_empty([(s.connection_wait, s.wait_out_of_range) for s in samples])
        errors = [0] * len(samples[0].errors)
        for sample in samples:
            errors = [a + b for a, b in zip(errors, sample.errors, strict=True)]
        self.latency.merge(latency)
        if lag is not None and self.pacer_lag is not None:
            self.pacer_lag.merge(lag)
        if wait is not None and self.connection_wait is not None:
            self.connection_wait.merge(wait)
        timing = self._merge_named([s.server_timing for s in samples], self.server_timing)
        operations = self._merge_named([s.operations for s in samples], self.operations)
        counts: dict[str, int] = {}
        for sample in samples:
            for name, count in sample.counts:
                counts[name] = counts.get(name, 0) + count
        for name, count in counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for sample in samples:
            for stage in sample.stages:
                if stage.index not in self._stages:
                    self._stages[stage.index] = StageTotals(LatencyHistogram(self.plan.highest_us))
                self._stages[stage.index].add(stage)
        if self.finish_when is not None and self.plan.stages and not self.finish_requested:
            self.finish_requested = self.finish_when(self.stage_results())
        first = min(samples, key=lambda s: s.start_s)
        loads = [s.load_1m for s in samples if s.load_1m is not None]
        steals = [steal for s in samples if (steal := getattr(s, "steal_share", None)) is not None]
        record = IntervalRecord(
            index=first.index,
            start_s=first.start_s,
            length_s=max(s.length_s for s in samples),
            sent=sum(s.sent for s in samples),
            ok=sum(s.ok for s in samples),
            errors=errors_by_name(errors),
            latency=latency.encode(),
            pacer_lag=lag.encode() if lag is not None else None,
            connection_wait=wait.encode() if wait is not None else None,
            latency_out_of_range=latency.out_of_range_count,
            lag_out_of_range=lag.out_of_range_count if lag is not None else 0,
            wait_out_of_range=wait.out_of_range_count if wait is not None else 0,
            connection_waits=sum(s.connection_waits for s in samples),
            censored=sum(s.censored for s in samples),
            cpu_s=sum(s.cpu_s for s in samples),
            load_1m=max(loads) if loads else None,
            steal_share=max(steals) if steals else None,
            server_timing=tuple((name, h.encode(), h.out_of_range_count) for name, h in timing.items()),
            operations=tuple((name, h.encode(), h.out_of_range_count) for name, h in operations.items()),
            counts=tuple(sorted(counts.items())),
        )
        if self.plan.keep_intervals:
            self._records.append(record)
        self._sent += record.sent
        self._ok += record.ok
        for name, count in record.errors.items():
            self._errors[name] = self._errors.get(name, 0) + count
        self._connection_waits += record.connection_waits
        self._censored += record.censored
        self._cpu_s += record.cpu_s
        if record.load_1m is not None:
            self._load_1m_max = max(record.load_1m, self._load_1m_max or 0.0)
        if record.steal_share is not None:
            self._steal_max = max(record.steal_share, self._steal_max or 0.0)
        if self.on_interval is not None:
            self.on_interval(IntervalReport(record, latency, lag, wait, timing, operations))

    def _merge_named(self, per_sample: list[tuple[tuple[str, str, int], ...]],
                     totals: dict[str, LatencyHistogram]) -> dict[str, LatencyHistogram]:
        """Named histograms (Server-Timing parts, operations) of one interval, added to the run's totals."""
        merged: dict[str, LatencyHistogram] = {}
        for named in per_sample:
            for name, encoded, out_of_range in named:
                part = LatencyHistogram.decode(encoded, out_of_range_count=out_of_range)
                if name in merged:
                    merged[name].merge(part)
                else:
                    merged[name] = part
        for name, part in merged.items():
            if name not in totals:
                totals[name] = LatencyHistogram(self.plan.highest_us)
            totals[name].merge(part)
        return merged

    def stage_results(self) -> tuple[StageResult, ...]:
        """The stages as merged so far (complete once the run is over)."""
        return stage_results(self.plan.stages, self._stages, self.plan.highest_us)

    def _merged_or_empty(self, encoded: list[tuple[str | None, int]]) -> LatencyHistogram:
        present = [(text, out_of_range) for text, out_of_range in encoded if text is not None]
        return _merged(present) if present else LatencyHistogram(self.plan.highest_us)

    def result(self, summaries: list[WorkerSummary]) -> LoadResult:
        """Flush what is left and total everything up."""
        for index in sorted(self._pending):
            self._emit(self._pending.pop(index))
        return LoadResult(
            plan=self.plan,
            requests=self._sent + self._errors.get(ErrorClass.NOT_SENT.key, 0),
            ok=self._ok,
            errors=dict(self._errors),
            in_flight=sum(s.in_flight for s in summaries),
            warmup_requests=sum(s.warmup_requests for s in summaries),
            duration_s=max((s.measured_s for s in summaries), default=0.0),
            latency=self.latency,
            pacer_lag=self.pacer_lag,
            connection_wait=self.connection_wait,
            intervals=tuple(sorted(self._records, key=lambda r: r.index)),
            interrupted=any(s.interrupted for s in summaries),
            server_timing=self.server_timing,
            operations=self.operations,
            counts=dict(self.counts),
            connection_waits=self._connection_waits,
            censored=self._censored,
            drain_s=max((s.drain_s for s in summaries), default=0.0),
            cpu_s=self._cpu_s,
            load_1m_max=self._load_1m_max,
            steal_share_max=self._steal_max,
            stages=self.stage_results() if self.plan.stages else (),
        )
