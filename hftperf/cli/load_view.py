"""Rich rendering for load runs: the live progress line and the final results table."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from hftperf.cli.console import LiveLine
from hftperf.loadgen import IntervalReport, LoadPlan, LoadResult, RequestSpec
from hftperf.redact import redact_url
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


def render_result_table(result: LoadResult, redact: Iterable[str] = ()) -> Group:
    """The end-of-run table: requests, errors by class, throughput, latency percentiles.

    The title's URL is redacted (userinfo, credential-like query values, ``redact`` names).
    """
    plan = result.plan
    mode = _mode(plan)
    spec = plan.request
    sent = f"{spec.method} {redact_url(spec.url, redact)}" if isinstance(spec, RequestSpec) else spec.describe()
    title = (f"{sent} — {mode}, {plan.connections} connections, "
             f"{plan.workers} worker{'s' if plan.workers > 1 else ''}, {result.duration_s:.1f}s")
    if result.executor != "local":
        title += f" on cluster {result.executor}"
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
    if result.not_sent_worker_lost:
        table.add_row("  of which: worker lost", f"{result.not_sent_worker_lost:,}")
    for lost in result.lost_workers:
        table.add_row("[red]lost worker[/red]", f"{lost['name']} after {lost['lost_after_s']:.1f}s")
    if result.censored:
        table.add_row("latencies that are lower bounds", f"{result.censored:,}")
    table.add_row("throughput", format_rate(result.throughput_rps))
    if result.latency.total_count:
        summary = result.latency.summary_us()
        for key, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"),
                           ("max", "max"), ("mean", "mean")):
            table.add_row(f"latency {label}", format_duration_us(summary[key]))
    if result.pacer_lag is not None and result.pacer_lag.total_count:
        table.add_row("pacer lag p99", format_duration_us(result.pacer_lag.value_at_percentile(99)))
    if result.connection_wait is not None and result.connection_waits:
        table.add_row("waited for a connection", f"{result.connection_waits:,} "
                      f"(p99 {format_duration_us(result.connection_wait.value_at_percentile(99))})")
    for name, part in result.server_timing.items():
        if part.total_count:
            table.add_row(f"server-timing {name} p50 / p99",
                          f"{format_duration_us(part.value_at_percentile(50))} / "
                          f"{format_duration_us(part.value_at_percentile(99))}")
    if result.latency.out_of_range_count:
        table.add_row("out of histogram range", f"{result.latency.out_of_range_count:,}")
    for stage in result.stages:  # asked against sent, per stage (counted by intended time)
        asked = stage.stage
        p99 = format_duration_us(stage.latency.value_at_percentile(99)) if stage.latency.total_count else "-"
        table.add_row(f"stage {stage.index}: {'ramp to ' if asked.ramp else ''}{format_rate(asked.rate_per_s)} "
                      f"for {asked.duration_s:g}s",
                      f"{stage.expected_requests:,.0f} due, {stage.sent:,} sent, {stage.ok:,} ok, "
                      f"{stage.failed:,} failed, p99 {p99}")
    if result.interrupted:
        table.add_row("status", "[yellow]interrupted[/yellow]")
    return Group(Text(title, style="bold"), table)


def _mode(plan: LoadPlan) -> str:
    """How the plan paces: ``closed loop``, ``open loop at 500/s``, ``open loop in 2 stages``."""
    if plan.stages:
        return f"open loop in {len(plan.stages)} stage{'s' if len(plan.stages) > 1 else ''}"
    return f"open loop at {format_rate(plan.rate_per_s)}" if plan.rate_per_s else "closed loop"
