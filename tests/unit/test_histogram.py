"""LatencyHistogram: vectorised recording, out-of-range accounting, merge, percentiles, codecs."""

from __future__ import annotations

import array
import base64
import math
import struct
import zlib
from fractions import Fraction

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from hftperf.errors import DataError
from hftperf.histogram import HIGHEST_US_DEFAULT, LatencyHistogram

SUMMARY_KEYS = {"p50", "p90", "p99", "p99_9", "max", "mean"}
PERCENTILES = (0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0)


def latency_sample(n: int, seed: int) -> np.ndarray:
    """Log-normal microsecond latencies spanning 1 µs .. seconds, as int64."""
    rng = np.random.default_rng(seed)
    return np.maximum(rng.lognormal(mean=6.0, sigma=2.0, size=n), 1).astype(np.int64)


EDGE_VALUES = np.array(
    [0, 1, 2, 1023, 1024, 2047, 2048, 2049, -1, -(2**40), HIGHEST_US_DEFAULT,
     HIGHEST_US_DEFAULT + 1, 10**12, 2**62, 2**63 - 1],
    dtype=np.int64,
)  # fmt: skip


def looped(values: np.ndarray, **kwargs: int) -> LatencyHistogram:
    histogram = LatencyHistogram(**kwargs)
    for value in values.tolist():
        histogram.record(value)
    return histogram


# -- record / record_many ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_record_many_equals_loop_of_record(seed: int) -> None:
    values = np.concatenate([latency_sample(5_000, seed), EDGE_VALUES])
    np.random.default_rng(seed).shuffle(values)
    bulk = LatencyHistogram()
    bulk.record_many(values[:1000])
    bulk.record_many(values[1000:])
    single = looped(values)
    assert bulk == single
    assert bulk.total_count == single.total_count == values.size
    assert bulk.out_of_range_count == single.out_of_range_count == 4
    assert (bulk.hdr.min_value, bulk.hdr.max_value) == (single.hdr.min_value, single.hdr.max_value)
    assert (bulk.min_us, bulk.max_us) == (single.min_us, single.max_us) == (0, single.hdr.get_max_value())
    assert bulk.summary_us() == single.summary_us()


def test_record_matches_hdrh_record_value() -> None:
    values = np.concatenate([latency_sample(3_000, 7), [0, 1, HIGHEST_US_DEFAULT]])
    ours = LatencyHistogram()
    ours.record_many(values)
    reference = HdrHistogram(1, HIGHEST_US_DEFAULT, 3)
    for value in values.tolist():
        reference.record_value(value)
    assert np.array_equal(np.ctypeslib.as_array(reference.counts), np.ctypeslib.as_array(ours.hdr.counts))
    assert ours.total_count == reference.total_count
    assert ours.max_us == reference.get_max_value()
    assert ours.mean_us == pytest.approx(reference.get_mean_value(), rel=1e-12)
    assert ours.stddev_us == pytest.approx(reference.get_stddev(), rel=1e-9)
    for percentile in PERCENTILES[1:]:
        assert ours.value_at_percentile(percentile) == reference.get_value_at_percentile(percentile)


@pytest.mark.parametrize("highest_us", [1000, 123_457, HIGHEST_US_DEFAULT])
@pytest.mark.parametrize("digits", [1, 2, 3, 4])
def test_record_many_equals_loop_for_other_layouts(highest_us: int, digits: int) -> None:
    rng = np.random.default_rng(highest_us + digits)
    values = rng.integers(-10, highest_us * 2, size=2_000)
    bulk = LatencyHistogram(highest_us, digits)
    bulk.record_many(values)
    single = looped(values, highest_us=highest_us, significant_digits=digits)
    assert bulk == single
    assert bulk.out_of_range_count == single.out_of_range_count == int(np.count_nonzero(values > highest_us))


@pytest.mark.parametrize(
    "container",
    [
        lambda v: array.array("q", v.tolist()),
        lambda v: v.tolist(),
        lambda v: v.astype(np.int32),
        lambda v: v.astype(np.uint64),
        lambda v: v.reshape(2, -1),
    ],
    ids=["array.array", "list", "int32", "uint64", "2d"],
)
def test_record_many_accepts_integer_containers(container: object) -> None:
    values = latency_sample(1_000, 11)
    histogram = LatencyHistogram()
    histogram.record_many(container(values))  # type: ignore[operator]
    assert histogram == looped(values)


def test_record_many_refuses_floats_and_ignores_empty() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(np.array([], dtype=np.int64))
    histogram.record_many(array.array("q"))
    assert histogram.total_count == 0
    with pytest.raises(TypeError):
        histogram.record_many(np.array([1.5, 2.0]))


def test_out_of_range_values_are_clamped_and_counted_negative_become_zero() -> None:
    histogram = LatencyHistogram(highest_us=10_000)
    histogram.record(10_000)
    histogram.record(10_001)
    histogram.record_many(np.array([-5, 5, 10**9, 2**63 - 1]))
    assert histogram.total_count == 6
    assert histogram.out_of_range_count == 3
    assert histogram.value_at_percentile(0) == 0  # the negative value, recorded as 0
    top = histogram.hdr.get_highest_equivalent_value(10_000)
    assert histogram.max_us == top
    assert histogram.value_at_percentile(40) == top  # everything from the 3rd value on is "10 ms"


def test_empty_histogram_figures_are_zero() -> None:
    histogram = LatencyHistogram()
    assert (histogram.total_count, histogram.min_us, histogram.max_us) == (0, 0, 0)
    assert (histogram.mean_us, histogram.stddev_us) == (0.0, 0.0)
    assert histogram.value_at_percentile(99) == 0
    assert histogram.summary_us() == dict.fromkeys(SUMMARY_KEYS, 0.0)


def test_constructor_and_percentile_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        LatencyHistogram(highest_us=1)
    with pytest.raises(ValueError):
        LatencyHistogram(significant_digits=6)
    with pytest.raises(ValueError):
        LatencyHistogram().value_at_percentile(100.5)


# -- statistics ---------------------------------------------------------------------------


def test_percentiles_within_hdr_precision_of_numpy() -> None:
    values = latency_sample(50_000, 5)
    histogram = LatencyHistogram()
    histogram.record_many(values)
    ordered = np.sort(values)
    for percentile in PERCENTILES:
        # the exact order statistic; np.percentile(method="inverted_cdf") is off by one rank at
        # 99.9 % of 50 000 because 99.9 / 100 * 50 000 is 49950.00000000001 in floating point
        rank = max(1, math.ceil(Fraction(str(percentile)) / 100 * values.size))
        exact = float(ordered[rank - 1])
        got = histogram.value_at_percentile(percentile)
        if percentile == 0.0:  # lowest equivalent value of the minimum
            assert exact * (1 - 1e-3) - 1 <= got <= exact
        else:  # highest equivalent value of the exact order statistic
            assert exact <= got <= exact * (1 + 1e-3) + 1, percentile
    assert histogram.mean_us == pytest.approx(values.mean(), rel=1e-3)
    assert histogram.stddev_us == pytest.approx(values.std(), rel=1e-3)
    assert histogram.min_us == values.min()
    assert values.max() <= histogram.max_us <= values.max() * (1 + 1e-3)


def test_percentile_rank_is_not_disturbed_by_float_rounding() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(np.arange(1, 101))
    assert histogram.value_at_percentile(99) == 99  # 0.99 * 100 must not round up to the 100th
    assert histogram.value_at_percentile(50) == 50
    assert histogram.value_at_percentile(0.001) == 1


def test_summary_has_exactly_the_public_keys_as_floats() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(latency_sample(1_000, 9))
    summary = histogram.summary_us()
    assert set(summary) == SUMMARY_KEYS
    assert all(type(value) is float for value in summary.values())
    assert summary["p50"] <= summary["p90"] <= summary["p99"] <= summary["p99_9"] <= summary["max"]
    assert summary["p99_9"] == histogram.value_at_percentile(99.9)


# -- merge / copy / reset -----------------------------------------------------------------


def test_merge_of_k_histograms_equals_one_histogram_of_all_samples() -> None:
    parts = [np.concatenate([latency_sample(2_000, seed), EDGE_VALUES[seed::5]]) for seed in range(6)]
    merged = LatencyHistogram()
    for part in parts:
        histogram = LatencyHistogram()
        histogram.record_many(part)
        merged.merge(histogram)
    everything = LatencyHistogram()
    everything.record_many(np.concatenate(parts))
    assert merged == everything
    assert merged.total_count == everything.total_count
    assert merged.out_of_range_count == everything.out_of_range_count > 0
    assert merged.summary_us() == everything.summary_us()
    assert (merged.min_us, merged.max_us) == (everything.min_us, everything.max_us)
    assert merged.highest_us == HIGHEST_US_DEFAULT  # clamped top values need no wider range


def test_merge_keeps_values_the_counts_array_holds_above_highest() -> None:
    narrow, wider = LatencyHistogram(highest_us=100_000), LatencyHistogram(highest_us=131_000)
    wider.record(120_000)  # above narrow's highest, but inside its last bucket: no growth needed
    narrow.merge(wider)
    assert narrow.highest_us == 100_000 and narrow.max_us >= 120_000
    assert LatencyHistogram.decode(narrow.encode()).total_count == 1  # not cut off by encode()


def test_merge_across_different_highest_is_lossless() -> None:
    small_range, wide_range = LatencyHistogram(highest_us=100_000), LatencyHistogram()
    small_range.record_many(np.array([5, 50_000, 100_001]))
    wide_range.record_many(np.array([7, 2_000_000_000]))
    into_small = small_range.copy()
    into_small.merge(wide_range)  # must grow, not clamp, the 2e9 value
    into_wide = wide_range.copy()
    into_wide.merge(small_range)
    assert into_small == into_wide
    assert into_small.max_us == into_wide.max_us >= 2_000_000_000
    assert into_small.total_count == into_wide.total_count == 5
    assert into_small.out_of_range_count == into_wide.out_of_range_count == 1
    assert into_small.highest_us >= 2_000_000_000


def test_merge_of_different_precision_keeps_counts() -> None:
    values = latency_sample(3_000, 13)
    coarse, fine = LatencyHistogram(significant_digits=2), LatencyHistogram(highest_us=10_000)
    coarse.record_many(values)
    fine.record_many(values)
    fine.merge(coarse)
    assert fine.total_count == 2 * values.size
    assert fine.out_of_range_count == int(np.count_nonzero(values > 10_000))
    assert fine.highest_us >= coarse.max_us  # grown to hold coarse's values
    assert fine.value_at_percentile(50) == pytest.approx(np.percentile(values, 50), rel=1e-2)
    assert LatencyHistogram.decode(fine.encode()).total_count == fine.total_count


def test_merge_of_empty_and_copy_independence_and_reset() -> None:
    histogram = LatencyHistogram()
    histogram.record_many(latency_sample(500, 17))
    twin = histogram.copy()
    assert twin == histogram and twin is not histogram
    histogram.merge(LatencyHistogram())
    assert histogram == twin
    twin.record(42)
    assert twin.total_count == histogram.total_count + 1
    assert twin != histogram
    histogram.reset()
    assert histogram.total_count == 0 and histogram.max_us == 0 and histogram.out_of_range_count == 0
    assert histogram == LatencyHistogram()


# -- encode / decode ----------------------------------------------------------------------


def test_encode_decodes_with_hdrh_and_with_us() -> None:
    values = latency_sample(10_000, 21)
    histogram = LatencyHistogram()
    histogram.record_many(values)
    text = histogram.encode()
    assert isinstance(text, str) and text.startswith("HISTFAAA")
    by_hdrh = HdrHistogram.decode(text)
    assert by_hdrh.get_total_count() == values.size
    assert by_hdrh.get_max_value() == histogram.max_us
    assert by_hdrh.get_min_value() == histogram.min_us
    for percentile in PERCENTILES[1:]:
        assert by_hdrh.get_value_at_percentile(percentile) == histogram.value_at_percentile(percentile)
    ours = LatencyHistogram.decode(text)
    assert ours == histogram
    assert ours.summary_us() == histogram.summary_us()
    assert ours.encode() == text


def test_out_of_range_count_travels_beside_the_encoding() -> None:
    histogram = LatencyHistogram(highest_us=1_000)
    histogram.record_many(np.array([5, 5_000, 6_000]))
    assert LatencyHistogram.decode(histogram.encode()).out_of_range_count == 0  # not in HDR format
    decoded = LatencyHistogram.decode(histogram.encode(), out_of_range_count=histogram.out_of_range_count)
    assert decoded.out_of_range_count == 2 and decoded == histogram


def test_encode_of_empty_histogram_round_trips() -> None:
    decoded = LatencyHistogram.decode(LatencyHistogram().encode())
    assert decoded.total_count == 0 and decoded == LatencyHistogram()


def v1_encoding(histogram: LatencyHistogram, word_size: int) -> str:
    """Java's V1 compressed encoding, written by hand: header, big-endian counts, zlib."""
    hdr = histogram.hdr
    counts = np.ctypeslib.as_array(hdr.counts)
    relevant = int(np.flatnonzero(counts)[-1]) + 1
    payload = counts[:relevant].astype(f">i{word_size}").tobytes()
    header = struct.pack(
        ">iiiiqqd", 0x1C849301 | (word_size << 4), len(payload), 0, hdr.significant_figures,
        hdr.lowest_trackable_value, hdr.highest_trackable_value, 1.0,
    )  # fmt: skip
    compressed = zlib.compress(header + payload)
    outer = struct.pack(">ii", 0x1C849302 | (word_size << 4), len(compressed))
    return base64.b64encode(outer + compressed).decode()


@pytest.mark.parametrize("word_size", [2, 4, 8])
def test_v1_decoding_matches_the_v2_path(word_size: int) -> None:
    histogram = LatencyHistogram(highest_us=10**8, significant_digits=2)
    histogram.record_many(latency_sample(20_000, word_size) % 10**8)
    decoded = LatencyHistogram.decode(v1_encoding(histogram, word_size))
    assert decoded == histogram
    assert decoded.total_count == histogram.total_count
    assert (decoded.min_us, decoded.max_us) == (histogram.min_us, histogram.max_us)
    assert decoded.summary_us() == histogram.summary_us()


def _with_outer(cookie: int, body: bytes) -> str:
    return base64.b64encode(struct.pack(">ii", cookie, len(body)) + body).decode()


def _garbage() -> dict[str, str]:
    good = LatencyHistogram()
    good.record_many(np.arange(1, 500))
    text = good.encode()
    raw = base64.b64decode(text)
    bad_header = struct.pack(">iiiiqqd", 0x1C849313, 0, 0, 9, 1, 1000, 1.0)
    return {
        "empty": "",
        "not base64": "HIST not base64 at all!",
        "short": base64.b64encode(b"abc").decode(),
        "random": base64.b64encode(bytes(range(7, 250, 3))).decode(),
        "truncated": base64.b64encode(raw[:-10]).decode(),
        "wrong length": base64.b64encode(struct.pack(">ii", 0x1C849314, len(raw)) + raw[8:]).decode(),
        "flipped zlib": base64.b64encode(raw[:20] + bytes([raw[20] ^ 0xFF]) + raw[21:]).decode(),
        "V0 cookie": _with_outer(0x1C849389, raw[8:]),
        "unknown cookie": _with_outer(0x12345678, raw[8:]),
        "not zlib": _with_outer(0x1C849314, b"plain bytes, not deflate"),
        "short payload": _with_outer(0x1C849314, zlib.compress(b"\x1c\x84\x93\x13")),
        "bad digits": _with_outer(0x1C849314, zlib.compress(bad_header)),
        "V1 cut short": _with_outer(0x1C849382, zlib.compress(bad_header[:30])),
        "V1 in V2 box": _with_outer(0x1C849314, base64.b64decode(v1_encoding(good, 8))[8:]),
    }


@pytest.mark.parametrize("name", sorted(_garbage()))
def test_garbage_raises_data_error(name: str) -> None:
    with pytest.raises(DataError):
        LatencyHistogram.decode(_garbage()[name])


def test_equality_needs_same_layout_and_same_counts() -> None:
    a, b = LatencyHistogram(), LatencyHistogram(significant_digits=2)
    a.record(5)
    b.record(5)
    assert a != b
    assert a != "not a histogram"
    wider = LatencyHistogram(highest_us=10 * HIGHEST_US_DEFAULT)
    wider.record(5)
    assert a == wider  # same layout up to the narrower range: only the counts matter
