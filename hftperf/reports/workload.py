"""What each scenario really sent: per-operation latency and the realised mix against the asked one,
outcomes and workload warnings (order flows), and the figures a scenario of its own asks to show.

Reads only ``figures`` keys a scenario wrote for the report: ``operations`` + ``mix_asked`` +
``mix_sent`` (the order flows of any API profile) and ``summary`` (name -> text, any scenario,
plug-ins included). Nothing here knows a scenario kind.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from hftperf.result import RunResult
from hftperf.units import format_duration_us

__all__ = ["operations_table", "summary_lines", "workload_records"]


def workload_records(run: RunResult) -> list[dict[str, Any]]:
    """One record per scenario that reported its workload."""
    rows = []
    for s in run.scenarios:
        figures = s.figures
        if "operations" not in figures and "summary" not in figures:
            continue
        rows.append({
            "scenario": s.name, "api": figures.get("api"), "operations": figures.get("operations") or {},
            "mix_asked": figures.get("mix_asked") or {}, "mix_sent": figures.get("mix_sent") or {},
            "outcomes": figures.get("outcomes") or {},
            "turns_without_resting_order": figures.get("turns_without_resting_order") or {},
            "warnings": list(figures.get("workload_warnings") or []), "summary": figures.get("summary") or {},
        })
    return rows


def _us(value: Any) -> str:
    return format_duration_us(float(value)) if isinstance(value, int | float) else "-"


def operations_table(record: dict[str, Any]) -> pd.DataFrame:
    """Operation | asked | sent | ok | failed | p50 | p99 | max."""
    rows = []
    for op, figures in record["operations"].items():
        asked, sent_share = record["mix_asked"].get(op, 0.0), record["mix_sent"].get(op, 0.0)
        if not figures.get("sent") and not asked:
            continue
        latency = figures.get("latency_us") or {}
        failed = figures.get("failed")
        rows.append({"operation": op, "asked": f"{asked:.1%}", "sent": f"{figures.get('sent', 0):,} ({sent_share:.1%})",
                     "ok": f"{figures.get('answered_ok', 0):,}", "failed": "-" if failed is None else f"{failed:,}",
                     "p50": _us(latency.get("p50")), "p99": _us(latency.get("p99")), "max": _us(latency.get("max"))})
    return pd.DataFrame(rows, columns=["operation", "asked", "sent", "ok", "failed", "p50", "p99", "max"])


def summary_lines(record: dict[str, Any]) -> list[str]:
    """Outcomes, turns that found nothing to act on, the scenario's own figures, and warnings."""
    lines = []
    if record["outcomes"]:
        lines.append("Outcomes of accepted submits: " + ", ".join(f"{k} {v:,}" for k, v in
                                                                   sorted(record["outcomes"].items())))
    turns = {k: v for k, v in record["turns_without_resting_order"].items() if v}
    if turns:
        lines.append("Turns with no resting order to act on (sent as limit orders instead): "
                     + ", ".join(f"{k} {v:,}" for k, v in turns.items()))
    lines += [f"{name}: {value}" for name, value in record["summary"].items()]
    lines += [f"⚠️ workload differs from the one asked: {text}" for text in record["warnings"]]
    return lines
