"""History as text and pictures: change lines, markdown and JSON of a series, trend PNGs, one HTML page.

Plots use matplotlib's object API (no pyplot, no global backend), like ``hftperf.reports.plots``.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hftperf.history.series import Change, Series
from hftperf.reports.plots import latency_unit

__all__ = ["change_line", "series_json", "series_markdown", "trend_plot", "write_html"]


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in ("throughput_rps", "capacity_rps"):
        return f"{value:,.0f}/s"
    if metric == "error_rate":
        return f"{value * 100:.3f}%"
    from hftperf.units import format_duration_us

    return format_duration_us(value)


def change_line(series: Series, change: Change) -> str:
    """``orders p99 +18.2% (CI +15.0% .. +21.9%) between abc123 "subject" and def456 "subject"``."""
    e = change.estimate
    unit = " pp" if series.metric == "error_rate" else "%"
    ci = (f" (CI {e.ci_low:+.1f}{unit} .. {e.ci_high:+.1f}{unit})" if e.ci_low is not None and e.ci_high is not None
          else "")
    size = f"{e.change:+.1f}{unit}" if e.change is not None else "changed"

    def commit(p: Any) -> str:
        return f"{p.label}" + (f" \"{p.subject}\"" if p.subject else "")

    return (f"{series.scenario} {series.metric} {size}{ci} between {commit(change.before)} and "
            f"{commit(change.after)}: {change.verdict.value}")


def series_markdown(series: Series) -> str:
    """A heading, the change lines and a table of the points."""
    lines = [f"### {series.scenario} {series.metric} — machine {series.machine}, config {series.config_hash}", ""]
    lines += [f"- **{change_line(series, c)}**" for c in series.changes] or ["- no change point"]
    lines += ["", "| commit | subject | value | min | max | samples |", "|---|---|---:|---:|---:|---:|"]
    for p in series.points:
        subject = (p.subject or "").replace("|", "\\|")
        lines.append(f"| {p.label} | {subject} | {_fmt(series.metric, p.value)} | {_fmt(series.metric, p.low)} | "
                     f"{_fmt(series.metric, p.high)} | {len(p.samples)} |")
    return "\n".join(lines) + "\n"


def series_json(series: Series) -> dict[str, Any]:
    """The series as a JSON-ready dict (schema ``hftperf.history-series/1``)."""
    return {
        "schema": "hftperf.history-series/1",
        "scenario": series.scenario, "metric": series.metric, "machine": series.machine,
        "machine_details": json.loads(series.machine_json or "{}"), "config_hash": series.config_hash,
        "branch": series.branch,
        "points": [{"commit": p.commit, "subject": p.subject, "commit_time": p.commit_time, "value": p.value,
                    "min": p.low, "max": p.high, "samples": len(p.samples), "runs": list(p.run_ids)}
                   for p in series.points],
        "changes": [{"before": c.before.commit, "after": c.after.commit, "change": c.estimate.change,
                     "ci_low": c.estimate.ci_low, "ci_high": c.estimate.ci_high, "p_value": c.estimate.p_value,
                     "verdict": c.verdict.value, "text": change_line(series, c)} for c in series.changes],
    }


def trend_plot(series: Series, path: Path) -> Path:
    """The metric per commit with its spread, change points marked; PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    latency = series.metric not in ("throughput_rps", "capacity_rps", "error_rate")
    unit, per_unit = latency_unit(max((p.high for p in series.points), default=0.0)) if latency else ("", 1.0)
    figure = Figure(figsize=(10.0, 5.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = list(range(len(series.points)))
    ys = [p.value / per_unit for p in series.points]
    errors = [[max(0.0, (p.value - p.low) / per_unit) for p in series.points],
              [max(0.0, (p.high - p.value) / per_unit) for p in series.points]]
    axes.errorbar(xs, ys, yerr=errors, marker="o", capsize=4, color="tab:blue", label=f"{series.metric} (min-max)")
    for change in series.changes:
        colour = "tab:red" if change.verdict.value == "regression" else "tab:green"
        axes.axvline(change.index - 0.5, color=colour, linestyle="--",
                     label=f"{change.verdict.value} {change.estimate.change:+.1f}%"
                     if change.estimate.change is not None else change.verdict.value)
    axes.set_xticks(xs, [p.label[:8] for p in series.points], rotation=45, ha="right")
    axes.set_ylabel(f"{series.metric} ({unit})" if unit else series.metric)
    axes.set_xlabel("commit (oldest first)")
    axes.set_title(f"{series.scenario} {series.metric} on machine {series.machine}")
    axes.grid(True, alpha=0.35)
    axes.legend(loc="best")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def write_html(all_series: Sequence[Series], path: Path, work_dir: Path) -> Path:
    """One self-contained page of every series (plots inlined), like asv's site in one file."""
    sections = []
    for i, series in enumerate(all_series):
        png = trend_plot(series, work_dir / f"series-{i}.png")
        image = base64.b64encode(png.read_bytes()).decode()
        changes = "".join(f"<li>{html.escape(change_line(series, c))}</li>" for c in series.changes) or \
            "<li>no change point</li>"
        sections.append(f"<section><h2>{html.escape(series.scenario)} {html.escape(series.metric)}</h2>"
                        f"<p>machine {html.escape(series.machine)}, config {html.escape(series.config_hash)}</p>"
                        f"<ul>{changes}</ul><img alt='trend' src='data:image/png;base64,{image}'></section>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>hftperf history</title>"
            "<style>body{font-family:sans-serif;max-width:1040px;margin:auto}img{max-width:100%}</style></head>"
            f"<body><h1>hftperf history</h1>{''.join(sections) or '<p>no series</p>'}</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
