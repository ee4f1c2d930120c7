"""``summary.md`` written next to result.json by ``hftperf run``: the full markdown report."""

from __future__ import annotations

from pathlib import Path

from hftperf.reports.markdown import PlotLinks, render_markdown
from hftperf.result import RunResult

__all__ = ["render_summary"]


def render_summary(run: RunResult, plots: PlotLinks | None = None, base_dir: Path | None = None) -> str:
    """The full report (see :mod:`hftperf.reports.markdown`); plot links relative to ``base_dir``."""
    return render_markdown(run, plots, base_dir)
