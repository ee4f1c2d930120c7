"""Interval logs: our writer/reader round trip, and reading logs written by other HdrHistogram tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from hftperf.errors import DataError
from hftperf.histogram import LatencyHistogram
from hftperf.hlog import LEGEND, HlogWriter, IntervalLog, read_hlog

START_EPOCH_S = 1_700_000_000.25
JHICCUP = "jHiccup-2.0.7S.logV2.hlog"
TAGGED = "tagged-Log.logV2.hlog"
RAPHAEL = "raphael.hlog"


def histogram_of(seed: int, n: int = 500) -> LatencyHistogram:
    histogram = LatencyHistogram()
    rng = np.random.default_rng(seed)
    histogram.record_many(np.maximum(rng.lognormal(6.0, 1.5, n), 1).astype(np.int64))
    return histogram


def data_lines(path: Path) -> list[list[str]]:
    """Interval lines split into fields, the way one counts them by hand."""
    lines = path.read_text().splitlines()
    return [line.split(",") for line in lines if line and not line.startswith(("#", '"'))]


# -- our own logs -------------------------------------------------------------------------


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.hlog"
    written = [(0.0, 1.0, None, histogram_of(1)), (0.0, 1.0, "lag", histogram_of(2)),
               (1.0, 1.0, None, histogram_of(3)), (1.0, 0.5, "lag", LatencyHistogram()),
               (1.5, 0.25, "orders.new", histogram_of(4, 3))]  # fmt: skip
    with HlogWriter(path, START_EPOCH_S, comment="hftperf test run\nsecond line") as writer:
        for start_s, length_s, tag, histogram in written:
            writer.write_interval(start_s, length_s, histogram, tag=tag)
    log = read_hlog(path)
    assert log.start_time_epoch_s == pytest.approx(START_EPOCH_S, abs=1e-3)
    assert log.comments == ("hftperf test run", "second line")
    assert log.format_version == "1.3"
    assert log.tags() == {None, "lag", "orders.new"}
    assert len(log.intervals) == len(written)
    for interval, (start_s, length_s, tag, histogram) in zip(log.intervals, written, strict=True):
        assert (interval.start_s, interval.length_s, interval.tag) == (start_s, length_s, tag)
        assert interval.histogram == histogram
        assert interval.histogram.total_count == histogram.total_count
    untagged = histogram_of(1)
    untagged.merge(histogram_of(3))
    assert log.merged() == untagged
    assert log.merged("lag") == histogram_of(2)
    assert log.merged("absent").total_count == 0


def test_written_lines_follow_the_java_layout(tmp_path: Path) -> None:
    path = tmp_path / "layout.hlog"
    histogram = LatencyHistogram()
    histogram.record_many(np.array([100, 2_500, 12_345]))
    with HlogWriter(path, 1441812279.474, comment="made by a test") as writer:
        writer.write_interval(0.127, 1.007, histogram)
        writer.write_interval(1.134, 0.999, histogram, tag="A")
    lines = path.read_text().splitlines()
    assert lines[0] == "#[made by a test]"
    assert lines[1] == "#[Histogram log format version 1.3]"
    assert lines[2].startswith("#[StartTime: 1441812279.474 (seconds since epoch), ")
    assert lines[3] == "#[BaseTime: 1441812279.474 (seconds since epoch)]"
    assert lines[4] == LEGEND
    max_ms = f"{histogram.max_us / 1000:.3f}"
    assert max_ms == "12.351"  # 12 345 µs, highest equivalent value at 3 digits, in ms
    assert lines[5] == f"0.127,1.007,{max_ms},{histogram.encode()}"
    assert lines[6] == f"Tag=A,1.134,0.999,{max_ms},{histogram.encode()}"


def test_hdrh_reads_our_log(tmp_path: Path) -> None:
    path = tmp_path / "for-hdrh.hlog"
    with HlogWriter(path, START_EPOCH_S) as writer:
        writer.write_interval(0.5, 1.0, histogram_of(5), tag="A")
    reader = HistogramLogReader(str(path), HdrHistogram(1, 3_600_000_000, 3))
    decoded = reader.get_next_interval_histogram()
    reader.close()
    assert decoded.get_total_count() == histogram_of(5).total_count
    assert decoded.get_tag() == "A"
    assert decoded.get_start_time_stamp() == pytest.approx((START_EPOCH_S + 0.5) * 1000, abs=1)


def test_writer_flushes_each_interval_before_close(tmp_path: Path) -> None:
    path = tmp_path / "streaming.hlog"
    writer = HlogWriter(path, START_EPOCH_S)
    writer.write_interval(0.0, 1.0, histogram_of(6))
    assert len(read_hlog(path).intervals) == 1  # readable while the writer is still open
    writer.write_interval(1.0, 1.0, histogram_of(7))
    assert len(read_hlog(path).intervals) == 2
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(DataError, match="closed"):
        writer.write_interval(2.0, 1.0, histogram_of(8))


@pytest.mark.parametrize("tag", ["", "a,b", "has space", "tab\there"])
def test_writer_refuses_tags_the_format_cannot_carry(tmp_path: Path, tag: str) -> None:
    with HlogWriter(tmp_path / "tags.hlog", START_EPOCH_S) as writer, pytest.raises(DataError):
        writer.write_interval(0.0, 1.0, histogram_of(9), tag=tag)


def test_writer_to_unwritable_path_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot write"):
        HlogWriter(tmp_path / "missing-dir" / "x.hlog", START_EPOCH_S)


# -- base time rules (Java HistogramLogReader) ---------------------------------------------


def write_raw(path: Path, header: list[str], stamps: list[str]) -> Path:
    payload = histogram_of(10, 50).encode()
    path.write_text("\n".join([*header, LEGEND, *(f"{s},1.000,1.000,{payload}" for s in stamps)]) + "\n")
    return path


@pytest.mark.parametrize(
    ("header", "stamps", "start_time", "starts"),
    [
        (["#[StartTime: 1000000000.000 (seconds since epoch), x]"], ["0.5", "1.5"], 1e9, [0.5, 1.5]),
        (["#[StartTime: 1000000000.000 (seconds since epoch), x]"],
         ["1000000002.5", "1000000003.5"], 1e9, [2.5, 3.5]),  # absolute stamps
        (["#[StartTime: 1000000010.000 (seconds since epoch), x]",
          "#[BaseTime: 1000000000.000 (seconds since epoch)]"], ["12.0", "13.0"], 1000000010.0, [2.0, 3.0]),
        (["#[BaseTime: 1000000000.000 (seconds since epoch)]"], ["1.0", "2.0"], 1e9, [1.0, 2.0]),
        ([], ["0.25", "1.25"], None, [0.25, 1.25]),  # no header: stamps as written
        ([], ["1000000005.0", "1000000006.0"], 1000000005.0, [0.0, 1.0]),  # absolute, no header
    ],
    ids=["relative", "absolute", "base-time", "base-only", "no-header", "absolute-no-header"],
)  # fmt: skip
def test_time_stamps_follow_java_base_time_rules(
    tmp_path: Path, header: list[str], stamps: list[str], start_time: float | None, starts: list[float]
) -> None:
    log = read_hlog(write_raw(tmp_path / "t.hlog", header, stamps))
    assert log.start_time_epoch_s == start_time
    assert [i.start_s for i in log.intervals] == pytest.approx(starts, abs=1e-6)


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0.5,1.0,2.0", "expected 4 fields"),
        ("0.5,1.0,2.0,HISTFAAA,extra", "expected 4 fields"),
        ("zero,1.0,2.0,HISTFAAAAB", "not a number"),
        ("0.5,nan,2.0,HISTFAAAAB", "not finite"),
        ("0.5,-1.0,2.0,{payload}", "negative"),
        ("0.5,1.0,2.0,HIST@@not-base64", "base64"),
        ("Tag=A,0.5,1.0,2.0,SGVsbG8gd29ybGQsIG5vdCBhIGhpc3RvZ3JhbQ==", "histogram"),
        ("#[StartTime: soon (seconds since epoch)]", "StartTime"),
    ],
)
def test_malformed_lines_raise_data_error_with_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.hlog"
    good = f"0.0,1.0,1.0,{histogram_of(11, 20).encode()}"
    line = line.replace("{payload}", histogram_of(12, 20).encode())
    path.write_text(f"#[Histogram log format version 1.3]\n{LEGEND}\n{good}\n{line}\n{good}\n")
    with pytest.raises(DataError, match=message) as info:
        read_hlog(path)
    assert f"{path}:4:" in str(info.value)


def test_non_ascii_and_missing_files_raise_data_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.hlog"
    path.write_bytes(b"#[ok]\n\xff\xfe\x00garbage\n")
    with pytest.raises(DataError, match=rf"{path}:2: .*ASCII"):
        read_hlog(path)
    with pytest.raises(DataError, match="cannot read"):
        read_hlog(tmp_path / "nope.hlog")


def test_empty_file_is_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.hlog"
    path.write_text("")
    assert read_hlog(path) == IntervalLog(None, (), (), None)


# -- logs written by other tools ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "intervals", "total", "tags", "start_time", "version"),
    [
        (JHICCUP, 62, 48_761, {None}, 1441812279.474, "1.2"),
        (TAGGED, 42, 2 * 16_145, {None, "A"}, 1441812279.474, "1.2"),
        (RAPHAEL, 1, 140_003, {None}, 1629447481.658, "1.1"),
    ],
)
def test_shared_logs_read_like_counted_by_hand(
    shared_hlog_dir: Path, name: str, intervals: int, total: int, tags: set[str | None],
    start_time: float, version: str,
) -> None:  # fmt: skip
    path = shared_hlog_dir / name
    log = read_hlog(path)
    lines = data_lines(path)
    assert len(log.intervals) == len(lines) == intervals
    assert log.tags() == tags
    assert log.start_time_epoch_s == start_time
    assert log.format_version == version
    assert sum(i.histogram.total_count for i in log.intervals) == total
    assert sum(log.merged(tag).total_count for tag in tags) == total
    for interval, fields in zip(log.intervals, lines, strict=True):
        tag = fields.pop(0)[4:] if fields[0].startswith("Tag=") else None
        assert interval.tag == tag
        assert interval.length_s == float(fields[1])
        # these tools record nanoseconds and write Interval_Max in ms (ratio 1e6), 3 decimals
        assert interval.histogram.max_us / 1e6 == pytest.approx(float(fields[2]), abs=5e-4)
        if fields[3].startswith("HISTF"):  # V2: an independent decoder must agree
            assert interval.histogram.total_count == HdrHistogram.decode(fields[3]).get_total_count()


def test_jhiccup_log_times_are_relative_to_start_time(shared_hlog_dir: Path) -> None:
    log = read_hlog(shared_hlog_dir / JHICCUP)
    assert log.comments == ("Logged with jHiccup version 2.0.7-SNAPSHOT",)
    assert [i.start_s for i in log.intervals[:3]] == [0.127, 1.134, 2.133]
    assert log.intervals[-1].start_s == 61.131
    assert log.intervals[0].histogram.total_count == 741
    merged = log.merged()
    assert merged.significant_digits == 2 and merged.hdr.lowest_trackable_value == 20_000
    assert merged.max_us == 1_803_550_719  # ns: the 1.8 s hiccup logged at 48.131 s


def test_tagged_log_holds_the_jhiccup_intervals_twice(shared_hlog_dir: Path) -> None:
    tagged = read_hlog(shared_hlog_dir / TAGGED)
    plain = read_hlog(shared_hlog_dir / JHICCUP)
    untagged = [i for i in tagged.intervals if i.tag is None]
    tagged_a = [i for i in tagged.intervals if i.tag == "A"]
    assert len(untagged) == len(tagged_a) == 21
    for a, b, c in zip(untagged, tagged_a, plain.intervals[:21], strict=True):
        assert a.start_s == b.start_s == c.start_s
        assert a.histogram == b.histogram == c.histogram
    assert tagged.merged("A") == tagged.merged(None)


def test_raphael_v1_log_with_absolute_time_stamps(shared_hlog_dir: Path) -> None:
    log = read_hlog(shared_hlog_dir / RAPHAEL)
    (interval,) = log.intervals
    # absolute stamp 1629447418.475 lies 63.183 s *before* StartTime: the interval ends at it
    assert interval.start_s == pytest.approx(-63.183, abs=1e-6)
    assert interval.length_s == 63.182
    histogram = interval.histogram
    assert histogram.total_count == 140_003
    assert histogram.significant_digits == 2 and histogram.highest_us == 2**28 - 1
    assert histogram.min_us == 47_616 and histogram.max_us == 189_792_255
    assert histogram.summary_us() == pytest.approx(
        {"p50": 74_751.0, "p90": 86_527.0, "p99": 156_671.0, "p99_9": 142_606_335.0,
         "max": 189_792_255.0, "mean": 557_185.205}, rel=1e-6,
    )  # fmt: skip
    # re-encoded as V2 it decodes (with hdrh too) to the same histogram
    again = LatencyHistogram.decode(histogram.encode())
    assert again == histogram
    assert HdrHistogram.decode(histogram.encode()).get_total_count() == 140_003
