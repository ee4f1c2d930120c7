"""Rich rendering for ``hftperf run``: live progress per scenario and the final verdict table."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from hftperf.cli.console import LiveLine
from hftperf.config import ScenarioConfig
from hftperf.instrument import machine_starved
from hftperf.loadgen import IntervalReport
from hftperf.result import RunResult, ScenarioResult
from hftperf.thresholds import format_figure
from hftperf.units import format_duration_us, format_rate

__all__ = ["SuiteLive", "render_run_table"]

_STATUS_STYLE = {"MEETS": "[green]{}[/green]", "FAILS": "[red]{}[/red]", "INCONCLUSIVE": "[yellow]{}[/yellow]"}


class SuiteLive(LiveLine):
    """Live line: scenario i/N, elapsed and expected time, current req/s and errors."""

    def __init__(self, console: Console, enabled: bool, announce: bool = True) -> None:
        super().__init__(console, enabled)
        self.announce = announce  # one line per finished scenario
        self._title = ""
        self._started = 0.0
        self._expected_s = 0.0
        self._errors = 0

    def scenario_started(self, config: ScenarioConfig, index: int, total: int, repeat_index: int) -> None:
        """Show which scenario runs now."""
        repeat = f" (repeat {repeat_index + 1})" if repeat_index else ""
        self._title = f"[{index + 1}/{total}] {config.name}{repeat}"
        self._started = time.monotonic()
        self._expected_s = config.warmup_s + config.duration_s
        self._errors = 0
        self.show(f"{self._title}  warming up…")

    def stack_line(self, text: str) -> None:
        """Show what the stack is doing while it builds and starts (compose backend)."""
        self.show(f"stack: {text[:120]}")

    def interval(self, report: IntervalReport) -> None:
        """Show the newest interval's rate and the errors so far."""
        if not self.active:
            return
        record = report.record
        self._errors += sum(record.errors.values())
        rate = record.ok / record.length_s if record.length_s > 0 else 0.0
        elapsed = time.monotonic() - self._started
        self.show(f"{self._title}  {elapsed:5.1f}s / ~{self._expected_s:.0f}s  "
                  f"{format_rate(rate):>10}  errors {self._errors:,}")

    def scenario_finished(self, result: ScenarioResult) -> None:
        """Print one line per finished scenario above the live line."""
        if not self.announce:
            return
        status = "[green]MEETS[/green]" if result.passed else "[red]FAILS[/red]"
        if result.inconclusive:
            why = "machine starved" if machine_starved(result) else "load generator fell behind"
            status = f"[yellow]INCONCLUSIVE[/yellow] ({why})"
        self.console.print(f"{status}  {result.name}  {result.requests:,} requests", highlight=False)


def render_run_table(run: RunResult) -> Group:
    """Each scenario's figures and thresholds: MEETS / FAILS with headroom."""
    table = Table(title_justify="left")
    for column in ("scenario", "requests", "errors", "throughput", "p50", "p99", "threshold", "observed",
                   "status", "headroom"):
        table.add_column(column, justify="left" if column in ("scenario", "threshold", "status") else "right")
    for s in run.scenarios:
        lat = s.latency_us or {}
        figures = [s.name, f"{s.requests:,}", f"{sum(s.errors.values()):,}", format_rate(s.throughput_rps),
                   format_duration_us(lat["p50"]) if "p50" in lat else "-",
                   format_duration_us(lat["p99"]) if "p99" in lat else "-"]
        rows = s.thresholds or ()
        if not rows:
            table.add_row(*figures, "-", "-", "-", "-")
        for i, t in enumerate(rows):
            left = figures if i == 0 else [""] * len(figures)
            status = _STATUS_STYLE[t.status].format(t.status)
            headroom = f"{t.headroom_pct:+.0f}%" if t.headroom_pct is not None else "-"
            table.add_row(*left, f"{t.metric} {t.limit}", format_figure(t.metric, t.observed), status, headroom)
    failed = sum(1 for s in run.scenarios for t in s.thresholds if t.status == "FAILS")
    inconclusive = sum(1 for s in run.scenarios for t in s.thresholds if t.inconclusive)
    if run.interrupted:
        verdict = Text("interrupted: partial results", style="yellow bold")
    elif failed:
        verdict = Text(f"{failed} threshold(s) failed", style="red bold")
    elif inconclusive:
        verdict = Text(f"{inconclusive} threshold(s) INCONCLUSIVE: the load generator fell behind "
                       "(machine too busy)", style="yellow bold")
    else:
        verdict = Text("all thresholds met", style="green bold")
    return Group(table, verdict)
