"""The ``hftperf`` Typer application: each command lives in its own thin module.

A command parses options, builds typed objects, calls one library function and maps the
outcome to an exit code. Errors from ``hftperf.errors`` become one line on stderr and exit 2.
"""

from __future__ import annotations

import sys

import typer

from hftperf.cli import ab as _ab
from hftperf.cli import api as _api
from hftperf.cli import bisect as _bisect
from hftperf.cli import compare as _compare
from hftperf.cli import grpc as _grpc
from hftperf.cli import history as _history
from hftperf.cli import load as _load
from hftperf.cli import report as _report
from hftperf.cli import run as _run
from hftperf.cli import stack as _stack
from hftperf.cli.console import run_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="hftperf",
    help="Benchmark and performance-regression toolkit for trading-platform services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Explicit registry of commands: one line per command module.
app.command("run")(_run.run)
app.command("scenarios")(_run.scenarios)
app.command("load")(_load.load)
app.command("report")(_report.report)
app.command("compare")(_compare.compare)
app.command("ab")(_ab.ab)
app.command("bisect")(_bisect.bisect)
app.add_typer(_stack.app, name="stack")
app.add_typer(_history.app, name="history")
app.add_typer(_api.app, name="api")
app.add_typer(_grpc.app, name="grpc")


def main() -> None:
    """Console-script entry point: run the app and turn hftperf errors into exit codes."""
    sys.exit(run_command(app))
