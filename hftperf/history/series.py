"""Series of one metric across commits, and the change points in them.

A series is one (scenario, metric) on one machine fingerprint with one config hash: series from
different machines or configs are never mixed. Runs of the same commit form one point (the
median of their values; their samples pooled). Points are in commit order (committer time, then
the order they were recorded).

Change points come from ruptures' PELT on the per-commit values with an ``l2`` cost, the penalty
set from the series' own noise (a robust estimate from successive differences, so one real step
does not inflate it): 3 sigma^2 log n, about BIC. A candidate is reported only when the samples
on either side of it differ as ``compare`` would call a change (Mann-Whitney at ``alpha`` and
the whole bootstrap interval beyond the metric's tolerance): the noise-derived penalty finds
where a step could be, the test says whether it is real and large enough to matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hftperf.compare.metrics import METRICS
from hftperf.compare.stats import Estimate, Verdict, independent, verdict
from hftperf.history.store import MetricRow, RunRow

__all__ = ["Change", "Point", "Series", "analysed_series", "build_series", "find_changes", "newest_regression"]


@dataclass(frozen=True)
class Point:
    """One commit's value in a series (several runs of one commit are pooled)."""

    commit: str | None
    subject: str | None
    commit_time: int | None
    value: float
    low: float  # spread of the samples (min and max)
    high: float
    samples: tuple[float, ...]
    run_ids: tuple[int, ...]

    @property
    def label(self) -> str:
        """The commit's short id, or the run id when the commit is unknown."""
        return self.commit[:10] if self.commit else f"run {self.run_ids[0]}"


@dataclass(frozen=True)
class Series:
    """One metric of one scenario on one machine and config, in commit order."""

    scenario: str
    metric: str
    machine: str
    config_hash: str
    branch: str | None
    points: tuple[Point, ...]
    machine_json: str = ""
    changes: tuple[Change, ...] = field(default=())


@dataclass(frozen=True)
class Change:
    """A step in a series: between ``before`` (the last commit of the old level) and ``after``."""

    index: int  # position of the first point of the new level
    before: Point
    after: Point
    estimate: Estimate
    verdict: Verdict


def build_series(runs: Sequence[RunRow], metrics: Sequence[MetricRow], scenario: str, metric: str) -> list[Series]:
    """Every series of ``scenario``.``metric``, one per (machine, config hash)."""
    by_id = {run.id: run for run in runs}
    groups: dict[tuple[str, str], list[tuple[RunRow, MetricRow]]] = {}
    for row in metrics:
        run = by_id.get(row.run_id)
        if run is None or row.scenario != scenario or row.metric != metric or row.value is None:
            continue
        groups.setdefault((run.machine, run.config_hash), []).append((run, row))
    series = []
    for (machine, config), members in groups.items():
        points = _points(members)
        branches = {run.branch for run, _ in members}
        series.append(Series(scenario, metric, machine, config, branches.pop() if len(branches) == 1 else None,
                             tuple(points), members[0][0].machine_json))
    return sorted(series, key=lambda s: (s.machine, s.config_hash))


def _points(members: list[tuple[RunRow, MetricRow]]) -> list[Point]:
    by_commit: dict[str, list[tuple[RunRow, MetricRow]]] = {}
    for run, row in members:
        by_commit.setdefault(run.commit_sha or f"\x00run{run.id}", []).append((run, row))
    points = []
    for key, rows in by_commit.items():
        run = rows[0][0]
        samples = tuple(v for _, r in rows for v in (r.samples or (r.value,)) if v is not None and math.isfinite(v))
        values = [float(r.value) for _, r in rows if r.value is not None]
        points.append(Point(None if key.startswith("\x00") else key, run.commit_subject, run.commit_time,
                            float(np.median(values)), min(samples, default=values[0]),
                            max(samples, default=values[0]), samples, tuple(r.id for r, _ in rows)))
    return sorted(points, key=lambda p: (p.commit_time if p.commit_time is not None else math.inf, p.run_ids[0]))


def noise_sigma(values: Sequence[float]) -> float:
    """A robust standard deviation of a series' noise: the MAD of successive differences / sqrt 2."""
    diffs = np.diff(np.asarray(values, dtype=float))
    if diffs.size == 0:
        return 0.0
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return 1.4826 * mad / math.sqrt(2.0)


def find_changes(series: Series, tolerance_pct: float, alpha: float = 0.05) -> tuple[Change, ...]:
    """The real steps of ``series``: PELT candidates confirmed by the comparison test."""
    points = series.points
    values = np.asarray([p.value for p in points], dtype=float)
    if values.size < 2:
        return ()
    import ruptures  # heavy: imported only when a history is analysed

    sigma = noise_sigma(values.tolist())
    scale = float(np.mean(np.abs(values))) or 1.0
    sigma = max(sigma, 1e-6 * scale)  # identical values: any candidate is left to the test
    penalty = 3.0 * sigma**2 * math.log(max(values.size, 2))
    breaks = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(values.reshape(-1, 1)).predict(pen=penalty)
    edges = [0, *breaks]
    metric = METRICS[series.metric]
    changes = []
    for i in range(1, len(edges) - 1):
        start, split, end = edges[i - 1], edges[i], edges[i + 1]
        before = [v for p in points[start:split] for v in p.samples]
        after = [v for p in points[split:end] for v in p.samples]
        estimate = independent(before, after, absolute=metric.absolute)
        called = verdict(metric, estimate, estimate.p_value, tolerance_pct, alpha)
        if called in (Verdict.REGRESSION, Verdict.IMPROVEMENT):
            changes.append(Change(split, points[split - 1], points[split], estimate, called))
    return tuple(changes)


def analysed_series(runs: Sequence[RunRow], metrics: Sequence[MetricRow], scenario: str, metric: str,
                    tolerance_pct: float, alpha: float = 0.05) -> list[Series]:
    """Every series of ``scenario``.``metric`` with its change points filled in."""
    import dataclasses

    return [dataclasses.replace(s, changes=find_changes(s, tolerance_pct, alpha))
            for s in build_series(runs, metrics, scenario, metric)]


def newest_regression(series: Series) -> Change | None:
    """The regression whose new level starts at the series' newest commit, if any (the CI gate)."""
    for change in series.changes:
        if change.index == len(series.points) - 1 and change.verdict is Verdict.REGRESSION:
            return change
    return None
