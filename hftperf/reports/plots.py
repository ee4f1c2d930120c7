"""PNG plots of a run: HdrHistogram-style percentile distribution, latency timeline, capacity curve.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot: no
global figure registry to leak into and no process-wide backend switch (``matplotlib.use``)
as a side effect on whoever imports us. matplotlib is imported lazily so that
``import hftperf.reports`` stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftperf.histogram import LatencyHistogram
from hftperf.result import RunResult, ScenarioResult, ThresholdResult
from hftperf.shapes import CapacityFigures, capacity_figures, shape_of
from hftperf.thresholds import parse_threshold

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["capacity_plot", "percentile_plot", "plot_key", "timeline_plot", "write_plots"]

FIGSIZE_IN = (10.0, 6.0)
DPI = 100  # 1000 x 600 px: GitHub renders images up to ~1000 px wide without scaling them down
US_PER_MS = 1000.0
# the 1/(1-p) axis: 1 = 0 %, 2 = 50 %, 10 = 90 %, ... (HdrHistogram's plotter)
_PERCENTILE_TICKS = ((1.0, "0%"), (2.0, "50%"), (10.0, "90%"), (100.0, "99%"), (1e3, "99.9%"),
                     (1e4, "99.99%"), (1e5, "99.999%"), (1e6, "99.9999%"))
_MIN_X_MAX = 1e4  # always show up to 99.99 %
_MAX_X_MAX = 1e6
_POINTS = 400
_THRESHOLD_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99_9": 99.9, "max": 100.0}
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@contextmanager
def _figure(path: Path) -> Iterator[tuple[Figure, Axes]]:
    """A styled figure with one axes, saved as PNG to ``path`` when the block ends."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # the literal sits in the call so that mypy checks its keys against matplotlib's rc keys
    with matplotlib.rc_context({
        "font.size": 12,
        "axes.titlesize": 14,
        "axes.labelsize": 12,
        "legend.fontsize": 11,
        "xtick.labelsize": 11,
        "ytick.labelsize": 11,
        "axes.grid": True,
        "grid.alpha": 0.35,
        "lines.linewidth": 2.0,
    }):
        figure = Figure(figsize=FIGSIZE_IN, dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        yield figure, axes
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png", dpi=DPI)
    figure.clear()  # not in any registry: dropping the last reference frees it


def _log_latency_axis(axes: Axes, values: Sequence[float]) -> None:
    """Every latency axis is logarithmic (so plots of one report read alike), with plain tick labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not any(math.isfinite(v) and v > 0 for v in values):
        return  # nothing positive to draw: a log axis would have no range
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.5, not 5x10^-1
    axes.yaxis.set_minor_formatter(NullFormatter())


def latency_unit(max_us: float) -> tuple[str, float]:
    """The axis unit for latencies up to ``max_us``: (label, µs per unit) — µs below 1 ms, s from 10 s."""
    if max_us < US_PER_MS:
        return "µs", 1.0
    if max_us >= 10e6:
        return "s", 1e6
    return "ms", US_PER_MS


def _percentile_curve(histogram: LatencyHistogram, x_max: float, per_unit_us: float) -> tuple[list[float], list[float]]:
    """(1/(1-p) positions, latency in the axis unit) from 0 % up to ``x_max``, log-spaced."""
    steps = _POINTS - 1
    xs = [x_max ** (i / steps) for i in range(_POINTS)]
    ys = [histogram.value_at_percentile(min(100.0, 100.0 * (1.0 - 1.0 / x))) / per_unit_us for x in xs]
    return xs, ys


def _latency_limit_us(verdict: ThresholdResult) -> float | None:
    """The limit of a percentile/max threshold in µs; None for other metrics or unparsable text."""
    if verdict.metric not in _THRESHOLD_PERCENTILES:
        return None
    try:
        threshold = parse_threshold(f"{verdict.metric} {verdict.limit}")
    except ValueError:
        return None
    return float(threshold.limit) if isinstance(threshold.limit, int | float) else None


def _draw_thresholds(axes: Axes, thresholds: Sequence[ThresholdResult], x_max: float,
                     per_unit_us: float) -> list[float]:
    """Horizontal line per latency threshold, marked where its percentile sits; returns limits (axis unit)."""
    limits: list[float] = []
    for verdict in thresholds:
        limit_us = _latency_limit_us(verdict)
        if limit_us is None:
            continue
        limit_ms = limit_us / per_unit_us  # in the axis unit
        percentile = _THRESHOLD_PERCENTILES[verdict.metric]
        x = x_max if percentile >= 100.0 else 1.0 / (1.0 - percentile / 100.0)
        colour = "tab:green" if verdict.passed else "tab:red"
        status = "met" if verdict.passed else "FAILED"
        axes.axhline(limit_ms, color=colour, linestyle="--", linewidth=1.5,
                     label=f"threshold {verdict.metric} {verdict.limit} ({status})")
        axes.plot([x], [limit_ms], marker="v", markersize=10, color=colour, linestyle="none")
        limits.append(limit_ms)
    return limits


# extra histograms drawn beside the latency: (key, colour, legend); schedule_lag: results before the split
_LAG_CURVES = (
    ("connection_wait", "tab:red", "connection wait (due, every connection busy: the target)"),
    ("pacer_lag", "tab:orange", "pacer lag (a connection free, sent late: the load generator)"),
    ("schedule_lag", "tab:orange", "schedule lag (send behind intended time)"),
)


def percentile_plot(scenario: ScenarioResult, path: Path) -> Path:
    """Latency against percentile on the 1/(1-p) axis, with threshold lines, pacer lag and connection wait."""
    if scenario.histogram is None:
        raise ValueError(f"scenario {scenario.name!r} recorded no latency histogram")
    latency = LatencyHistogram.decode(scenario.histogram)
    lags = [(LatencyHistogram.decode(text), colour, label) for key, colour, label in _LAG_CURVES
            if (text := scenario.extra_histograms.get(key))]
    counts = [latency.total_count] + [lag.total_count for lag, _, _ in lags]
    x_max = min(_MAX_X_MAX, max(_MIN_X_MAX, float(max(counts))))
    unit, per_unit_us = latency_unit(max([latency.max_us, *(lag.max_us for lag, _, _ in lags)]))
    in_process = shape_of(scenario.kind).in_process
    noun = f"sampled of {scenario.requests:,} operations" if in_process else "responses"
    with _figure(path) as (_, axes):
        xs, ys = _percentile_curve(latency, x_max, per_unit_us)
        axes.plot(xs, ys, color="tab:blue", label=f"latency ({latency.total_count:,} {noun})")
        values = list(ys)
        for lag, colour, label in lags:
            if lag.total_count > 0:
                lag_xs, lag_ys = _percentile_curve(lag, x_max, per_unit_us)
                axes.plot(lag_xs, lag_ys, color=colour, label=label)
                values += lag_ys
        values += _draw_thresholds(axes, scenario.thresholds, x_max, per_unit_us)
        axes.set_xscale("log")
        axes.set_xlim(1.0, x_max)
        ticks = [(x, label) for x, label in _PERCENTILE_TICKS if x <= x_max]
        axes.set_xticks([x for x, _ in ticks], [label for _, label in ticks])
        axes.minorticks_off()
        _log_latency_axis(axes, values)
        axes.set_xlabel("percentile")
        axes.set_ylabel(f"latency ({unit})")
        axes.set_title(f"{scenario.name}: latency by percentile")
        axes.legend(loc="best")
    return path


def timeline_plot(hlog_path: Path, path: Path, title: str) -> Path:
    """p50, p99 and max latency per interval (untagged intervals of the log) against time."""
    from hftperf.hlog import read_hlog

    intervals = sorted((i for i in read_hlog(hlog_path).intervals if i.tag is None), key=lambda i: i.start_s)
    times_s: list[float] = []
    unit, per_unit_us = latency_unit(max((i.histogram.max_us for i in intervals), default=0.0))
    series: dict[str, list[float]] = {"p50": [], "p99": [], "max": []}
    for interval in intervals:
        histogram = interval.histogram
        times_s.append(interval.start_s + interval.length_s)  # a point stands for the interval just ended
        empty = histogram.total_count == 0
        series["p50"].append(math.nan if empty else histogram.value_at_percentile(50.0) / per_unit_us)
        series["p99"].append(math.nan if empty else histogram.value_at_percentile(99.0) / per_unit_us)
        series["max"].append(math.nan if empty else histogram.max_us / per_unit_us)
    with _figure(path) as (_, axes):
        styles = {"p50": ("tab:blue", "-", 2.0), "p99": ("tab:red", "-", 2.0), "max": ("tab:gray", ":", 1.2)}
        for name, values in series.items():
            colour, line, width = styles[name]
            axes.plot(times_s, values, color=colour, linestyle=line, linewidth=width, marker=".", label=name)
        if not intervals:
            axes.text(0.5, 0.5, "no latency intervals in the log", transform=axes.transAxes,
                      ha="center", va="center")
        _log_latency_axis(axes, series["p50"] + series["p99"] + series["max"])
        axes.set_xlabel("time since start (s)")
        axes.set_ylabel(f"latency ({unit})")
        axes.set_title(title)
        axes.legend(loc="best")
    return path


def _us(value: Any) -> float:
    """µs figure (maybe None) → float, NaN when missing."""
    return float(value) if isinstance(value, int | float) else math.nan


def capacity_plot(figures: CapacityFigures, path: Path, scenario_name: str = "capacity") -> Path:
    """Offered rate against p50/p99 latency, the p99 SLO line and the knee (last passing rate).

    With no passing step there is no knee to draw: the plot says so instead of a capacity line at 0.
    """
    slo_p99_us = None if figures.slo_p99_us is None else float(figures.slo_p99_us)
    capacity_rps = None if figures.capacity_rps is None else float(figures.capacity_rps)
    # The lines join each rate's last measurement; a failed one measured again stays an x of its own.
    latest = {float(point.rate_rps): point for point in figures.curve}
    points = sorted(latest.values(), key=lambda point: float(point.rate_rps))
    superseded = [point for point in figures.curve  # failed, then measured again
                  if latest[float(point.rate_rps)] is not point and point.passed is False]
    rates = [float(point.rate_rps) for point in points]
    p50_us = [_us(point.p50_us) for point in points]
    p99_us = [_us(point.p99_us) for point in points]
    superseded_p99_us = [_us(point.p99_us) for point in superseded]
    finite = [v for v in [*p50_us, *p99_us, *superseded_p99_us, slo_p99_us or 0.0] if math.isfinite(v)]
    unit, per_unit_us = latency_unit(max(finite, default=0.0))
    p50 = [v / per_unit_us for v in p50_us]
    p99 = [v / per_unit_us for v in p99_us]
    with _figure(path) as (_, axes):
        axes.plot(rates, p50, color="tab:blue", marker="o", label="p50")
        axes.plot(rates, p99, color="tab:red", marker="o", label="p99")
        failed = [(r, v) for r, v, point in zip(rates, p99, points, strict=True) if point.passed is False]
        failed += [(float(point.rate_rps), v / per_unit_us)
                   for point, v in zip(superseded, superseded_p99_us, strict=True)]
        if failed:
            axes.plot([r for r, _ in failed], [v for _, v in failed], color="black", marker="x", markersize=11,
                      linestyle="none", label="step failed")
        values = p50 + p99 + [v for _, v in failed]
        if slo_p99_us is not None:
            axes.axhline(slo_p99_us / per_unit_us, color="tab:green", linestyle="--", linewidth=1.5,
                         label=f"SLO p99 {slo_p99_us / per_unit_us:g} {unit}")
            values.append(slo_p99_us / per_unit_us)
        if capacity_rps:
            axes.axvline(capacity_rps, color="tab:purple", linestyle=":", linewidth=1.5,
                         label=f"capacity {capacity_rps:,.0f} orders/s")
            knee = [v for r, v in zip(rates, p99, strict=True) if r == capacity_rps]
            if knee:
                axes.plot([capacity_rps], knee, marker="*", markersize=18, color="tab:purple", linestyle="none")
        elif points:
            axes.text(0.5, 0.92, f"no step met the SLO: capacity is below {rates[0]:,.0f} orders/s",
                      transform=axes.transAxes, ha="center", va="top")
        if len(rates) == 1:  # one point: give the rate axis some width around it
            axes.set_xlim(rates[0] * 0.5, rates[0] * 1.5)
        if not points:
            axes.text(0.5, 0.5, "no capacity steps", transform=axes.transAxes, ha="center", va="center")
        _log_latency_axis(axes, values)
        axes.set_xlabel("offered rate (orders/s)")
        axes.set_ylabel(f"latency ({unit})")
        axes.set_title(f"{scenario_name}: latency against offered rate")
        axes.legend(loc="best")
    return path


def plot_key(scenario: ScenarioResult) -> str:
    """Key of a scenario's plots in :func:`write_plots`: its name, ``<name>-r<N>`` for repeat N > 0."""
    return f"{scenario.name}-r{scenario.repeat_index}" if scenario.repeat_index > 0 else scenario.name


def write_plots(run: RunResult, results_dir: Path, plots_dir: Path) -> dict[str, dict[str, Path]]:
    """Write every plot of a run into ``plots_dir``; {plot_key: {"percentiles"/"timeline"/"capacity": path}}.

    Scenarios without a latency histogram get no plots. A corrupt interval log raises DataError.
    """
    written: dict[str, dict[str, Path]] = {}
    for scenario in run.scenarios:
        if scenario.histogram is None:
            continue
        key = plot_key(scenario)
        stem = _UNSAFE_FILE_CHARS.sub("_", key)
        plots = {"percentiles": percentile_plot(scenario, plots_dir / f"{stem}-percentiles.png")}
        hlog = scenario.hlog_path(results_dir)
        if hlog is not None and hlog.is_file():
            plots["timeline"] = timeline_plot(hlog, plots_dir / f"{stem}-timeline.png",
                                              f"{scenario.name}: latency per interval")
        capacity = capacity_figures(scenario)
        if capacity is not None and capacity.curve:
            plots["capacity"] = capacity_plot(capacity, plots_dir / f"{stem}-capacity.png", scenario.name)
        written[key] = plots
    return written

