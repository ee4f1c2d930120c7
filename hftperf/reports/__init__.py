"""Reports rendered from a results directory: markdown, JSON and self-contained HTML.

``render`` is the one entry point; the figures come from :mod:`hftperf.reports.model`, the plots
from :mod:`hftperf.reports.plots` (matplotlib, imported lazily and only when available).
"""

from __future__ import annotations

import json
from pathlib import Path

from hftperf.errors import DataError, UsageError
from hftperf.result import RunResult

__all__ = ["FORMATS", "render", "write_plots_if_available"]

FORMATS = ("markdown", "json", "html")

PlotFiles = dict[str, dict[str, Path]]


def write_plots_if_available(run: RunResult, results_dir: Path, plots_dir: Path) -> PlotFiles:
    """Write the PNG plots when the plotting module is importable; {} otherwise."""
    try:
        from hftperf.reports.plots import write_plots
    except ImportError:
        return {}
    try:
        return write_plots(run, results_dir, plots_dir)
    except OSError as exc:
        raise DataError(f"cannot write plots to {plots_dir}: {exc.strerror or exc}") from None


def render(run: RunResult, fmt: str, results_dir: Path, plots_dir: Path | None, out_path: Path | None) -> str:
    """The report of ``run`` in ``fmt``; markdown links plots relative to ``out_path``'s folder."""
    from hftperf.reports import model

    if fmt == "json":
        return json.dumps(model.summary_dict(run), indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r} (choose one of {', '.join(FORMATS)})")
    plots = write_plots_if_available(run, results_dir, plots_dir) if plots_dir is not None else {}
    if fmt == "html":
        from hftperf.reports.html import render_html

        return render_html(run, plots)
    from hftperf.reports.markdown import render_markdown

    return render_markdown(run, plots, out_path.parent if out_path is not None else None)
