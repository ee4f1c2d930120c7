"""Rich rendering for load runs: the live progress line and the final results table."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from hftperf.cli.console import LiveLine
from hftperf.loadgen import IntervalReport, LoadPlan, LoadResult
from hftperf.units import format_duration_us, format_rate

__all__ = ["LiveProgress", "render_result_table"]


class LiveProgress(LiveLine):
    """One live status line: elapsed/total, current req/s, p99 and errors of the last interval."""

    def __init__(self, console: Console, plan: LoadPlan, enabled: bool) -> None:
        super().__init__(console, enabled, initial="warming up…")
        self.plan = plan
        self._errors = 0

    def update(self, report: IntervalReport) -> None:
        """Show the newest interval."""
        if not self.active:
            return
        record = report.record
        self._errors += sum(record.errors.values())
        rate = record.ok / record.length_s if record.length_s > 0 else 0.0
        elapsed = record.start_s + record.length_s
        p99 = format_duration_us(report.latency.value_at_percentile(99)) if report.latency.total_count else "-"
        line = (f"{elapsed:5.1f}s / {self.plan.duration_s:g}s   {format_rate(rate):>12}   "
                f"p99 {p99:>9}   errors {self._errors:,}")
        self.show(line)


def render_result_table(result: LoadResult) -> Group:
    """The end-of-run table: requests, errors by class, throughput, latency percentiles."""
    plan = result.plan
    mode = f"open loop at {format_rate(plan.rate_per_s)}" if plan.rate_per_s else "closed loop"
    title = (f"{plan.request.method} {plan.request.url} — {mode}, {plan.connections} connections, "
             f"{plan.workers} worker{'s' if plan.workers > 1 else ''}, {result.duration_s:.1f}s")
    table = Table(show_header=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    table.add_row("requests", f"{result.requests:,}")
    table.add_row("ok", f"{result.ok:,}")
    for name, count in sorted(result.errors.items()):
        table.add_row(f"errors: {name}", f"{count:,}")
    if result.in_flight:
        table.add_row("in flight at end", f"{result.in_flight:,}")
    if result.not_sent:
        table.add_row("due but not sent", f"{result.not_sent:,}")
    table.add_row("throughput", format_rate(result.throughput_rps))
    if result.latency.total_count:
        summary = result.latency.summary_us()
        for key, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"),
                           ("max", "max"), ("mean", "mean")):
            table.add_row(f"latency {label}", format_duration_us(summary[key]))
    if result.schedule_lag is not None and result.schedule_lag.total_count:
        table.add_row("schedule lag p99", format_duration_us(result.schedule_lag.value_at_percentile(99)))
    for name, part in result.server_timing.items():
        if part.total_count:
            table.add_row(f"server-timing {name} p50 / p99",
                          f"{format_duration_us(part.value_at_percentile(50))} / "
                          f"{format_duration_us(part.value_at_percentile(99))}")
    if result.latency.out_of_range_count:
        table.add_row("out of histogram range", f"{result.latency.out_of_range_count:,}")
    if result.interrupted:
        table.add_row("status", "[yellow]interrupted[/yellow]")
    return Group(Text(title, style="bold"), table)
