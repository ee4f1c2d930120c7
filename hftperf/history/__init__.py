"""Results across commits: a history database, series per metric, change points, trend plots.

``open_history(url)`` opens (or creates) the store; ``record_result`` appends a results directory;
``series.analysed_series`` builds a metric's series per machine and config with its change points.
"""

from __future__ import annotations

from pathlib import Path

from hftperf.history.record import CommitInfo, commit_info, run_rows
from hftperf.history.store import HistoryStore, open_history
from hftperf.result import RunResult

__all__ = ["CommitInfo", "HistoryStore", "commit_info", "open_history", "record_result"]


def record_result(url: str, run: RunResult, results_dir: Path | None, commit: CommitInfo,
                  source: str = "run") -> int:
    """Append ``run`` to the history at ``url``; returns the new run's id."""
    row, metrics = run_rows(run, results_dir, commit, source)
    with open_history(url) as store:
        return store.add_run(row, metrics)
