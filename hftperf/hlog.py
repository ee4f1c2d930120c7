"""HdrHistogram interval logs (``.hlog``): a streaming writer and a reader for logs from any tool.

Format (HdrHistogram "Histogram log format version 1.3", as Java's HistogramLogWriter writes it)::

    #[<comment>]
    #[Histogram log format version 1.3]
    #[StartTime: 1441812279.474 (seconds since epoch), Wed Sep 09 15:24:39 UTC 2015]
    #[BaseTime: 1441812279.474 (seconds since epoch)]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    [Tag=<tag>,]<start s>,<length s>,<max ms>,<base64 compressed histogram>

The reader follows Java's HistogramLogReader for time stamps: an interval's absolute start is
its time stamp plus the base time; without a ``BaseTime`` header the base time is the start
time when the first time stamp lies more than a year before ``StartTime`` (relative stamps),
else 0 (absolute stamps, as in log format 1.1). ``start_s`` is then relative to ``StartTime``.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from hftperf.errors import DataError
from hftperf.histogram import LatencyHistogram
from hftperf.redact import redact_text

__all__ = ["LOG_FORMAT_VERSION", "HlogWriter", "IntervalHistogram", "IntervalLog", "read_hlog"]

LOG_FORMAT_VERSION = "1.3"
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
MAX_VALUE_UNIT_RATIO = 1000.0  # values are µs, the Interval_Max column is in ms
_YEAR_S = 365 * 24 * 3600.0
_START_TIME = re.compile(r"#\[StartTime:\s*(\S+?)[\s,\]]")
_BASE_TIME = re.compile(r"#\[BaseTime:\s*(\S+?)[\s,\]]")
_VERSION = re.compile(r"#\[Histogram log format version\s+([^\]\s]+)\s*\]")
_FIELD_SEPARATORS = re.compile(r"[ ,]+")  # Java's scanner splits on commas and spaces
_BAD_TAG = re.compile(r"[\s,]")


@dataclass(frozen=True)
class IntervalHistogram:
    """One logged interval: start (s, relative to the log's start time), length, tag, histogram."""

    start_s: float
    length_s: float
    tag: str | None
    histogram: LatencyHistogram


@dataclass(frozen=True)
class IntervalLog:
    """A whole interval log: start time, intervals in file order, free-text comments."""

    start_time_epoch_s: float | None
    intervals: tuple[IntervalHistogram, ...]
    comments: tuple[str, ...]
    format_version: str | None = None

    def merged(self, tag: str | None = None) -> LatencyHistogram:
        """Sum of all intervals carrying ``tag`` (None = untagged); empty histogram if none."""
        selected = [i.histogram for i in self.intervals if i.tag == tag]
        if not selected:
            return LatencyHistogram()
        total = selected[0].copy()
        for histogram in selected[1:]:
            total.merge(histogram)
        return total

    def tags(self) -> set[str | None]:
        """Every tag present (None stands for untagged intervals)."""
        return {i.tag for i in self.intervals}


def _human_utc(epoch_s: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch_s))


class HlogWriter:
    """Streaming ``.hlog`` writer: each line is written and flushed as it comes."""

    def __init__(
        self, path: str | os.PathLike[str], start_time_epoch_s: float, comment: str | None = None
    ) -> None:
        self._path = Path(path)
        try:
            # held open across calls on purpose: the writer streams for the whole run
            self._file: IO[str] | None = open(self._path, "w", encoding="ascii", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise DataError(f"cannot write interval log {self._path}: {exc.strerror or exc}") from None
        # the comment names the target: redacted here, whoever wrote it
        lines = [f"#[{redact_text(line)}]" for line in (comment.splitlines() if comment else [])]
        lines += [
            f"#[Histogram log format version {LOG_FORMAT_VERSION}]",
            f"#[StartTime: {start_time_epoch_s:.3f} (seconds since epoch), {_human_utc(start_time_epoch_s)}]",
            # explicit base time: readers need not guess whether our time stamps are relative
            f"#[BaseTime: {start_time_epoch_s:.3f} (seconds since epoch)]",
            LEGEND,
        ]
        self._write("\n".join(lines) + "\n")

    def _write(self, text: str) -> None:
        if self._file is None:
            raise DataError(f"interval log {self._path} is already closed")
        self._file.write(text)
        self._file.flush()  # a killed run keeps every interval written so far

    def write_interval(
        self, start_s: float, length_s: float, histogram: LatencyHistogram, tag: str | None = None
    ) -> None:
        """Append one interval (start relative to the log's start time, max column in ms)."""
        if not (math.isfinite(start_s) and math.isfinite(length_s) and length_s >= 0):
            raise DataError(f"interval start {start_s} / length {length_s} must be finite, length >= 0")
        if tag is not None and (not tag or _BAD_TAG.search(tag)):
            raise DataError(f"interval log tag {tag!r} must be non-empty, without commas or spaces")
        prefix = f"Tag={tag}," if tag is not None else ""
        max_ms = histogram.max_us / MAX_VALUE_UNIT_RATIO
        self._write(f"{prefix}{start_s:.3f},{length_s:.3f},{max_ms:.3f},{histogram.encode()}\n")

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not finite")
    return value


def _header_time(pattern: re.Pattern[str], line: str, what: str) -> float | None:
    """Seconds since epoch from a StartTime/BaseTime comment; None if the line is another comment."""
    if not line.startswith(f"#[{what}:"):
        return None
    match = pattern.match(line + " ")
    if match is None:
        raise ValueError(f"malformed {what} header")
    return _float(match.group(1), what)


class _Parser:
    """Line-by-line state of the reader (start time, base time, collected intervals)."""

    def __init__(self) -> None:
        self.start_time: float | None = None
        self.base_time: float | None = None
        self.version: str | None = None
        self.comments: list[str] = []
        self.raw: list[tuple[float, float, float, str | None, LatencyHistogram]] = []

    def comment(self, line: str) -> None:
        start = _header_time(_START_TIME, line, "StartTime")
        base = _header_time(_BASE_TIME, line, "BaseTime")
        version = _VERSION.match(line)
        if start is not None:
            if self.start_time is None:  # a later one (concatenated logs) would shift nothing
                self.start_time = start
        elif base is not None:
            self.base_time = base
        elif version is not None:
            self.version = version.group(1)
        else:
            text = line[1:]
            self.comments.append(text[1:-1] if text.startswith("[") and text.endswith("]") else text)

    def interval(self, line: str) -> None:
        fields = _FIELD_SEPARATORS.split(line)
        tag = None
        if fields[0].startswith("Tag="):
            tag = fields.pop(0)[4:] or None
        if len(fields) != 4:
            raise ValueError(f"expected 4 fields (start, length, max, histogram), found {len(fields)}")
        start = _float(fields[0], "interval start")
        length = _float(fields[1], "interval length")
        _float(fields[2], "interval max")
        if length < 0:
            raise ValueError(f"interval length {length} is negative")
        if self.base_time is None:  # Java's rule, decided once from the first interval
            looks_relative = self.start_time is not None and start < self.start_time - _YEAR_S
            self.base_time = self.start_time if looks_relative and self.start_time else 0.0
        self.raw.append((start, self.base_time, length, tag, LatencyHistogram.decode(fields[3])))

    def result(self) -> IntervalLog:
        origin = self.start_time
        if origin is None and self.raw and self.raw[0][1] == 0.0 and self.raw[0][0] >= _YEAR_S:
            origin = self.raw[0][0]  # absolute stamps, no StartTime: start at the first interval
        elif origin is None and self.base_time:
            origin = self.base_time
        # (base - origin) first: relative stamps stay exact; the log itself has ms resolution
        intervals = tuple(
            IntervalHistogram(round(stamp + (base - (origin or 0.0)), 6), length, tag, histogram)
            for stamp, base, length, tag, histogram in self.raw
        )
        return IntervalLog(origin, intervals, tuple(self.comments), self.version)


def read_hlog(path: str | os.PathLike[str]) -> IntervalLog:
    """Read an interval log written by hftperf or any HdrHistogram tool (V1 or V2 histograms)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read interval log {path}: {exc.strerror or exc}") from None
    parser = _Parser()
    for number, raw_line in enumerate(data.splitlines(), start=1):
        try:
            line = raw_line.decode("ascii").strip()
            if not line or line.startswith('"StartTimestamp"'):
                continue
            if line.startswith("#"):
                parser.comment(line)
            else:
                parser.interval(line)
        except UnicodeDecodeError:
            raise DataError(f"{path}:{number}: line is not ASCII text") from None
        except (ValueError, DataError) as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
    return parser.result()
