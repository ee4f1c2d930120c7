"""``hftperf run``: the CI gate — run a scenario suite, check thresholds, write a results directory."""

from __future__ import annotations

import dataclasses
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from hftperf.cli.console import append_step_summary, fail, stderr, stdout
from hftperf.cli.deadline import Watchdog
from hftperf.cli.load import HELP_ALLOW_REMOTE, HELP_CLUSTER, HELP_METRICS_PORT
from hftperf.cli.options import check_positive_duration, check_positive_number
from hftperf.cli.run_view import SuiteLive, render_run_table
from hftperf.config import RunConfig, load_config
from hftperf.deadline import run_deadline_s
from hftperf.errors import ConfigError, DataError, ExitCode, HftperfError, InfrastructureError
from hftperf.history import commit_info, open_history, record_result
from hftperf.redact import redact_url
from hftperf.reports import write_plots_if_available
from hftperf.reports.summary import render_summary
from hftperf.result import RunResult, load_result
from hftperf.results_dir import prepare_results_dir
from hftperf.scenarios import REGISTRY
from hftperf.suite import run_suite

__all__ = ["run", "run_exit_code", "scenarios"]

DEFAULT_CONFIG = Path("configs/default.toml")
_HELP_HISTORY = "Append the results to this history (SQLite file or postgresql:// URL); see hftperf history"
_HELP_COMMIT = "The target's commit, for --history (default: HEAD of --repo)"
_HELP_DEADLINE = "Stop the whole run after this long (exit 2), e.g. 10m; default: planned time x 1.5 + 2m"


def _overrides(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}


def run(
    config: Annotated[Path, typer.Option("--config", "-f", help="Suite configuration (TOML)")] = DEFAULT_CONFIG,
    target: Annotated[str | None, typer.Option("--target", help="Benchmark this running service (http URL)")] = None,
    grpc_target: Annotated[str | None, typer.Option("--grpc-target", help="Engine HOST:PORT (gRPC)")] = None,
    stack: Annotated[str | None, typer.Option(
            "--stack", help="local or docker: start the bundled stack; compose: your compose file; none")] = None,
    compose_file: Annotated[Path | None, typer.Option(
            "--compose-file", help="--stack compose: the compose file to start")] = None,
    service: Annotated[str | None, typer.Option("--service", help="--stack compose: the HTTP target service")] = None,
    scenario: Annotated[list[str] | None, typer.Option("--scenario", "-s", help="Run only this scenario")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results directory")] = None,
    duration_scale: Annotated[float | None, typer.Option(
            "--duration-scale", callback=check_positive_number, help="Multiply durations")] = None,
    repeat: Annotated[int | None, typer.Option("--repeat", min=1, help="Run the suite N times")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Names the run and its directory")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    deadline: Annotated[str | None, typer.Option(
            "--deadline", help=_HELP_DEADLINE, callback=check_positive_duration)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the results already in --out")] = False,
    history: Annotated[str | None, typer.Option("--history", help=_HELP_HISTORY)] = None,
    commit: Annotated[str | None, typer.Option("--commit", help=_HELP_COMMIT)] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="The target's branch, for --history")] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The target's git checkout, for --history")] = Path("."),
    cluster: Annotated[str | None, typer.Option("--cluster", help=HELP_CLUSTER + "; [run] cluster")] = None,
    allow_remote_target: Annotated[bool, typer.Option("--allow-remote-target", help=HELP_ALLOW_REMOTE)] = False,
    metrics_port: Annotated[int | None, typer.Option("--metrics-port", help=HELP_METRICS_PORT)] = None,
) -> int:
    """Run the suite against the bundled stack (or --target); exit 0 all targets met, 1 not, 2 error, 3 inconclusive."""
    if not config.exists() and config == DEFAULT_CONFIG:
        raise ConfigError(f"{config}: not found; run from a checkout of hftperf or pass --config FILE")
    overrides = _overrides(target=target, grpc_target=grpc_target, stack=stack, out=out,
                           duration_scale=duration_scale, repeat=repeat, label=label, deadline=deadline,
                           cluster=cluster, **{"history.url": history, "stack.compose_file": compose_file,
                                               "stack.service": service})
    kinds = {kind: scenario_type.params_type for kind, scenario_type in REGISTRY.items()}
    suite = load_config(config, overrides, environ=os.environ, known_kinds=kinds).select(scenario or [])
    params: dict[str, Any] = {s.name: s.parse_params(REGISTRY[s.kind].params_type) for s in suite.scenarios}
    suite = dataclasses.replace(suite, deadline_s=run_deadline_s(suite, params))
    if suite.history.url:
        open_history(suite.history.url).close()  # a foreign or corrupt history fails now, before any load
    out_dir = suite.resolved_out_dir(datetime.now(UTC))
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()]  # the new ones, deepest first
    prepare_results_dir(out_dir, force)
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    watchdog = Watchdog(suite.deadline_s or 0.0)
    try:
        with watchdog:
            code = _run_and_report(suite, out_dir, quiet, watchdog, allow_remote_target, metrics_port)
    except KeyboardInterrupt:
        if watchdog.expired:  # the deadline struck outside a load run (stack start-up, reports)
            raise InfrastructureError(watchdog.message()) from None
        raise
    except HftperfError:
        for directory in created:  # nothing was measured (an unreachable target): leave no empty directory
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    if suite.history.url and code in (ExitCode.OK, ExitCode.FAILED):
        run_id = record_result(suite.history.url, load_result(out_dir), out_dir, commit_info(repo, commit, branch))
        stdout.print(f"history: run {run_id} recorded in {redact_url(suite.history.url)}")
    return code


def _run_and_report(suite: RunConfig, out_dir: Path, quiet: bool, watchdog: Watchdog,
                    allow_remote_target: bool = False, metrics_port: int | None = None) -> int:
    """Run the suite, write summary.md, print the table; the exit code says what happened."""
    from hftperf.live_metrics import SuiteMetrics, serve_metrics

    with serve_metrics(metrics_port) as metrics, \
            SuiteLive(stderr, enabled=not quiet and stderr.is_terminal, announce=not quiet) as live:
        progress = SuiteMetrics(live, metrics) if metrics is not None else live
        result = run_suite(suite, out_dir, progress=progress, allow_remote_target=allow_remote_target)
    plots = write_plots_if_available(result, out_dir, out_dir / "plots")
    try:
        (out_dir / "summary.md").write_text(render_summary(result, plots, out_dir))
    except OSError as exc:
        raise DataError(f"cannot write {out_dir / 'summary.md'}: {exc.strerror or exc}") from None
    append_step_summary(render_summary(result))
    stdout.print(render_run_table(result))
    stdout.print(f"results: {out_dir}")
    for line in result.environment.get("stack_failures") or []:
        stderr.out(f"hftperf: warning: {line}", highlight=False)
    if watchdog.expired:
        fail(watchdog.message())
        return int(ExitCode.ERROR)
    if result.interrupted:
        return int(ExitCode.INTERRUPTED)
    return int(run_exit_code(result))


def run_exit_code(result: RunResult) -> ExitCode:
    """0 all met; 1 a conclusive threshold failed (wins); 3 only inconclusive ones remain (machine too busy)."""
    conclusive_failure = any(not t.passed and not t.inconclusive
                             for s in result.scenarios if not s.interrupted for t in s.thresholds)
    if conclusive_failure:
        return ExitCode.FAILED
    if result.inconclusive:
        return ExitCode.INCONCLUSIVE
    return ExitCode.OK if result.passed else ExitCode.FAILED


def scenarios() -> None:
    """List the registered scenario kinds."""
    for kind, scenario_type in REGISTRY.items():
        stdout.print(f"[bold]{kind}[/bold]  {scenario_type.summary}")
