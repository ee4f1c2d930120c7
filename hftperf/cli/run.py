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
from hftperf.cli.run_view import SuiteLive, render_run_table
from hftperf.config import RunConfig, load_config
from hftperf.deadline import run_deadline_s
from hftperf.errors import ConfigError, DataError, ExitCode, InfrastructureError
from hftperf.reports import write_plots_if_available
from hftperf.reports.summary import render_summary
from hftperf.scenarios import REGISTRY
from hftperf.suite import run_suite

__all__ = ["run", "scenarios"]

DEFAULT_CONFIG = Path("configs/default.toml")
_HELP_DEADLINE = "Stop the whole run after this long (exit 2), e.g. 10m; default: planned time x 1.5 + 2m"


def _overrides(**values: object) -> dict[str, object]:
    return {key: value for key, value in values.items() if value is not None}


def run(
    config: Annotated[Path, typer.Option("--config", "-f", help="Suite configuration (TOML)")] = DEFAULT_CONFIG,
    target: Annotated[str | None, typer.Option("--target", help="Benchmark this running service (http URL)")] = None,
    grpc_target: Annotated[str | None, typer.Option("--grpc-target", help="Engine HOST:PORT (gRPC)")] = None,
    stack: Annotated[str | None, typer.Option("--stack", help="local or docker: start the bundled stack; none")] = None,
    scenario: Annotated[list[str] | None, typer.Option("--scenario", "-s", help="Run only this scenario")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results directory")] = None,
    duration_scale: Annotated[float | None, typer.Option("--duration-scale", help="Multiply durations")] = None,
    repeat: Annotated[int | None, typer.Option("--repeat", help="Run the suite N times")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Names the run and its directory")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress")] = False,
    deadline: Annotated[str | None, typer.Option("--deadline", help=_HELP_DEADLINE)] = None,
) -> int:
    """Run the suite against the bundled stack (or --target); exit 0 all targets met, 1 not, 2 error."""
    if not config.exists() and config == DEFAULT_CONFIG:
        raise ConfigError(f"{config}: not found; run from a checkout of hftperf or pass --config FILE")
    overrides = _overrides(target=target, grpc_target=grpc_target, stack=stack, out=out,
                           duration_scale=duration_scale, repeat=repeat, label=label, deadline=deadline)
    kinds = {kind: scenario_type.params_type for kind, scenario_type in REGISTRY.items()}
    suite = load_config(config, overrides, environ=os.environ, known_kinds=kinds).select(scenario or [])
    params: dict[str, Any] = {s.name: s.parse_params(REGISTRY[s.kind].params_type) for s in suite.scenarios}
    suite = dataclasses.replace(suite, deadline_s=run_deadline_s(suite, params))
    out_dir = suite.resolved_out_dir(datetime.now(UTC))
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    watchdog = Watchdog(suite.deadline_s or 0.0)
    try:
        with watchdog:
            return _run_and_report(suite, out_dir, quiet, watchdog)
    except KeyboardInterrupt:
        if watchdog.expired:  # the deadline struck outside a load run (stack start-up, reports)
            raise InfrastructureError(watchdog.message()) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)


def _run_and_report(suite: RunConfig, out_dir: Path, quiet: bool, watchdog: Watchdog) -> int:
    """Run the suite, write summary.md, print the table; the exit code says what happened."""
    with SuiteLive(stderr, enabled=not quiet and stderr.is_terminal, announce=not quiet) as live:
        result = run_suite(suite, out_dir, progress=live)
    plots = write_plots_if_available(result, out_dir, out_dir / "plots")
    try:
        (out_dir / "summary.md").write_text(render_summary(result, plots, out_dir))
    except OSError as exc:
        raise DataError(f"cannot write {out_dir / 'summary.md'}: {exc.strerror or exc}") from None
    append_step_summary(render_summary(result))
    stdout.print(render_run_table(result))
    stdout.print(f"results: {out_dir}")
    if watchdog.expired:
        fail(watchdog.message())
        return int(ExitCode.ERROR)
    if result.interrupted:
        return int(ExitCode.INTERRUPTED)
    return int(ExitCode.OK if result.passed else ExitCode.FAILED)


def scenarios() -> None:
    """List the registered scenario kinds."""
    for kind, scenario_type in REGISTRY.items():
        stdout.print(f"[bold]{kind}[/bold]  {scenario_type.summary}")
