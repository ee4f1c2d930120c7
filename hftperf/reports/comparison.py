"""A comparison as text: cells shared by the terminal table, and the markdown for a pull request.

Markdown order: regressions first, then improvements, then everything else folded in a
``<details>`` block, so a reviewer sees what matters without scrolling.
"""

from __future__ import annotations

from hftperf.compare.metrics import METRICS
from hftperf.compare.model import Comparison, MetricComparison
from hftperf.compare.stats import Verdict
from hftperf.metrics_catalog import display_name
from hftperf.units import format_duration_us, format_rate

__all__ = ["HEADERS", "metric_cells", "render_comparison_markdown", "summary_line"]

HEADERS = ("scenario", "metric", "base", "head", "change", "CI", "p", "tolerance", "n", "verdict")


def _value(metric: MetricComparison, value: float | None) -> str:
    if value is None:
        return "-"
    unit = METRICS[metric.metric].unit
    if unit == "us":
        return format_duration_us(value)
    if unit == "rps":
        return format_rate(value)
    return f"{value * 100:.3g}%"


def _signed(value: float | None, suffix: str) -> str:
    return "-" if value is None else f"{value:+.2f}{suffix}"


def metric_cells(metric: MetricComparison) -> tuple[str, ...]:
    """One row of the comparison table, as text (shared by markdown and the terminal)."""
    e = metric.estimate
    suffix = " pp" if metric.absolute else "%"
    interval = "-" if e.ci_low is None or e.ci_high is None else f"[{e.ci_low:+.2f}, {e.ci_high:+.2f}]{suffix}"
    p_value = "-" if metric.p_adjusted is None else f"{metric.p_adjusted:.3g}"
    tolerance = f"±{metric.tolerance:g}{suffix.strip() if metric.absolute else '%'}"
    samples = f"{e.n_base}/{e.n_head}" if metric.source != "single" else "1/1"
    return (metric.scenario, display_name(metric.metric), _value(metric, e.base),
            _value(metric, e.head), _signed(e.change, suffix), interval, p_value, tolerance, samples,
            str(metric.verdict))


def summary_line(comparison: Comparison) -> str:
    """'2 regressions, 1 improvement, 40 unchanged, 3 insufficient data' (zero counts left out)."""
    counts = [(len(comparison.regressions), "regression", "regressions"),
              (len(comparison.improvements), "improvement", "improvements"),
              (len(comparison.inconclusive), "inconclusive", "inconclusive"),
              (len(comparison.with_verdict(Verdict.UNCHANGED)), "unchanged", "unchanged"),
              (len(comparison.with_verdict(Verdict.INSUFFICIENT)), "insufficient data", "insufficient data")]
    parts = [f"{n} {one if n == 1 else many}" for n, one, many in counts if n]
    return ", ".join(parts) or "nothing compared"


def _table(metrics: list[MetricComparison]) -> list[str]:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(metric_cells(m)) + " |" for m in metrics]
    return lines


def _method(comparison: Comparison) -> str:
    if comparison.mode == "ab":
        return ("interleaved rounds; Wilcoxon signed-rank on per-round changes, bootstrap CI of their "
                "median")
    return "Mann-Whitney U; bootstrap CI of the ratio of medians; error rates of single runs: Fisher's exact test"


def render_comparison_markdown(comparison: Comparison) -> str:
    """The markdown comparison for a pull-request comment or a CI step summary."""
    verdict = "**regression**" if comparison.regressions else "no regression"
    if not comparison.regressions and comparison.inconclusive:
        verdict = "**inconclusive** (a load generator fell behind)"
    lines = [
        f"### hftperf {comparison.mode}: {verdict}",
        "",
        f"base: `{comparison.base_label}` · head: `{comparison.head_label}`",
        "",
        f"{summary_line(comparison)} (alpha {comparison.alpha:g}, p-values adjusted per scenario "
        f"(Benjamini-Hochberg); {_method(comparison)}; change = head vs base)",
        "",
    ]
    for title, chosen in (("Regressions", comparison.regressions), ("Improvements", comparison.improvements)):
        if chosen:
            lines += [f"#### {title}", "", *_table(chosen), ""]
    if comparison.inconclusive:
        reasons = dict.fromkeys(f"{m.scenario}: {m.reason}" for m in comparison.inconclusive)
        lines += ["#### Inconclusive", "", *[f"- {reason}" for reason in reasons], "",
                  *_table(comparison.inconclusive), ""]
    rest = [m for m in comparison.metrics if m.verdict in (Verdict.UNCHANGED, Verdict.INSUFFICIENT)]
    if rest:
        lines += ["<details><summary>Unchanged or not testable "
                  f"({len(rest)})</summary>", "", *_table(rest), "", "</details>", ""]
    for title, names in (("Only in base", comparison.only_in_base), ("Only in head", comparison.only_in_head)):
        if names:
            lines += [f"{title} (not compared): {', '.join(f'`{n}`' for n in names)}", ""]
    if comparison.warnings:
        lines += ["Warnings:", "", *[f"- {w}" for w in comparison.warnings], ""]
    return "\n".join(lines)
