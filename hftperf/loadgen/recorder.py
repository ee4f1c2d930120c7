"""Per-interval recording: latency and schedule-lag histograms plus request counters.

The hot path appends raw nanosecond values to a preallocated-growth ``array('q')`` (one C
call per request); once per interval the buffer goes into an HDR histogram in one vectorised
step and is emptied. Memory is bounded by one interval's traffic, never by the run length.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.transport import ErrorClass

__all__ = ["ERROR_SLOTS", "IntervalSample", "Recorder"]

ERROR_SLOTS = max(ErrorClass) + 1  # error counters are indexed by ErrorClass value


@dataclass(frozen=True)
class IntervalSample:
    """What one worker measured in one interval; histograms are encoded so it pickles small."""

    index: int
    start_s: float  # offset of the interval from the end of warm-up
    length_s: float
    sent: int
    ok: int
    errors: tuple[int, ...]  # indexed by ErrorClass value; index 0 is unused
    latency: str  # encoded LatencyHistogram of successful responses (µs, from intended send)
    schedule_lag: str | None  # encoded LatencyHistogram of actual minus intended send (open loop)
    latency_out_of_range: int = 0  # the HDR encoding cannot carry this count: it travels here
    lag_out_of_range: int = 0
    # Server-Timing parts of successful responses: name → (encoded histogram, out of range)
    server_timing: tuple[tuple[str, str, int], ...] = ()


class Recorder:
    """Collects one worker's measurements and cuts them into interval samples."""

    __slots__ = ("_lag", "_latency", "_open_loop", "errors", "lag_ns", "latency_ns", "ok", "sent", "server_timing_ns")

    def __init__(self, open_loop: bool, highest_us: int) -> None:
        self.latency_ns = array("q")  # raw values, appended on the hot path
        self.lag_ns = array("q")
        self.sent = 0
        self.ok = 0
        self.errors = [0] * ERROR_SLOTS
        self.server_timing_ns: dict[str, array] = {}  # filled only when Server-Timing is captured
        self._open_loop = open_loop
        self._latency = LatencyHistogram(highest_us)
        self._lag = LatencyHistogram(highest_us)

    def rotate(self, index: int, start_s: float, length_s: float) -> IntervalSample:
        """Close the current interval: fold the buffers into histograms and reset the counters."""
        lag_encoded: str | None = None
        if self._open_loop:
            self._lag.reset()
            _flush(self.lag_ns, self._lag)
            lag_encoded = self._lag.encode()
        timing = []
        for name, buffer_ns in self.server_timing_ns.items():
            self._latency.reset()
            _flush(buffer_ns, self._latency)
            timing.append((name, self._latency.encode(), self._latency.out_of_range_count))
        self._latency.reset()
        _flush(self.latency_ns, self._latency)
        sample = IntervalSample(
            index=index,
            start_s=start_s,
            length_s=length_s,
            sent=self.sent,
            ok=self.ok,
            errors=tuple(self.errors),
            latency=self._latency.encode(),
            schedule_lag=lag_encoded,
            latency_out_of_range=self._latency.out_of_range_count,
            lag_out_of_range=self._lag.out_of_range_count if self._open_loop else 0,
            server_timing=tuple(timing),
        )
        self.sent = 0
        self.ok = 0
        self.errors = [0] * ERROR_SLOTS
        return sample


def _flush(buffer_ns: array, histogram: LatencyHistogram) -> None:
    """Record the buffered nanosecond values in microseconds and empty the buffer."""
    if not buffer_ns:
        return
    values_us = np.frombuffer(buffer_ns, dtype=np.int64) // 1000
    histogram.record_many(values_us)
    del values_us  # release the buffer export before resizing the array
    del buffer_ns[:]
