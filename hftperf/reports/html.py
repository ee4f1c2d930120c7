"""The report as one self-contained HTML page: the same sections as markdown, plots inlined as data URIs."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from hftperf.reports import model
from hftperf.reports.markdown import PlotLinks
from hftperf.result import RunResult

__all__ = ["render_html"]

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.FAILS,.WARNING{color:#b00;font-weight:bold}.warn{color:#b00}img{max-width:100%}"""


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{html.escape(str(v))}">{html.escape(str(v))}</td>' for v in row) + "</tr>"
        for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path | None, alt: str) -> str:
    """An <img> with the PNG inlined (nothing when the plot does not exist)."""
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _p(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{html.escape(text)}</p>' if cls else f"<p>{html.escape(text)}</p>"


def _sections(run: RunResult, plots: PlotLinks) -> list[str]:
    parts = ["<h2>Targets</h2>", _table(model.targets_table(run)),
             "<h2>Scenarios</h2>", _table(model.scenario_table(run))]
    for s in run.scenarios:
        for kind, path in plots.get(s.name, {}).items():
            if kind != "capacity":
                parts.append(_img(path, f"{s.name} {kind}"))
    parts.append("<h2>Capacity</h2>")
    for record in model.capacity_records(run):
        parts += [f"<h3>{html.escape(record['scenario'])}</h3>", _p(f"Capacity {model.capacity_summary(record)}."),
                  _table(model.capacity_table(record)), _img(plots.get(record["scenario"], {}).get("capacity"),
                                                             "capacity curve")]
    parts.append("<h2>Complexity</h2>")
    for c in model.complexity_records(run):
        parts += [f"<h3>{html.escape(c['scenario'])}</h3>", _p(f"Fitted class: {c['complexity']}."),
                  _table(model.complexity_table(c)), _table(model.complexity_fit_table(c))]
    parts.append("<h2>Bottleneck analysis</h2>")
    for item in model.bottlenecks(run):
        parts += [f"<h3>{html.escape(item.scenario)}</h3>", f"<p><strong>{html.escape(item.sentence)}</strong></p>",
                  _table(model.bottleneck_table(item))]
    parts += ["<h2>Instrument quality</h2>", _table(model.instrument_table(run))]
    parts += [_p(text, "warn") for text in model.instrument_warnings(run)]
    parts += ["<h2>Environment</h2>", _table(model.environment_table(run))]
    return parts


def render_html(run: RunResult, plots: PlotLinks | None = None) -> str:
    """One HTML document with no external resources (styles inline, plots as base64 data URIs)."""
    title = f"hftperf performance report — {run.label}"
    head = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>")
    intro = [f"<h1>{html.escape(title)}</h1>",
             _p(f"Date: {run.started_at[:10]} (run {run.started_at} → {run.ended_at}), label {run.label}"),
             f"<p><strong>Verdict: {html.escape(model.verdict_line(run))}</strong></p>"]
    return head + "\n".join(intro + _sections(run, plots or {})) + "\n</body></html>\n"
