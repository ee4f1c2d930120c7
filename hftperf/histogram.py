"""HDR latency histogram in integer microseconds: record (out-of-range counted), merge, encode/decode.

A thin wrapper over ``hdrh.histogram.HdrHistogram`` that adds what the load generator needs:
a vectorised ``record_many`` (numpy computes the HDR counts index and adds into hdrh's own
counts array, which is a ctypes array we view without copying), values above the range
clamped *and counted* (never dropped silently), numpy percentiles and mean, and a lossless merge
across different ranges. The encodings (including the older V1 that hdrh cannot decode) are
in :mod:`hftperf.histogram_codec`.
"""

from __future__ import annotations

import array
import math
import sys

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from hftperf.histogram_codec import decode_hdr, encode_hdr

__all__ = ["HIGHEST_US_DEFAULT", "LatencyHistogram"]

HIGHEST_US_DEFAULT = 3_600_000_000  # 1 hour in µs
_LOWEST_US = 1
_SUMMARY_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99_9", 99.9))
IntArray = npt.NDArray[np.int64]


class LatencyHistogram:
    """HDR histogram of integer microsecond values, 3 significant digits, 1 µs .. highest_us."""

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by content

    def __init__(self, highest_us: int = HIGHEST_US_DEFAULT, significant_digits: int = 3) -> None:
        if highest_us < 2 * _LOWEST_US:
            raise ValueError(f"highest_us must be >= 2, got {highest_us}")
        if not 1 <= significant_digits <= 5:
            raise ValueError(f"significant_digits must be 1..5, got {significant_digits}")
        self._attach(HdrHistogram(_LOWEST_US, highest_us, significant_digits))
        self._out_of_range = 0

    def _attach(self, hdr: HdrHistogram) -> None:
        """Adopt ``hdr`` and precompute the index constants of its layout."""
        self._hdr = hdr
        self._counts: npt.NDArray[np.uint64] = np.ctypeslib.as_array(hdr.counts)
        self._highest = int(hdr.highest_trackable_value)
        self._unit_mag = int(hdr.unit_magnitude)
        self._half_mag = int(hdr.sub_bucket_half_count_magnitude)
        self._half = int(hdr.sub_bucket_half_count)
        self._mask = int(hdr.sub_bucket_mask)
        self._bucket_shift = self._unit_mag + self._half_mag + 1
        # values >= limits[k] fall in bucket k + 1 (exclusive upper bounds of buckets 0..n-2)
        sub_count = int(hdr.sub_bucket_count)
        limits = [sub_count << (self._unit_mag + k) for k in range(int(hdr.bucket_count) - 1)]
        self._bucket_limits = np.array([x for x in limits if x <= sys.maxsize], dtype=np.int64)
        # highest value the counts array can hold (a little above highest_trackable_value)
        self._top_value = int(hdr.get_highest_equivalent_value(hdr.get_value_from_index(hdr.counts_len - 1)))

    @classmethod
    def _wrap(cls, hdr: HdrHistogram) -> LatencyHistogram:
        """Wrap an existing hdrh histogram (any layout) without copying."""
        self = cls.__new__(cls)
        self._attach(hdr)
        self._out_of_range = 0
        return self

    # -- recording ------------------------------------------------------------------------

    def record(self, value_us: int) -> None:
        """Record one value; < 0 becomes 0, > highest_us is recorded as highest_us and counted."""
        value = int(value_us)
        if value < 0:
            value = 0
        elif value > self._highest:
            value = self._highest
            self._out_of_range += 1
        # same index arithmetic as hdrh's _counts_index_for, without its per-call overhead;
        # the ctypes array (shared with the numpy view) takes a scalar += faster than numpy
        bucket = (value | self._mask).bit_length() - self._bucket_shift
        hdr = self._hdr
        hdr.counts[((bucket + 1) << self._half_mag) + (value >> (bucket + self._unit_mag)) - self._half] += 1
        hdr.total_count += 1
        # plain ifs, not min()/max(): two builtin calls cost ~15 % of this per-value path
        if value < hdr.min_value:
            hdr.min_value = value
        if value > hdr.max_value:
            hdr.max_value = value

    def record_many(self, values_us: npt.ArrayLike | array.array[int]) -> None:
        """Record many values at once (numpy vectorised); same result as calling record() on each."""
        values = np.asarray(values_us)
        if values.size == 0:
            return
        if values.dtype.kind not in "iu":
            raise TypeError(f"record_many needs integer microseconds, got dtype {values.dtype}")
        if values.dtype.kind == "u":
            values = np.minimum(values, np.uint64(sys.maxsize)).astype(np.int64)
        values = values.reshape(-1).astype(np.int64, copy=False)
        lowest, highest = int(values.min()), int(values.max())
        if lowest < 0 or highest > self._highest:  # rare: clamp only then (np.clip costs ~8 µs)
            if highest > self._highest:
                self._out_of_range += int(np.count_nonzero(values > self._highest))
            values = np.minimum(np.maximum(values, 0), self._highest)
            lowest, highest = max(lowest, 0), min(highest, self._highest)
        counts = np.bincount(self._indices_for(values))
        self._counts[: counts.size] += counts.astype(np.uint64)
        hdr = self._hdr
        hdr.total_count += int(values.size)
        hdr.min_value = min(hdr.min_value, lowest)
        hdr.max_value = max(hdr.max_value, highest)

    def _indices_for(self, values: IntArray) -> IntArray:
        """HDR counts index of each value (all within 0 .. _top_value)."""
        bucket = np.searchsorted(self._bucket_limits, values, side="right").astype(np.int64)
        sub_bucket = values >> (bucket + self._unit_mag)
        result: IntArray = ((bucket + 1) << self._half_mag) + sub_bucket - self._half
        return result

    def _values_from_indices(self, index: IntArray) -> tuple[IntArray, IntArray]:
        """Lowest equivalent value and equivalent-range size of each counts index."""
        bucket = (index >> self._half_mag) - 1
        sub_bucket = (index & (self._half - 1)) + self._half
        first = bucket < 0
        sub_bucket = np.where(first, sub_bucket - self._half, sub_bucket)
        bucket = np.where(first, 0, bucket)
        shift = bucket + self._unit_mag
        return sub_bucket << shift, np.left_shift(np.int64(1), shift)

    # -- combining ------------------------------------------------------------------------

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts into this one; grows this range only if its counts cannot hold them."""
        self._out_of_range += other._out_of_range
        nonzero = np.flatnonzero(other._counts)
        if nonzero.size == 0:
            return
        weights = other._counts[nonzero]
        ohdr = other._hdr
        if self._same_layout(other):  # identical index arithmetic: add position by position
            if nonzero[-1] >= self._counts.size:
                self._grow(other._highest)
            index, low, high = nonzero, int(ohdr.min_value), int(ohdr.max_value)
        else:  # like Java's add(): re-record each bucket's lowest equivalent value
            values = other._values_from_indices(nonzero)[0]
            low, high = int(values[0]), int(values[-1])
            if high > self._top_value:
                self._grow(max(other._highest, high))
            index = self._indices_for(values)
        np.add.at(self._counts, index, weights)
        hdr = self._hdr
        hdr.total_count += int(weights.sum())
        hdr.min_value = min(hdr.min_value, low)
        hdr.max_value = max(hdr.max_value, high)

    def _same_layout(self, other: LatencyHistogram) -> bool:
        return (self._unit_mag, self._half_mag) == (other._unit_mag, other._half_mag)

    def _grow(self, highest: int) -> None:
        """Replace the hdrh histogram by a wider one with the same precision, keeping counts."""
        old = self._hdr
        new = HdrHistogram(old.lowest_trackable_value, highest, old.significant_figures)
        new.int_to_double_conversion_ratio = old.int_to_double_conversion_ratio
        new_counts = np.ctypeslib.as_array(new.counts)
        new_counts[: self._counts.size] = self._counts
        new.total_count, new.min_value, new.max_value = old.total_count, old.min_value, old.max_value
        self._attach(new)

    def copy(self) -> LatencyHistogram:
        """An independent histogram with the same layout and counts."""
        hdr = self._hdr
        twin = HdrHistogram(hdr.lowest_trackable_value, self._highest, hdr.significant_figures)
        twin.int_to_double_conversion_ratio = hdr.int_to_double_conversion_ratio
        np.ctypeslib.as_array(twin.counts)[:] = self._counts
        twin.total_count, twin.min_value, twin.max_value = hdr.total_count, hdr.min_value, hdr.max_value
        result = LatencyHistogram._wrap(twin)
        result._out_of_range = self._out_of_range
        return result

    def reset(self) -> None:
        """Forget every recorded value (keeps the layout)."""
        self._counts[:] = 0
        self._hdr.total_count = 0
        self._hdr.min_value = sys.maxsize
        self._hdr.max_value = 0
        self._out_of_range = 0

    # -- queries --------------------------------------------------------------------------

    @property
    def hdr(self) -> HdrHistogram:
        """The underlying ``hdrh`` histogram (shares counts with this object)."""
        return self._hdr

    @property
    def highest_us(self) -> int:
        """Highest trackable value; larger values are clamped to it and counted."""
        return self._highest

    @property
    def significant_digits(self) -> int:
        """Number of significant decimal digits kept for every value."""
        return int(self._hdr.significant_figures)

    @property
    def total_count(self) -> int:
        """Number of values recorded (including clamped ones)."""
        return int(self._hdr.total_count)

    @property
    def out_of_range_count(self) -> int:
        """Values that exceeded highest_us and were recorded as highest_us."""
        return self._out_of_range

    @property
    def min_us(self) -> int:
        """Lowest recorded value (lowest equivalent of its bucket); 0 when empty."""
        return int(self._hdr.get_min_value()) if self.total_count else 0

    @property
    def max_us(self) -> int:
        """Highest recorded value (highest equivalent of its bucket); 0 when empty."""
        return int(self._hdr.get_max_value()) if self.total_count else 0

    def _weighted_medians(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        nonzero = np.flatnonzero(self._counts)
        lowest, size = self._values_from_indices(nonzero)
        medians = (lowest + (size >> 1)).astype(np.float64)
        return medians, self._counts[nonzero].astype(np.float64)

    def recorded_values(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Each non-empty bucket's midpoint (µs) and its count, in increasing order of value."""
        return self._weighted_medians()

    @property
    def mean_us(self) -> float:
        """Mean of the bucket midpoints (as HdrHistogram computes it); 0.0 when empty."""
        if not self.total_count:
            return 0.0
        medians, weights = self._weighted_medians()
        return float(np.dot(medians, weights) / weights.sum())

    @property
    def stddev_us(self) -> float:
        """Standard deviation of the bucket midpoints; 0.0 when empty."""
        if not self.total_count:
            return 0.0
        medians, weights = self._weighted_medians()
        mean = np.dot(medians, weights) / weights.sum()
        return float(math.sqrt(np.dot((medians - mean) ** 2, weights) / weights.sum()))

    def value_at_percentile(self, percentile: float) -> int:
        """Value at ``percentile`` in [0, 100] (highest equivalent value, as HdrHistogram); 0 if empty."""
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {percentile}")
        total = self.total_count
        if total == 0:
            return 0
        # nextafter: 99 % of 100 must be the 99th value, not the 100th, despite float rounding
        target = max(1, math.ceil(math.nextafter(percentile, -math.inf) / 100.0 * total))
        cumulative = np.cumsum(self._counts, dtype=np.uint64)
        index = int(np.searchsorted(cumulative, min(target, total), side="left"))
        lowest, size = self._values_from_indices(np.array([index], dtype=np.int64))
        if percentile == 0.0:
            return int(lowest[0])
        return int(lowest[0] + size[0] - 1)

    def summary_us(self) -> dict[str, float]:
        """The public summary: p50, p90, p99, p99_9, max and mean, all in µs as floats."""
        summary = {key: float(self.value_at_percentile(p)) for key, p in _SUMMARY_PERCENTILES}
        summary["max"] = float(self.max_us)
        summary["mean"] = self.mean_us
        return summary

    def __eq__(self, other: object) -> bool:
        """Same layout and same counts (out_of_range_count is not part of the comparison)."""
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        if not self._same_layout(other):
            return False
        size = max(self._counts.size, other._counts.size)
        mine = np.zeros(size, dtype=np.uint64)
        theirs = np.zeros(size, dtype=np.uint64)
        mine[: self._counts.size] = self._counts
        theirs[: other._counts.size] = other._counts
        return bool(np.array_equal(mine, theirs))

    def __repr__(self) -> str:
        return (
            f"LatencyHistogram(total_count={self.total_count}, min_us={self.min_us}, "
            f"max_us={self.max_us}, out_of_range_count={self.out_of_range_count})"
        )

    # -- encoding -------------------------------------------------------------------------

    def encode(self) -> str:
        """Base64 compressed V2 encoding ('HISTFAAA…'), as ``HdrHistogram.encode()`` gives."""
        return encode_hdr(self._hdr)

    @classmethod
    def decode(cls, text: str, out_of_range_count: int = 0) -> LatencyHistogram:
        """Decode a base64 compressed V2 ('HISTFAAA…') or V1 ('HISTggAA…') histogram.

        The HDR encoding has no field for ``out_of_range_count``: whoever ships an encoded
        histogram must carry that count beside it and pass it back here.
        """
        if out_of_range_count < 0:
            raise ValueError(f"out_of_range_count must be >= 0, got {out_of_range_count}")
        result = cls._wrap(decode_hdr(text))
        result._out_of_range = out_of_range_count
        return result
