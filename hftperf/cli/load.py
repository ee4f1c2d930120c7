"""``hftperf load``: ad-hoc load against one URL, like wrk (closed loop) or wrk2/vegeta (--rate)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from hftperf.adhoc import ADHOC_HLOG, LOAD_JSON_SCHEMA, save_load_result
from hftperf.cli.console import stderr, stdout
from hftperf.cli.load_view import LiveProgress, render_result_table
from hftperf.cli.options import (
    check_duration,
    check_method,
    check_positive_duration,
    check_rate,
    check_stages,
    parse_stage,
)
from hftperf.environment import utc_now_iso
from hftperf.errors import ExitCode, UsageError
from hftperf.hlog import HlogWriter
from hftperf.loadgen import IntervalReport, LoadPlan, RequestSpec, default_workers, open_executor, run_load
from hftperf.loadgen.schedule import Stage
from hftperf.redact import describe_request, redact_url
from hftperf.results_dir import prepare_results_dir
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


def _stages(stage: list[str] | None, duration: str | None, rate: str | None) -> tuple[Stage, ...]:
    """The ``--stage`` values as schedule stages (``a,b`` and repeated flags alike); they exclude
    ``--rate`` and ``--duration``, which they replace."""
    texts = [text for value in stage or [] for text in value.split(",")]
    if texts and (clash := [flag for flag, given in (("--rate", rate), ("--duration", duration)) if given]):
        raise UsageError(f"--stage: not together with {' or '.join(clash)} (the stages give the rates and the time)")
    return tuple(_option("--stage", parse_stage, text) for text in texts)


def build_plan(url: str, method: str, body: str | None, headers: list[str], template: bool,
               connections: int, duration: str | None, rate: str | None, workers: int | None,
               warmup: str, timeout: str, server_timing: bool = False,
               stage: list[str] | None = None) -> LoadPlan:
    """Turn the command-line options into a validated LoadPlan (UsageError on bad input)."""
    stages = _stages(stage, duration, rate)
    rate_per_s = _option("--rate", parse_rate_per_s, rate)
    try:
        spec = RequestSpec(url=url, method=method.upper(), headers=_parse_headers(headers),
                           body=_read_body(body), template=template, capture_server_timing=server_timing)
    except ValueError as exc:
        raise UsageError(f"--body: {exc}") from None
    try:
        spec.target  # noqa: B018 - validates the URL
    except ValueError as exc:
        raise UsageError(f"URL: {exc}") from None  # the message quotes the URL redacted
    if connections < 1:
        raise UsageError(f"--connections: expected at least 1, got {connections}")
    peak_per_s = max((s.rate_per_s for s in stages), default=None) or rate_per_s
    chosen_workers = workers if workers is not None else default_workers(connections, peak_per_s)
    try:
        return LoadPlan(
            request=spec,
            connections=connections,
            duration_s=_option("--duration", parse_duration_s, duration or DEFAULT_DURATION),
            rate_per_s=rate_per_s,
            warmup_s=_option("--warmup", parse_duration_s, warmup),
            timeout_s=_option("--timeout", parse_duration_s, timeout),
            workers=chosen_workers,
            keep_intervals=False,  # streamed to --hlog as they come: memory stays flat
            stages=stages,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


DEFAULT_DURATION = "10s"
_HELP_STAGE = ("Open loop in stages, DURATION:RATE (held) or DURATION:RATE:ramp (from the previous rate), "
               "repeatable or comma-separated, e.g. --stage 5s:500/s --stage 10s:2000/s:ramp; "
               "replaces --rate and --duration")
_HELP_TEMPLATE = "Expand ${seq}, ${rand:LO:HI}, ${choice:a|b} in the body per request"
_HELP_RATE = "Open loop at this total rate (req/s); default closed loop"
_HELP_WORKERS = "Load-generating processes (default: one per two cores, at most one per 8 connections)"
_HELP_HLOG = "Write interval histograms (HdrHistogram log format) here"
_HELP_DURATION = f"Measured time after warm-up, e.g. 10s, 1m (default {DEFAULT_DURATION})"
_HELP_REDACT = "Also redact this header's value in the output (Authorization, Cookie, *token* ... always are)"
_HELP_OUT = "Write a results directory (result.json + load.hlog) for hftperf report / compare / history"
_HELP_SERVER_TIMING = "Record the parts of each response's Server-Timing header in histograms of their own"
HELP_CLUSTER = "Run the load workers on this Dask cluster: tcp://HOST:8786, or local:N to start N worker processes"
HELP_ALLOW_REMOTE = "Let cluster load workers send to a target outside 127.0.0.0/8 and ::1"
HELP_METRICS_PORT = "Serve live metrics (Prometheus/OpenMetrics text) on 127.0.0.1:PORT during the run"


def load(
    url: Annotated[str, typer.Argument(help="Target URL, e.g. http://127.0.0.1:8080/health")],
    method: Annotated[str, typer.Option("--method", "-m", help="HTTP method", callback=check_method)] = "GET",
    body: Annotated[str | None, typer.Option("--body", "-b", help="Request body, or @file")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="Header NAME:VALUE (repeatable)")] = None,
    template: Annotated[bool, typer.Option("--template", help=_HELP_TEMPLATE)] = False,
    connections: Annotated[int, typer.Option("--connections", "-c", min=1, help="Open connections (total)")] = 16,
    duration: Annotated[str | None, typer.Option(
            "--duration", "-d", help=_HELP_DURATION, callback=check_positive_duration)] = None,
    rate: Annotated[str | None, typer.Option("--rate", "-R", help=_HELP_RATE, callback=check_rate)] = None,
    stage: Annotated[list[str] | None, typer.Option("--stage", help=_HELP_STAGE, callback=check_stages)] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help=_HELP_WORKERS)] = None,
    warmup: Annotated[str, typer.Option(
            "--warmup", help="Warm-up time excluded from the figures", callback=check_duration)] = "1s",
    timeout: Annotated[str, typer.Option(
            "--timeout", help="Per-request timeout", callback=check_positive_duration)] = "10s",
    hlog: Annotated[Path | None, typer.Option("--hlog", help=_HELP_HLOG)] = None,
    server_timing: Annotated[bool, typer.Option("--server-timing", help=_HELP_SERVER_TIMING)] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    redact: Annotated[list[str] | None, typer.Option("--redact-header", help=_HELP_REDACT)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=_HELP_OUT)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --hlog file or --out directory")] = False,
    cluster: Annotated[str | None, typer.Option("--cluster", envvar="HFTPERF_CLUSTER", help=HELP_CLUSTER)] = None,
    allow_remote_target: Annotated[bool, typer.Option("--allow-remote-target", help=HELP_ALLOW_REMOTE)] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help=HELP_METRICS_PORT)] = None,
) -> int:
    """Send load to one URL and report throughput, errors and latency percentiles."""
    plan = build_plan(url, method, body, header or [], template, connections, duration, rate, workers, warmup,
                      timeout, server_timing, stage)
    if hlog is not None and hlog.exists() and not force:
        raise UsageError(f"--hlog {hlog}: exists (a previous run's interval log?); choose a new file "
                         "or pass --force to replace it")
    if out is not None:
        prepare_results_dir(out, force)
        if hlog is None:
            hlog = out / ADHOC_HLOG
    from hftperf.live_metrics import serve_metrics

    with contextlib.ExitStack() as stack:  # the cluster first: its start-up is not part of the log's time
        executor = stack.enter_context(open_executor(cluster, allow_remote_target))
        metrics = stack.enter_context(serve_metrics(metrics_port))
        comment = f"hftperf load {redact_url(url, redact or ())}; values in microseconds"
        writer = HlogWriter(hlog, time.time() + plan.warmup_s, comment=comment) if hlog else None
        if writer is not None:
            stack.callback(writer.close)
        progress = LiveProgress(stderr, plan, enabled=not quiet and not as_json and stderr.is_terminal)
        started_at = utc_now_iso()

        def on_interval(report: IntervalReport) -> None:
            if metrics is not None:
                metrics.observe("load", report)
            progress.update(report)
            if writer is not None:
                for tag, histogram in report.tagged_histograms():
                    writer.write_interval(report.record.start_s, report.record.length_s, histogram, tag=tag)

        with progress:
            result = run_load(plan, on_interval, executor=executor)
    if out is not None:
        save_load_result(result, out, started_at, utc_now_iso(), redact or ())
    if as_json:
        spec = plan.request
        assert isinstance(spec, RequestSpec)
        document = {"schema": LOAD_JSON_SCHEMA, **result.to_dict(),
                    "request": describe_request(spec.method, url, spec.headers, redact or ())}
        stdout.file.write(json.dumps(document) + "\n")
    else:
        stdout.print(render_result_table(result, redact or ()))
        if out is not None:
            stdout.print(f"results: {out}")
    if result.interrupted:
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.FAILED if result.lost_workers else ExitCode.OK)  # a lost share: less than asked was run
