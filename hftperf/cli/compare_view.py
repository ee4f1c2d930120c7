"""Rich rendering of a comparison, and the one place its output formats are chosen."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hftperf.compare import Comparison, Verdict
from hftperf.errors import UsageError
from hftperf.reports.comparison import HEADERS, metric_cells, render_comparison_markdown, summary_line

__all__ = ["FORMATS", "render_comparison", "render_comparison_table"]

FORMATS = ("table", "markdown", "json")
_STYLE = {Verdict.REGRESSION: "bold red", Verdict.IMPROVEMENT: "green", Verdict.UNCHANGED: "",
          Verdict.INSUFFICIENT: "dim", Verdict.INCONCLUSIVE: "yellow"}


def render_comparison_table(comparison: Comparison) -> Group:
    """The terminal table: every metric, regressions in red, improvements in green."""
    # Text, not markup: a redacted label reads "[redacted]", which rich would take for a tag and drop
    table = Table(title=Text(f"{comparison.mode}: {comparison.base_label} -> {comparison.head_label}"),
                  title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("scenario", "metric", "verdict") else "right")
    order = {Verdict.REGRESSION: 0, Verdict.INCONCLUSIVE: 1, Verdict.IMPROVEMENT: 2, Verdict.UNCHANGED: 3,
             Verdict.INSUFFICIENT: 4}
    for metric in sorted(comparison.metrics, key=lambda m: order[m.verdict]):
        table.add_row(*metric_cells(metric), style=_STYLE[metric.verdict])
    parts: list[RenderableType] = [table, Text(summary_line(comparison))]
    for title, names in (("only in base", comparison.only_in_base), ("only in head", comparison.only_in_head)):
        if names:
            parts.append(Text(f"{title} (not compared): {', '.join(names)}"))
    reasons = dict.fromkeys(f"{m.scenario}: {m.reason}" for m in comparison.inconclusive)
    parts += [Text(f"inconclusive: {reason}", style="yellow") for reason in reasons]
    parts += [Text(f"warning: {note}", style="yellow") for note in comparison.warnings]
    return Group(*parts)


def render_comparison(comparison: Comparison, fmt: str) -> RenderableType | str:
    """The comparison in ``fmt`` (table, markdown or json); UsageError for another format."""
    if fmt == "table":
        return render_comparison_table(comparison)
    if fmt == "markdown":
        return render_comparison_markdown(comparison)
    if fmt == "json":
        return json.dumps(comparison.to_dict(), indent=2)
    raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
