"""Samples for a comparison, taken from result files only (``result.json`` + ``.hlog``).

Where the spread comes from, in order of preference:

- **repeats**: both sides ran a scenario at least twice (``--repeat N``): one value per run.
  Runs are independent measurements, so this is the sound choice; it needs N >= 4 per side for
  Mann-Whitney to reach p < 0.05 at all (with 3 against 3 the smallest two-sided p is 0.1).
- **intervals**: otherwise, the scenario's interval log is cut into windows of about a second
  and each window gives one value. One run per side then still has a spread, but windows of one
  run share that run's machine state: a slowdown of the whole machine between the two runs looks
  like a change of the build. The tolerance guards against that; repeats or ``ab`` remove it.
- **single**: no repeats and no interval log (in-process scenarios, capacity searches): one value
  per side, shown with its change, and the verdict is "insufficient data".

The error rate of single runs is compared on its counts (failed / sent) instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hftperf.compare.metrics import latency_values
from hftperf.histogram import LatencyHistogram
from hftperf.hlog import IntervalHistogram, read_hlog
from hftperf.result import ScenarioResult, error_rate
from hftperf.shapes import capacity_figures, shape_of

__all__ = ["ScenarioSamples", "choose_source", "metrics_of", "run_values", "scenario_samples"]

_QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p99_9": 0.999}


@dataclass(frozen=True)
class ScenarioSamples:
    """One side's samples of one scenario: metric -> values, plus the request totals."""

    source: str  # "repeats", "intervals", "single", "rounds"
    values: dict[str, list[float]]
    failed: int = 0
    requests: int = 0
    per_run: dict[str, list[float]] = field(default_factory=dict)  # one value per run, whatever the source


def metrics_of(kind: str) -> tuple[str, ...]:
    """Which metrics make sense for a result shape (``hftperf.shapes``: a capacity search's latency mixes its steps)."""
    return shape_of(kind).metrics


def run_values(result: ScenarioResult) -> dict[str, float]:
    """Every comparable figure of one scenario result (one run, one repeat, or one ab round)."""
    values = latency_values(result.latency_us)
    values["throughput_rps"] = result.throughput_rps
    values["error_rate"] = error_rate(result.failed, result.requests)
    capacity = capacity_figures(result)
    if capacity is not None and capacity.capacity_rps is not None:
        values["capacity_rps"] = float(capacity.capacity_rps)
    return values


def choose_source(base: Sequence[ScenarioResult], head: Sequence[ScenarioResult]) -> str:
    """The same kind of sample on both sides: repeats if both have them, else intervals, else single."""
    if len(base) >= 2 and len(head) >= 2:
        return "repeats"
    if all(shape_of(r.kind).interval_samples and r.hlog for r in (*base, *head)):
        return "intervals"
    return "single"


def scenario_samples(results: Sequence[ScenarioResult], source: str, results_dir: Path | None,
                     window_s: float = 1.0) -> ScenarioSamples:
    """One side's samples of one scenario (all its repeats) from the chosen source."""
    failed = sum(r.failed for r in results)
    requests = sum(r.requests for r in results)
    wanted = metrics_of(results[0].kind)
    runs = [run_values(r) for r in results]
    per_run = {m: [v[m] for v in runs if m in v] for m in wanted}
    if source in ("repeats", "single"):
        return ScenarioSamples(source, per_run, failed, requests, per_run)
    values: dict[str, list[float]] = {m: [] for m in wanted if m != "error_rate"}
    for result in results:
        path = result.hlog_path(results_dir) if results_dir is not None else None
        assert path is not None  # choose_source only picks intervals when every result has a log
        for window in _windows(read_hlog(path).intervals, window_s):
            for name, value in _window_values(window).items():
                if name in values:
                    values[name].append(value)
    return ScenarioSamples(source, values, failed, requests, per_run)


def _windows(intervals: Iterable[IntervalHistogram], window_s: float) -> list[tuple[float, LatencyHistogram]]:
    """Untagged intervals merged into consecutive windows of at least ``window_s`` (short tail dropped)."""
    windows: list[tuple[float, LatencyHistogram]] = []
    length, merged = 0.0, None
    for interval in intervals:
        if interval.tag is not None:
            continue
        if merged is None:
            merged = interval.histogram.copy()
        else:
            merged.merge(interval.histogram)
        length += interval.length_s
        if length >= window_s * 0.99:
            windows.append((length, merged))
            length, merged = 0.0, None
    if merged is not None and length >= window_s / 2:
        windows.append((length, merged))
    return windows


def _window_values(window: tuple[float, LatencyHistogram]) -> dict[str, float]:
    """A window's figures; a percentile only when the window holds enough values to estimate it.

    A q-quantile needs about 10 / (1 - q) values (p99: 1,000; p99.9: 10,000): with fewer, a
    window's "p99.9" is just its largest value, and its spread would swamp any real change.
    The maximum never qualifies: a window's max is whichever hiccup hit it (the comparison
    shows the runs' maxima, untested).
    """
    length_s, histogram = window
    count = histogram.total_count
    values = {"throughput_rps": count / length_s}
    if count:
        summary = latency_values(histogram.summary_us())
        for name, value in summary.items():
            quantile = _QUANTILES.get(name)
            if name != "max" and (quantile is None or count >= 10 / (1 - quantile)):
                values[name] = value
    return values
