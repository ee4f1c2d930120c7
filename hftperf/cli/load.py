"""``hftperf load``: ad-hoc load against one URL, like wrk (closed loop) or wrk2/vegeta (--rate)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from hftperf.cli.console import stderr, stdout
from hftperf.cli.load_view import LiveProgress, render_result_table
from hftperf.errors import ExitCode, UsageError
from hftperf.hlog import HlogWriter
from hftperf.loadgen import IntervalReport, LoadPlan, RequestSpec, default_workers, run_load
from hftperf.redact import describe_request, redact_url
from hftperf.units import parse_duration_s, parse_rate_per_s

__all__ = ["load"]


def _parse_headers(headers: list[str]) -> tuple[tuple[str, str], ...]:
    parsed = []
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():  # the text is not echoed: it may be a pasted token
            raise UsageError(f"--header: expected NAME:VALUE, got {len(header)} characters without a name and ':'")
        parsed.append((name.strip(), value.strip()))
    return tuple(parsed)


def _read_body(body: str | None) -> bytes:
    if body is None:
        return b""
    if body.startswith("@"):
        path = Path(body[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--body {body}: cannot read {path}: {exc.strerror or exc}") from None
    return body.encode("utf-8")


def _option(flag: str, parse, text: str | None):  # type: ignore[no-untyped-def]
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def build_plan(url: str, method: str, body: str | None, headers: list[str], template: bool,
               connections: int, duration: str, rate: str | None, workers: int | None,
               warmup: str, timeout: str, server_timing: bool = False) -> LoadPlan:
    """Turn the command-line options into a validated LoadPlan (UsageError on bad input)."""
    rate_per_s = _option("--rate", parse_rate_per_s, rate)
    spec = RequestSpec(url=url, method=method.upper(), headers=_parse_headers(headers),
                       body=_read_body(body), template=template, capture_server_timing=server_timing)
    try:
        spec.target  # noqa: B018 - validates the URL
    except ValueError as exc:
        raise UsageError(f"URL: {str(exc).replace(url, redact_url(url))}") from None
    if connections < 1:
        raise UsageError(f"--connections: expected at least 1, got {connections}")
    chosen_workers = workers if workers is not None else default_workers(connections, rate_per_s)
    try:
        return LoadPlan(
            request=spec,
            connections=connections,
            duration_s=_option("--duration", parse_duration_s, duration),
            rate_per_s=rate_per_s,
            warmup_s=_option("--warmup", parse_duration_s, warmup),
            timeout_s=_option("--timeout", parse_duration_s, timeout),
            workers=chosen_workers,
            keep_intervals=False,  # streamed to --hlog as they come: memory stays flat
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


_HELP_TEMPLATE = "Expand ${seq}, ${rand:LO:HI}, ${choice:a|b} in the body per request"
_HELP_RATE = "Open loop at this total rate (req/s); default closed loop"
_HELP_WORKERS = "Load-generating processes (default: one per two cores, at most one per 8 connections)"
_HELP_HLOG = "Write interval histograms (HdrHistogram log format) here"
_HELP_DURATION = "Measured time after warm-up, e.g. 10s, 1m"
_HELP_REDACT = "Also redact this header's value in the output (Authorization, Cookie, *token* ... always are)"
_HELP_SERVER_TIMING = "Record the parts of each response's Server-Timing header in histograms of their own"


def load(
    url: Annotated[str, typer.Argument(help="Target URL, e.g. http://127.0.0.1:8080/health")],
    method: Annotated[str, typer.Option("--method", "-m", help="HTTP method")] = "GET",
    body: Annotated[str | None, typer.Option("--body", "-b", help="Request body, or @file")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="Header NAME:VALUE (repeatable)")] = None,
    template: Annotated[bool, typer.Option("--template", help=_HELP_TEMPLATE)] = False,
    connections: Annotated[int, typer.Option("--connections", "-c", help="Open connections (total)")] = 16,
    duration: Annotated[str, typer.Option("--duration", "-d", help=_HELP_DURATION)] = "10s",
    rate: Annotated[str | None, typer.Option("--rate", "-R", help=_HELP_RATE)] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help=_HELP_WORKERS)] = None,
    warmup: Annotated[str, typer.Option("--warmup", help="Warm-up time excluded from the figures")] = "1s",
    timeout: Annotated[str, typer.Option("--timeout", help="Per-request timeout")] = "10s",
    hlog: Annotated[Path | None, typer.Option("--hlog", help=_HELP_HLOG)] = None,
    server_timing: Annotated[bool, typer.Option("--server-timing", help=_HELP_SERVER_TIMING)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    redact: Annotated[list[str] | None, typer.Option("--redact-header", help=_HELP_REDACT)] = None,
) -> int:
    """Send load to one URL and report throughput, errors and latency percentiles."""
    plan = build_plan(url, method, body, header or [], template, connections, duration, rate, workers, warmup,
                      timeout, server_timing)
    comment = f"hftperf load {redact_url(url, redact or ())}; values in microseconds"
    writer = HlogWriter(hlog, time.time() + plan.warmup_s, comment=comment) if hlog else None
    progress = LiveProgress(stderr, plan, enabled=not quiet and not as_json and stderr.is_terminal)

    def on_interval(report: IntervalReport) -> None:
        progress.update(report)
        if writer is not None:
            for tag, histogram in report.tagged_histograms():
                writer.write_interval(report.record.start_s, report.record.length_s, histogram, tag=tag)

    try:
        with progress:
            result = run_load(plan, on_interval)
    finally:
        if writer is not None:
            writer.close()
    if as_json:
        spec = plan.request
        document = {**result.to_dict(), "request": describe_request(spec.method, url, spec.headers, redact or ())}
        stdout.file.write(json.dumps(document) + "\n")
    else:
        stdout.print(render_result_table(result))
    return int(ExitCode.INTERRUPTED if result.interrupted else ExitCode.OK)
