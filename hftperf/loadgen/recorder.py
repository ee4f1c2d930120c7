"""Per-interval recording: latency, pacer-lag and connection-wait histograms plus counters.

The hot path appends raw nanosecond values to a preallocated-growth ``array('q')`` (one C
call per request); once per interval the buffer goes into an HDR histogram in one vectorised
step and is emptied. Memory is bounded by one interval's traffic, never by the run length.

Open loop splits the gap between a request's intended and actual send in two: the
*connection wait* (due, but every connection was busy: the target's saturation, real latency
a client sees) and the *pacer lag* (a connection was free, the load generator woke late: the
instrument's own error). Their sum is what older versions recorded as ``schedule_lag``.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.stages import StageSample, StageTally
from hftperf.loadgen.transport import ErrorClass

__all__ = ["ERROR_SLOTS", "IntervalSample", "Recorder"]

ERROR_SLOTS = max(ErrorClass) + 1  # error counters are indexed by ErrorClass value


@dataclass(frozen=True)
class IntervalSample:
    """What one worker measured in one interval: one picklable value (histograms encoded).

    An executor ships it from worker to parent as it is; nothing else crosses per interval.
    """

    index: int
    start_s: float  # offset of the interval from the end of warm-up
    length_s: float
    sent: int
    ok: int
    errors: tuple[int, ...]  # indexed by ErrorClass value; index 0 is unused
    latency: str  # encoded LatencyHistogram of responses (µs, from intended send), censored values included
    pacer_lag: str | None  # open loop: actual send minus max(intended, a connection came free)
    connection_wait: str | None  # open loop: time a due request waited for a free connection (0 if none)
    latency_out_of_range: int = 0  # the HDR encoding cannot carry this count: it travels here
    lag_out_of_range: int = 0
    wait_out_of_range: int = 0
    connection_waits: int = 0  # requests that waited for a connection (wait > 0)
    censored: int = 0  # latency values that are lower bounds (unanswered or never sent at the cut-off)
    cpu_s: float = 0.0  # user + system CPU of the worker's process during the interval
    load_1m: float | None = None  # the machine's 1-minute load average at the end of the interval
    steal_share: float | None = None  # the machine's CPU time the hypervisor withheld in the interval (0..1)
    # Server-Timing parts of successful responses: name → (encoded histogram, out of range)
    server_timing: tuple[tuple[str, str, int], ...] = ()
    # Latency of successful responses per operation of a flow (submit.limit, cancel, ...), like server_timing
    operations: tuple[tuple[str, str, int], ...] = ()
    # The request source's counters of the interval (sent per operation, outcomes, ...)
    counts: tuple[tuple[str, int], ...] = ()
    # Stepped schedules: each stage's counts and latency, by the stage of each request's intended time
    stages: tuple[StageSample, ...] = ()


class Recorder:
    """Collects one worker's measurements and cuts them into interval samples."""

    __slots__ = ("_lag", "_latency", "_open_loop", "_wait", "censored", "errors", "lag_ns", "latency_ns", "ok",
                 "operations_ns", "sent", "server_timing_ns", "stages", "wait_ns")

    def __init__(self, open_loop: bool, highest_us: int, stages: int = 0) -> None:
        self.latency_ns = array("q")  # raw values, appended on the hot path
        self.lag_ns = array("q")
        self.wait_ns = array("q")  # only requests that waited: one lag entry each, too
        self.sent = 0
        self.ok = 0
        self.censored = 0
        self.errors = [0] * ERROR_SLOTS
        self.server_timing_ns: dict[str, array] = {}  # filled only when Server-Timing is captured
        self.operations_ns: dict[str, array] = {}  # filled only when the request source tags operations
        self.stages = [StageTally() for _ in range(stages)]  # stepped schedules only
        self._open_loop = open_loop
        self._latency = LatencyHistogram(highest_us)
        self._lag = LatencyHistogram(highest_us)
        self._wait = LatencyHistogram(highest_us)

    def rotate(self, index: int, start_s: float, length_s: float, cpu_s: float = 0.0,
               load_1m: float | None = None, counts: dict[str, int] | None = None,
               steal_share: float | None = None) -> IntervalSample:
        """Close the current interval: fold the buffers into histograms and reset the counters."""
        lag_encoded = wait_encoded = None
        waited = len(self.wait_ns)
        if self._open_loop:
            # Every sent request has a lag entry; those without a wait entry waited 0 (recorded
            # here in one call rather than appended on the hot path).
            no_wait = len(self.lag_ns) - waited
            lag_encoded = _encoded(self.lag_ns, self._lag)
            self._wait.reset()
            _flush(self.wait_ns, self._wait)
            if no_wait > 0:
                self._wait.hdr.record_value(0, no_wait)
            wait_encoded = self._wait.encode()
        timing = []
        for name, buffer_ns in self.server_timing_ns.items():
            text = _encoded(buffer_ns, self._latency)
            timing.append((name, text, self._latency.out_of_range_count))
        operations = []
        for name, buffer_ns in self.operations_ns.items():
            text = _encoded(buffer_ns, self._latency)
            operations.append((name, text, self._latency.out_of_range_count))
        sample = IntervalSample(
            index=index,
            start_s=start_s,
            length_s=length_s,
            sent=self.sent,
            ok=self.ok,
            errors=tuple(self.errors),
            latency=_encoded(self.latency_ns, self._latency),
            pacer_lag=lag_encoded,
            connection_wait=wait_encoded,
            latency_out_of_range=self._latency.out_of_range_count,
            lag_out_of_range=self._lag.out_of_range_count if self._open_loop else 0,
            wait_out_of_range=self._wait.out_of_range_count if self._open_loop else 0,
            connection_waits=waited,
            censored=self.censored,
            cpu_s=cpu_s,
            load_1m=load_1m,
            steal_share=steal_share,
            server_timing=tuple(timing),
            operations=tuple(operations),
            counts=tuple(sorted((counts or {}).items())),
            stages=tuple(tally.take(i, self._latency) for i, tally in enumerate(self.stages) if tally.busy()),
        )
        self.sent = self.ok = self.censored = 0
        self.errors = [0] * ERROR_SLOTS
        return sample


def _encoded(buffer_ns: array, histogram: LatencyHistogram) -> str:
    """Reset ``histogram``, fill it from the buffer (emptied), return its encoding."""
    histogram.reset()
    _flush(buffer_ns, histogram)
    return histogram.encode()


def _flush(buffer_ns: array, histogram: LatencyHistogram) -> None:
    """Record the buffered nanosecond values in microseconds and empty the buffer."""
    if not buffer_ns:
        return
    values_us = np.frombuffer(buffer_ns, dtype=np.int64) // 1000
    histogram.record_many(values_us)
    del values_us  # release the buffer export before resizing the array
    del buffer_ns[:]
