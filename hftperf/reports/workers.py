"""The per-load-worker table of a cluster run: who sent what, clock offsets, and who was lost."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hftperf.result import RunResult

__all__ = ["lost_worker_lines", "worker_records", "workers_table"]


def worker_records(run: RunResult) -> list[dict[str, Any]]:
    """One row per scenario and load worker (cluster runs only; empty otherwise)."""
    rows = []
    for s in run.scenarios:
        lost = {w["worker_index"]: w for w in s.figures.get("lost_workers") or []}
        for index, worker in enumerate(s.figures.get("load_workers") or []):
            gone = lost.get(index)
            rows.append({
                "scenario": s.name, "worker": worker.get("name"), "host": worker.get("host"),
                "cores": worker.get("cores"), "requests": worker.get("requests"), "ok": worker.get("ok"),
                "errors": worker.get("errors"), "clock_offset_us": worker.get("clock_offset_us"),
                "lost_after_s": gone["lost_after_s"] if gone else None,
                "not_sent_worker_lost": gone["not_sent"] if gone else 0,
            })
    return rows


def workers_table(run: RunResult) -> pd.DataFrame:
    """The rows as text: requests and answers each worker reported, its clock offset, its status."""
    rows = []
    for r in worker_records(run):
        status = "ok" if r["lost_after_s"] is None else (
            f"LOST after {r['lost_after_s']:.1f} s, {r['not_sent_worker_lost']:,} not sent")
        offset = r["clock_offset_us"]
        rows.append({"scenario": r["scenario"], "worker": str(r["worker"]), "host": str(r["host"]),
                     "cores": str(r["cores"]), "requests": f"{r['requests'] or 0:,}", "ok": f"{r['ok'] or 0:,}",
                     "errors": f"{r['errors'] or 0:,}",
                     "clock offset": "-" if offset is None else f"{offset / 1000:+.3f} ms", "status": status})
    columns = ["scenario", "worker", "host", "cores", "requests", "ok", "errors", "clock offset", "status"]
    return pd.DataFrame(rows, columns=columns)


def lost_worker_lines(run: RunResult) -> list[str]:
    """One sentence per lost worker, naming it."""
    return [f"Load worker {w['name']} was lost {w['lost_after_s']:.1f} s into {s.name}: {w['not_sent']:,} requests "
            f"it was due to send are counted as not sent (worker lost)."
            for s in run.scenarios for w in s.figures.get("lost_workers") or []]
