"""The full markdown performance report (``hftperf report``, ``summary.md``), sections 1–8 of issue 5."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from hftperf.instrument import inconclusive_reason
from hftperf.reports import model, workers, workload
from hftperf.result import RunResult

__all__ = ["PlotLinks", "markdown_table", "render_markdown"]

PlotLinks = Mapping[str, Mapping[str, Path]]  # scenario → plot kind ("percentiles", ...) → PNG file

_SCENARIO_RIGHT = ("requests", "error rate", "throughput", "p50", "p90", "p99", "p99.9", "max")
_SHARE_RIGHT = ("p50 time", "p50 share", "p99 time", "p99 share")
SECTIONS = ("Targets", "Scenarios", "Capacity", "Complexity", "Bottleneck analysis", "Instrument quality",
            "Environment")


def markdown_table(frame: pd.DataFrame, right: tuple[str, ...] = ()) -> list[str]:
    """A GitHub markdown table of a DataFrame of strings (columns in ``right`` right-aligned)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---:" if c in right else "---" for c in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def _link(path: Path, base_dir: Path | None) -> str:
    """The plot path relative to the folder of the markdown file (POSIX separators)."""
    target = os.path.relpath(Path(path).resolve(), (base_dir or Path.cwd()).resolve())
    return Path(target).as_posix()


def _image(plots: PlotLinks, scenario: str, kind: str, title: str, base_dir: Path | None) -> list[str]:
    path = plots.get(scenario, {}).get(kind)
    return [f"![{title}]({_link(path, base_dir)})", ""] if path is not None else []


def _header(run: RunResult) -> list[str]:
    date = run.started_at[:10]
    return [f"# hftperf performance report — {run.label}", "",
            f"Date: {date} (run {run.started_at} → {run.ended_at}), label `{run.label}`", "",
            f"**Verdict: {model.verdict_line(run)}**", "", *_stack_failures(run)]


def _stack_failures(run: RunResult) -> list[str]:
    """The services of the stack that died during the run, with their last log lines (compose backend)."""
    failures = run.environment.get("stack_failures") or []
    if not failures:
        return []
    return ["**Stack services that stopped during the run:**", "", *[f"- {line}" for line in failures], ""]


def _scenarios(run: RunResult, plots: PlotLinks, base_dir: Path | None) -> list[str]:
    lines = [*markdown_table(model.scenario_table(run), right=_SCENARIO_RIGHT), ""]
    lines += _what_went_wrong(run)
    for s in run.scenarios:
        links = [f"[{kind} plot]({_link(path, base_dir)})" for kind, path in plots.get(s.name, {}).items()]
        if links:
            lines.append(f"- {s.name}: " + ", ".join(links))
    return lines + ([""] if plots else [])


def _what_went_wrong(run: RunResult) -> list[str]:
    """One line per scenario with failed or unanswered requests: the error classes, in flight, interrupted."""
    lines = []
    for s in run.scenarios:
        problems = [f"{name} {count:,}" for name, count in sorted(s.errors.items()) if count]
        if s.in_flight:
            problems.append(f"{s.in_flight:,} unanswered at the end (in flight)")
        censored = s.figures.get("censored")
        if censored:
            problems.append(f"{censored:,} latencies are lower bounds (unanswered or never sent by the cut-off)")
        if s.inconclusive:
            problems.append(f"INCONCLUSIVE: {inconclusive_reason(s).removesuffix('; results INCONCLUSIVE')}")
        if s.figures.get("retry"):
            problems.append(f"kept the inconclusive attempt, {s.figures['retry']}")
        if s.interrupted:
            problems.append("interrupted before the end")
        if problems:
            lines.append(f"- {s.name}: " + ", ".join(problems))
    return [*lines, ""] if lines else []


def _capacity(run: RunResult, plots: PlotLinks, base_dir: Path | None) -> list[str]:
    records = model.capacity_records(run)
    if not records:
        return ["No capacity scenario in this run.", ""]
    lines: list[str] = []
    for record in records:
        lines += [f"### {record['scenario']}", "",
                  f"Capacity {model.capacity_summary(record)}.", ""]
        lines += [*markdown_table(model.capacity_table(record), right=("offered rate", "throughput", "p50", "p99")), ""]
        lines += _image(plots, record["scenario"], "capacity", f"{record['scenario']} capacity curve", base_dir)
    return lines


def _complexity(run: RunResult) -> list[str]:
    records = model.complexity_records(run)
    if not records:
        return ["No complexity scenario in this run.", ""]
    lines: list[str] = []
    for record in records:
        lines += [f"### {record['scenario']}", "", f"Fitted class: **{record['complexity']}**. "
                  "Median (p99) latency per operation against book depth:", ""]
        lines += [*markdown_table(model.complexity_table(record)), ""]
        lines += [*markdown_table(model.complexity_fit_table(record)), ""]
    return lines


def _bottlenecks(run: RunResult) -> list[str]:
    items = model.bottlenecks(run)
    if not items:
        return ["No Server-Timing breakdown in this run.", ""]
    lines: list[str] = []
    for item in items:
        lines += [f"### {item.scenario}", "", f"**{item.sentence}**", ""]
        lines += [*markdown_table(model.bottleneck_table(item), right=_SHARE_RIGHT), ""]
    return lines


def _instrument(run: RunResult) -> list[str]:
    table = model.instrument_table(run)
    if table.empty:
        return ["No open-loop scenario in this run (pacer lag and connection wait apply to open loop only).", ""]
    right = ("pacer-lag p99", "bound", "waited for a connection", "wait p99", "never sent")
    lines = [*markdown_table(table, right=right), ""]
    for diagnosis, text in zip(model.diagnoses(run), model.instrument_warnings(run), strict=True):
        lines += [f"- {text}" if diagnosis.state == "ok" else f"> ⚠️ {text}", ""]
        if diagnosis.state != "ok" and diagnosis.intervals:
            lines += [f"  Per interval (start: load generator CPU / machine load): {diagnosis.interval_evidence()}", ""]
    return lines


def _workload(run: RunResult) -> list[str]:
    """What each scenario really sent, when it reported it (order flows, plug-ins' own figures)."""
    records = workload.workload_records(run)
    if not records:
        return []
    lines = ["## Workload sent", ""]
    for record in records:
        api = f" (API profile `{record['api']}`)" if record["api"] else ""
        lines += [f"### {record['scenario']}{api}", ""]
        table = workload.operations_table(record)
        if not table.empty:
            lines += [*markdown_table(table, right=("asked", "sent", "ok", "failed", "p50", "p99", "max")), ""]
        lines += [*(f"- {line}" for line in workload.summary_lines(record)), ""]
    return lines


def render_markdown(run: RunResult, plots: PlotLinks | None = None, base_dir: Path | None = None) -> str:
    """The report as markdown; plot links are relative to ``base_dir`` (the markdown file's folder)."""
    plots = plots or {}
    lines = _header(run)
    lines += ["## Targets", "", *markdown_table(model.targets_table(run), right=("observed", "headroom")), ""]
    lines += ["## Scenarios", "", *_scenarios(run, plots, base_dir)]
    lines += _workload(run)
    lines += ["## Capacity", "", *_capacity(run, plots, base_dir)]
    lines += ["## Complexity", "", *_complexity(run)]
    lines += ["## Bottleneck analysis", "", *_bottlenecks(run)]
    lines += ["## Instrument quality", "", *_instrument(run)]
    table = workers.workers_table(run)
    if not table.empty:  # a cluster run: what each load worker did
        lost = [f"> ⚠️ {text}" for text in workers.lost_worker_lines(run)]
        lines += ["## Load workers", "", *markdown_table(table, right=("cores", "requests", "ok", "errors",
                                                                       "clock offset")), "", *lost]
        lines += [""] if lost else []
    lines += ["## Environment", "", *markdown_table(model.environment_table(run))]
    return "\n".join(lines) + "\n"
