"""Parse and format durations, rates, sizes and percentages: the only unit parser in hftperf.

Every function raises ``ValueError`` with a short expectation ("expected a duration such as
'250us', '10ms' or '5s'") so that callers can prefix the file, key or flag it came from.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_DURATION_S",
    "format_duration_us",
    "format_rate",
    "parse_duration_s",
    "parse_duration_us",
    "parse_percent",
    "parse_rate_per_s",
    "parse_size_bytes",
]

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_DURATION_SCALE_S = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_RATE_RE = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*(s|sec|second|m|min|minute))?\s*$")
_SIZE_RE = re.compile(rf"^\s*({_NUMBER})\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$", re.IGNORECASE)
_SIZE_SCALE = {
    "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2,
    "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
}
_PERCENT_RE = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")
_INF = float("inf")
# Longer than any benchmark or soak; a bound keeps '1e300s' from overflowing deadlines and timers later.
MAX_DURATION_S = 30 * 86400.0


def _match(pattern: re.Pattern[str], text: object, expectation: str) -> re.Match[str]:
    """The match of a unit string; ValueError for another type (a TOML list, None) or no match."""
    match = pattern.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected {expectation}, got {text!r}")
    return match


def parse_duration_s(text: str | int | float, default_unit: str = "s") -> float:
    """Return a duration in seconds from ``'250us'``, ``'10ms'``, ``'5s'``, ``'2m'`` or a bare number."""
    if isinstance(text, bool):
        raise ValueError("expected a duration such as '250us', '10ms' or '5s'")
    if isinstance(text, (int, float)):
        value_s = float(text) * _DURATION_SCALE_S[default_unit]
    else:
        match = _match(_DURATION_RE, text, "a duration such as '250us', '10ms' or '5s'")
        unit = match.group(3) or default_unit
        value_s = float(match.group(1)) * _DURATION_SCALE_S[unit]
    if not 0 <= value_s <= MAX_DURATION_S:  # also NaN and infinity
        raise ValueError(f"expected a duration from 0 to 30 days, got {text!r}")
    return value_s


def parse_duration_us(text: str | int | float, default_unit: str = "us") -> float:
    """Return a duration in microseconds; a bare number is read in ``default_unit``."""
    return parse_duration_s(text, default_unit) * 1e6


def parse_rate_per_s(text: str | int | float) -> float:
    """Return a rate in events per second from ``'1000/s'``, ``'60000/m'`` or a bare number."""
    if isinstance(text, bool):
        raise ValueError("expected a rate such as '1000/s'")
    if isinstance(text, (int, float)):
        rate = float(text)
    else:
        match = _match(_RATE_RE, text, "a rate such as '1000/s' or '60000/m'")
        per = match.group(3) or "s"
        rate = float(match.group(1)) / (60.0 if per.startswith("m") else 1.0)
    if not rate > 0 or rate == float("inf"):
        raise ValueError(f"expected a positive rate, got {text!r}")
    return rate


def parse_size_bytes(text: str | int) -> int:
    """Return a size in bytes from ``'10MB'``, ``'64KiB'``, ``'512'``."""
    if isinstance(text, bool):
        raise ValueError("expected a size such as '64KiB' or '10MB'")
    if isinstance(text, int):
        size = text
    else:
        match = _match(_SIZE_RE, text, "a size such as '64KiB' or '10MB'")
        size_float = float(match.group(1)) * _SIZE_SCALE[(match.group(3) or "b").lower()]
        if size_float == _INF:
            raise ValueError(f"expected a finite size, got {text!r}")
        size = int(size_float)
    if size < 0:
        raise ValueError(f"expected a non-negative size, got {text!r}")
    return size


def parse_percent(text: str | int | float) -> float:
    """Return a fraction from ``'0.1%'`` (0.001); a bare number is already a fraction."""
    if isinstance(text, bool):
        raise ValueError("expected a percentage such as '0.1%'")
    if isinstance(text, (int, float)):
        fraction = float(text)
    else:
        match = _match(_PERCENT_RE, text, "a percentage such as '0.1%'")
        fraction = float(match.group(1)) / 100.0
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"expected a percentage between 0% and 100%, got {text!r}")
    return fraction


def format_duration_us(value_us: float) -> str:
    """Format microseconds with a unit that keeps three significant figures readable."""
    if value_us != value_us:
        return "-"
    if value_us < 1_000:
        return f"{value_us:.0f}µs" if value_us >= 100 else f"{value_us:.1f}µs"
    if value_us < 1_000_000:
        return f"{value_us / 1e3:.2f}ms"
    return f"{value_us / 1e6:.2f}s"


def format_rate(rate_per_s: float) -> str:
    """Format a rate in requests per second with thousands separators."""
    return f"{rate_per_s:,.0f}/s" if rate_per_s >= 100 else f"{rate_per_s:.1f}/s"
