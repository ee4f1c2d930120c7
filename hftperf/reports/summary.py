"""The short markdown summary written next to result.json (``summary.md``)."""

from __future__ import annotations

from hftperf.result import RunResult
from hftperf.thresholds import format_figure
from hftperf.units import format_duration_us

__all__ = ["render_summary"]


def _verdict_line(run: RunResult) -> str:
    failed = sum(1 for s in run.scenarios for t in s.thresholds if not t.passed)
    total = sum(len(s.thresholds) for s in run.scenarios)
    if run.interrupted:
        return f"**Interrupted** — partial results; {failed} of {total} targets failed so far."
    if failed == 0:
        return f"**All {total} targets met.**"
    return f"**{failed} of {total} targets failed.**"


def render_summary(run: RunResult) -> str:
    """Markdown: verdict, one row per scenario, one row per threshold."""
    lines = [
        f"# hftperf run — {run.label}",
        "",
        f"{run.started_at} → {run.ended_at}, target {run.environment.get('target')} "
        f"(stack: {run.environment.get('stack')})",
        "",
        _verdict_line(run),
        "",
        "| scenario | requests | errors | throughput | p50 | p99 | p99.9 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in run.scenarios:
        lat = s.latency_us or {}
        cells = [format_duration_us(lat[k]) if k in lat else "-" for k in ("p50", "p99", "p99_9", "max")]
        lines.append(f"| {s.name} | {s.requests:,} | {sum(s.errors.values()):,} | {s.throughput_rps:,.0f}/s | "
                     + " | ".join(cells) + " |")
    lines += ["", "| scenario | metric | target | observed | status | headroom |", "|---|---|---|---:|---|---:|"]
    for s in run.scenarios:
        for t in s.thresholds:
            headroom = f"{t.headroom_pct:+.0f}%" if t.headroom_pct is not None else "-"
            status = "MEETS" if t.passed else "**FAILS**"
            lines.append(f"| {s.name} | {t.metric} | {t.limit} | {format_figure(t.metric, t.observed)} | "
                         f"{status} | {headroom} |")
    return "\n".join(lines) + "\n"
