"""``hftperf report``: render a results directory as markdown, JSON or self-contained HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hftperf.cli.console import stdout
from hftperf.cli.options import check_report_format
from hftperf.errors import DataError, ExitCode
from hftperf.reports import render
from hftperf.result import load_result
from hftperf.results_dir import check_not_run_data

__all__ = ["report"]


def report(
    result_dir: Annotated[Path, typer.Argument(help="Results directory (or its result.json)")],
    fmt: Annotated[str, typer.Option(
        "--format", help="markdown, json or html", callback=check_report_format)] = "markdown",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report here, not to stdout")] = None,
    plots: Annotated[Path | None, typer.Option("--plots", help="Plots folder (default RESULT_DIR/plots)")] = None,
) -> int:
    """Render the report of a run from its results directory; exit 0, or 2 on unreadable input."""
    if out is not None:
        check_not_run_data(out, "--out")
    run = load_result(result_dir)
    if not run.scenarios:
        raise DataError(f"{result_dir}: the run holds no scenario; there is nothing to report")
    results_dir = result_dir if result_dir.is_dir() else result_dir.parent
    text = render(run, fmt, results_dir, plots or results_dir / "plots", out)
    if out is None:
        stdout.file.write(text)
        stdout.file.flush()
        return int(ExitCode.OK)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    return int(ExitCode.OK)
