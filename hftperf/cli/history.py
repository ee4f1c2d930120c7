"""``hftperf history``: runs across commits, a metric's series and change points, the CI gate on them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hftperf.cli.console import stdout
from hftperf.cli.options import check_alpha, choice
from hftperf.compare.metrics import Tolerances, canonical_metric, parse_tolerances
from hftperf.errors import ExitCode, UsageError
from hftperf.history import HistoryStore, commit_info, open_history, record_result
from hftperf.history.render import change_line, series_json, series_markdown, trend_plot, write_html
from hftperf.history.series import Series, analysed_series, newest_regression
from hftperf.redact import redact_url
from hftperf.result import load_result

__all__ = ["app"]

app = typer.Typer(help="Results across commits: list runs, show a metric's trend and change points, gate CI.",
                  no_args_is_help=True)

_HELP_URL = "History database: a SQLite file or a postgresql:// URL (default $HFTPERF_HISTORY)"
HistoryOpt = Annotated[str | None, typer.Option("--history", help=_HELP_URL)]
FormatOpt = Annotated[str, typer.Option("--format", help="table, markdown or json",
                                        callback=choice("table", "markdown", "json"))]
ToleranceOpt = Annotated[list[str] | None, typer.Option("--tolerance", "-t", help="METRIC=PCT (compare's defaults)")]
AlphaOpt = Annotated[float, typer.Option("--alpha", callback=check_alpha, help="Significance level")]


def _store(url: str | None) -> HistoryStore:
    chosen = url or os.environ.get("HFTPERF_HISTORY")
    if not chosen:
        raise UsageError("--history: no history given; pass --history FILE or set HFTPERF_HISTORY")
    if "://" not in chosen and not Path(chosen).exists():
        raise UsageError(f"--history {chosen}: no such history file")
    return open_history(chosen)


def _split(name: str) -> tuple[str, str]:
    scenario, sep, metric = name.rpartition(".")
    if not sep or not scenario:
        raise UsageError(f"SCENARIO.METRIC {name!r}: expected a scenario name and a metric, e.g. NAME.p99")
    try:
        return scenario, canonical_metric(metric)
    except ValueError as exc:
        raise UsageError(f"SCENARIO.METRIC {name!r}: {exc}") from None


def _series(store: HistoryStore, scenario: str, metric: str, tolerance: list[str] | None, alpha: float,
            branch: str | None, machine: str | None) -> list[Series]:
    tolerances = Tolerances().with_overrides(parse_tolerances(tolerance or [], "--tolerance"))
    found = analysed_series(store.runs(branch=branch, machine=machine), store.metrics(scenario, metric),
                            scenario, metric, tolerances.of(metric), alpha)
    if not found:
        raise UsageError(f"{scenario}.{metric}: not in the history {store.where}"
                         + (f" (branch {branch})" if branch else "") + (f" (machine {machine})" if machine else ""))
    return found


@app.command()
def add(
    result_dir: Annotated[Path, typer.Argument(help="Results directory of a run (or its result.json)")],
    history: HistoryOpt = None,
    commit: Annotated[str | None, typer.Option("--commit", help="The target's commit (default: HEAD)")] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="The target's branch")] = None,
    repo: Annotated[Path, typer.Option("--repo", help="The target's git checkout")] = Path("."),
) -> None:
    """Append a results directory written earlier (``hftperf run --history`` does this itself)."""
    chosen = history or os.environ.get("HFTPERF_HISTORY")
    if not chosen:
        raise UsageError("--history: no history given; pass --history FILE or set HFTPERF_HISTORY")
    run = load_result(result_dir)
    results_dir = result_dir if result_dir.is_dir() else result_dir.parent
    run_id = record_result(chosen, run, results_dir, commit_info(repo, commit, branch))
    stdout.print(f"history: run {run_id} recorded in {redact_url(chosen)}", highlight=False)


@app.command("list")
def list_runs(
    history: HistoryOpt = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch")] = None,
    machine: Annotated[str | None, typer.Option("--machine", help="Only this machine fingerprint")] = None,
    config: Annotated[str | None, typer.Option("--config-hash", help="Only this config hash (prefix)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """The recorded runs, oldest first."""
    with _store(history) as store:
        runs = store.runs(branch=branch, machine=machine, config_hash=config)
    if fmt == "json":
        stdout.file.write(json.dumps({"schema": "hftperf.history-runs/1", "runs": [vars(r) for r in runs]}) + "\n")
        return
    columns = ("id", "recorded", "commit", "branch", "machine", "config", "label", "subject")
    rows = [(str(r.id), r.recorded_at[:19], (r.commit_sha or "-")[:10], r.branch or "-", r.machine, r.config_hash,
             r.label or "-", r.commit_subject or "") for r in runs]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        stdout.file.write("\n".join(lines) + "\n")
        return
    table = Table(title=f"history {store.where}: {len(runs)} run(s)", title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    stdout.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="SCENARIO.METRIC, e.g. order-latency.p99")],
    history: HistoryOpt = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch")] = None,
    machine: Annotated[str | None, typer.Option("--machine", help="Only this machine fingerprint")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the trend PNG(s) here (one per machine)")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write one page of every metric of SCENARIO")] = None,
    fmt: FormatOpt = "table",
    tolerance: ToleranceOpt = None,
    alpha: AlphaOpt = 0.05,
) -> None:
    """A metric per commit, per machine and config, with its change points."""
    scenario, metric = _split(name)
    with _store(history) as store:
        found = _series(store, scenario, metric, tolerance, alpha, branch, machine)
        every = ([s for m in sorted({r.metric for r in store.metrics(scenario)})
                  for s in _series(store, scenario, m, tolerance, alpha, branch, machine)] if html else [])
    if plot is not None:
        for i, series in enumerate(found):
            trend_plot(series, plot if len(found) == 1 else plot.with_name(f"{plot.stem}-{i + 1}{plot.suffix}"))
    if html is not None:
        with tempfile.TemporaryDirectory(prefix="hftperf-history-") as work:
            write_html(every, html, Path(work))
    if fmt == "json":
        stdout.file.write(json.dumps([series_json(s) for s in found]) + "\n")
    elif fmt == "markdown":
        stdout.file.write("\n".join(series_markdown(s) for s in found))
    else:
        for series in found:
            stdout.file.write(series_markdown(series) + "\n")


@app.command()
def check(
    names: Annotated[list[str], typer.Argument(help="SCENARIO.METRIC ... to check")],
    history: HistoryOpt = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only this branch")] = None,
    machine: Annotated[str | None, typer.Option("--machine", help="Only this machine fingerprint")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression",
                                                     help="Exit 1 on a regression at the newest commit")] = False,
    tolerance: ToleranceOpt = None,
    alpha: AlphaOpt = 0.05,
) -> int:
    """Is there a change point at the newest commit, larger than the metric's tolerance?"""
    regressions = 0
    with _store(history) as store:
        for name in names:
            scenario, metric = _split(name)
            for series in _series(store, scenario, metric, tolerance, alpha, branch, machine):
                change = newest_regression(series)
                newest = series.points[-1].label
                if change is None:
                    stdout.print(f"{scenario} {metric} (machine {series.machine}): no regression at {newest}",
                                 highlight=False)
                else:
                    regressions += 1
                    stdout.print(f"REGRESSION {change_line(series, change)}", highlight=False)
    return int(ExitCode.FAILED if regressions and fail_on_regression else ExitCode.OK)
