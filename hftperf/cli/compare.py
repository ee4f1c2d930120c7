"""``hftperf compare`` and ``hftperf ab``: did a change make things slower?"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hftperf.cli.compare_view import render_comparison
from hftperf.cli.console import append_step_summary, stdout
from hftperf.cli.options import check_alpha, check_compare_format
from hftperf.compare import Comparison, compare_runs
from hftperf.compare.options import load_compare_options
from hftperf.errors import ExitCode
from hftperf.reports.comparison import render_comparison_markdown

__all__ = ["compare", "exit_code", "show"]

HELP_FORMAT = "table, markdown (for a pull request) or json"
HELP_TOLERANCE = "Smallest change that counts, METRIC=PCT (e.g. p99=10%, all=3%); repeatable"
HELP_FAIL = "Exit 1 when any metric regressed (the CI gate)"
HELP_CONFIG = escape("Read [compare] (alpha, window, tolerance) from this TOML file")


def show(comparison: Comparison, fmt: str) -> None:
    """Print the comparison in ``fmt`` and append its markdown to $GITHUB_STEP_SUMMARY when set."""
    rendered = render_comparison(comparison, fmt)
    if isinstance(rendered, str):
        stdout.file.write(rendered + "\n")
        stdout.file.flush()
    else:
        stdout.print(rendered)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        append_step_summary(render_comparison_markdown(comparison))


def exit_code(comparison: Comparison, fail_on_regression: bool) -> int:
    """For a gate (``--fail-on-regression``): 1 on a regression, else 3 when a metric could not be
    judged because the instrument was starved (as ``run`` does), else 0. Without the gate: 0."""
    if not fail_on_regression:
        return int(ExitCode.OK)
    if comparison.regressions:
        return int(ExitCode.FAILED)
    return int(ExitCode.INCONCLUSIVE if comparison.inconclusive else ExitCode.OK)


def compare(
    base: Annotated[Path, typer.Argument(help="Base results directory (or its result.json)")],
    head: Annotated[Path, typer.Argument(help="Head results directory (or its result.json)")],
    fmt: Annotated[str, typer.Option("--format", help=HELP_FORMAT, callback=check_compare_format)] = "table",
    alpha: Annotated[float | None, typer.Option(
            "--alpha", callback=check_alpha,
            help="Significance level, 0 < alpha < 1 (default 0.05)")] = None,
    tolerance: Annotated[list[str] | None, typer.Option("--tolerance", "-t", help=HELP_TOLERANCE)] = None,
    config: Annotated[Path | None, typer.Option("--config", "-f", help=HELP_CONFIG)] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help=HELP_FAIL)] = False,
) -> int:
    """Compare two runs metric by metric: change, confidence interval, p-value and verdict."""
    options = load_compare_options(config, alpha, tolerance or [])
    comparison = compare_runs(base, head, tolerances=options.tolerances, alpha=options.alpha,
                              window_s=options.window_s)
    show(comparison, fmt)
    return exit_code(comparison, fail_on_regression)
