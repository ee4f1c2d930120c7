"""Command-line value checks shared by every command, run while Click parses (before anything starts).

Each check is a Typer ``callback``: it raises ``typer.BadParameter`` with the accepted range, which the
error boundary renders as one line naming the flag ("Invalid value for '--round-duration': ..."). The
value itself is returned unchanged, so commands keep passing the text to the library's parsers.
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from hftperf.cli.compare_view import FORMATS as COMPARE_FORMATS
from hftperf.loadgen.schedule import Stage
from hftperf.reports import FORMATS as REPORT_FORMATS
from hftperf.units import MAX_DURATION_S, parse_duration_s, parse_rate_per_s

__all__ = [
    "COMPARE_FORMATS",
    "HTTP_METHODS",
    "PORT_MAX",
    "REPORT_FORMATS",
    "at_least",
    "check_compare_format",
    "check_duration",
    "check_method",
    "check_positive_duration",
    "check_rate",
    "check_report_format",
    "check_stages",
    "choice",
    "parse_stage",
]

PORT_MAX = 65535
# The methods RFC 9110 §9.3 defines, and PATCH (RFC 5789). CONNECT opens a tunnel, it is not a request to load.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH")


def _duration(positive: bool) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        try:
            seconds = parse_duration_s(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if positive and seconds <= 0:
            raise typer.BadParameter(f"expected a duration above 0 (at most {MAX_DURATION_S / 86400:.0f} days), "
                                     f"got {value!r}")
        return value

    return check


check_duration = _duration(positive=False)
check_positive_duration = _duration(positive=True)


def check_rate(value: str | None) -> str | None:
    """A rate such as ``1000/s`` (positive, finite)."""
    if value is None:
        return None
    try:
        parse_rate_per_s(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def parse_stage(text: str) -> Stage:
    """``DURATION:RATE`` (held) or ``DURATION:RATE:ramp`` (ramped to from the previous stage), k6's ``--stage``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2].strip().lower() != "ramp"):
        raise ValueError(f"expected DURATION:RATE or DURATION:RATE:ramp (e.g. 10s:500/s), got {text!r}")
    duration_s = parse_duration_s(parts[0].strip())
    rate_per_s = parse_rate_per_s(parts[1].strip())
    return Stage(rate_per_s, duration_s, ramp=len(parts) == 3)


def check_stages(values: list[str] | None) -> list[str] | None:
    """Every ``--stage`` value parses (see :func:`parse_stage`); comma-separated lists are split."""
    for value in values or []:
        for text in value.split(","):
            try:
                parse_stage(text)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
    return values


def check_method(value: str) -> str:
    """An HTTP method of RFC 9110 (or PATCH), in any case; returned upper-cased."""
    if value.upper() not in HTTP_METHODS:
        raise typer.BadParameter(f"expected one of {', '.join(HTTP_METHODS)}, got {value!r}")
    return value.upper()


def choice(*allowed: str) -> Callable[[str], str]:
    """A callback accepting one of ``allowed`` (checked while parsing, so before any traffic)."""

    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


check_report_format = choice(*REPORT_FORMATS)
check_compare_format = choice(*COMPARE_FORMATS)


def at_least(minimum: int, why: str = "") -> Callable[[int | None], int | None]:
    """A callback refusing integers below ``minimum`` (with the reason, when there is one)."""

    def check(value: int | None) -> int | None:
        if value is not None and value < minimum:
            reason = f" ({why})" if why else ""
            raise typer.BadParameter(f"expected at least {minimum}{reason}, got {value}")
        return value

    return check


def check_positive_number(value: float | None) -> float | None:
    """A number above 0 (a scale factor, a timeout in seconds)."""
    if value is not None and not 0 < value < float("inf"):
        raise typer.BadParameter(f"expected a number above 0, got {value!r}")
    return value


def check_alpha(value: float | None) -> float | None:
    """A significance level strictly between 0 and 1."""
    if value is not None and not 0 < value < 1:
        raise typer.BadParameter(f"expected a significance level between 0 and 1 (e.g. 0.05), got {value!r}")
    return value
