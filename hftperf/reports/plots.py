"""PNG plots of a run: HdrHistogram-style percentile distribution, latency timeline, capacity curve.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through pyplot: no
global figure registry to leak into and no process-wide backend switch (``matplotlib.use``)
as a side effect on whoever imports us. matplotlib is imported lazily so that
``import hftperf.reports`` stays cheap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftperf.histogram import LatencyHistogram
from hftperf.result import RunResult, ScenarioResult, ThresholdResult
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
_LOG_Y_RATIO = 20.0  # use a log latency axis when the values span more than this factor
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


def _use_log_y_if_wide(axes: Axes, values_ms: Sequence[float]) -> None:
    """Switch to a log latency axis when the positive values span more than ``_LOG_Y_RATIO``."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = [v for v in values_ms if math.isfinite(v) and v > 0]
    if positive and max(positive) / min(positive) > _LOG_Y_RATIO:
        axes.set_yscale("log")
        axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 0.5, not 5x10^-1
        axes.yaxis.set_minor_formatter(NullFormatter())


def _percentile_curve(histogram: LatencyHistogram, x_max: float) -> tuple[list[float], list[float]]:
    """(1/(1-p) positions, latency in ms) from 0 % up to ``x_max``, log-spaced."""
    steps = _POINTS - 1
    xs = [x_max ** (i / steps) for i in range(_POINTS)]
    ys = [histogram.value_at_percentile(min(100.0, 100.0 * (1.0 - 1.0 / x))) / US_PER_MS for x in xs]
    return xs, ys


def _latency_limit_ms(verdict: ThresholdResult) -> float | None:
    """The limit of a percentile/max threshold in ms; None for other metrics or unparsable text."""
    if verdict.metric not in _THRESHOLD_PERCENTILES:
        return None
    try:
        threshold = parse_threshold(f"{verdict.metric} {verdict.limit}")
    except ValueError:
        return None
    return float(threshold.limit) / US_PER_MS if isinstance(threshold.limit, int | float) else None


def _draw_thresholds(axes: Axes, thresholds: Sequence[ThresholdResult], x_max: float) -> list[float]:
    """Horizontal line per latency threshold, marked where its percentile sits; returns limits (ms)."""
    limits: list[float] = []
    for verdict in thresholds:
        limit_ms = _latency_limit_ms(verdict)
        if limit_ms is None:
            continue
        percentile = _THRESHOLD_PERCENTILES[verdict.metric]
        x = x_max if percentile >= 100.0 else 1.0 / (1.0 - percentile / 100.0)
        colour = "tab:green" if verdict.passed else "tab:red"
        status = "met" if verdict.passed else "FAILED"
        axes.axhline(limit_ms, color=colour, linestyle="--", linewidth=1.5,
                     label=f"threshold {verdict.metric} {verdict.limit} ({status})")
        axes.plot([x], [limit_ms], marker="v", markersize=10, color=colour, linestyle="none")
        limits.append(limit_ms)
    return limits


def percentile_plot(scenario: ScenarioResult, path: Path) -> Path:
    """Latency against percentile on the 1/(1-p) axis, with threshold lines and the schedule lag."""
    if scenario.histogram is None:
        raise ValueError(f"scenario {scenario.name!r} recorded no latency histogram")
    latency = LatencyHistogram.decode(scenario.histogram)
    lag_text = scenario.extra_histograms.get("schedule_lag")
    lag = LatencyHistogram.decode(lag_text) if lag_text else None
    counts = [latency.total_count] + ([lag.total_count] if lag is not None else [])
    x_max = min(_MAX_X_MAX, max(_MIN_X_MAX, float(max(counts))))
    with _figure(path) as (_, axes):
        xs, ys = _percentile_curve(latency, x_max)
        axes.plot(xs, ys, color="tab:blue", label=f"latency ({latency.total_count:,} responses)")
        values = list(ys)
        if lag is not None and lag.total_count > 0:
            lag_xs, lag_ys = _percentile_curve(lag, x_max)
            axes.plot(lag_xs, lag_ys, color="tab:orange", label="schedule lag (send behind intended time)")
            values += lag_ys
        values += _draw_thresholds(axes, scenario.thresholds, x_max)
        axes.set_xscale("log")
        axes.set_xlim(1.0, x_max)
        ticks = [(x, label) for x, label in _PERCENTILE_TICKS if x <= x_max]
        axes.set_xticks([x for x, _ in ticks], [label for _, label in ticks])
        axes.minorticks_off()
        _use_log_y_if_wide(axes, values)
        if axes.get_yscale() == "linear":
            axes.set_ylim(bottom=0.0)
        axes.set_xlabel("percentile")
        axes.set_ylabel("latency (ms)")
        axes.set_title(f"{scenario.name}: latency by percentile")
        axes.legend(loc="best")
    return path


def timeline_plot(hlog_path: Path, path: Path, title: str) -> Path:
    """p50, p99 and max latency per interval (untagged intervals of the log) against time."""
    from hftperf.hlog import read_hlog

    intervals = sorted((i for i in read_hlog(hlog_path).intervals if i.tag is None), key=lambda i: i.start_s)
    times_s: list[float] = []
    series: dict[str, list[float]] = {"p50": [], "p99": [], "max": []}
    for interval in intervals:
        histogram = interval.histogram
        times_s.append(interval.start_s + interval.length_s)  # a point stands for the interval just ended
        empty = histogram.total_count == 0
        series["p50"].append(math.nan if empty else histogram.value_at_percentile(50.0) / US_PER_MS)
        series["p99"].append(math.nan if empty else histogram.value_at_percentile(99.0) / US_PER_MS)
        series["max"].append(math.nan if empty else histogram.max_us / US_PER_MS)
    with _figure(path) as (_, axes):
        styles = {"p50": ("tab:blue", "-", 2.0), "p99": ("tab:red", "-", 2.0), "max": ("tab:gray", ":", 1.2)}
        for name, values in series.items():
            colour, line, width = styles[name]
            axes.plot(times_s, values, color=colour, linestyle=line, linewidth=width, marker=".", label=name)
        if not intervals:
            axes.text(0.5, 0.5, "no latency intervals in the log", transform=axes.transAxes,
                      ha="center", va="center")
        _use_log_y_if_wide(axes, series["p50"] + series["p99"])
        if axes.get_yscale() == "linear":
            axes.set_ylim(bottom=0.0)
        axes.set_xlabel("time since start (s)")
        axes.set_ylabel("latency (ms)")
        axes.set_title(title)
        axes.legend(loc="best")
    return path


def _ms(value: Any) -> float:
    """µs figure (maybe None) → ms, NaN when missing."""
    return float(value) / US_PER_MS if isinstance(value, int | float) else math.nan


def capacity_plot(curve: list[dict[str, Any]], slo_p99_us: float | None, capacity_rps: float | None,
                  path: Path) -> Path:
    """Offered rate against p50/p99 latency, the p99 SLO line and the knee (last passing rate)."""
    points = sorted(curve, key=lambda point: float(point["rate_rps"]))
    rates = [float(point["rate_rps"]) for point in points]
    p50 = [_ms(point.get("p50_us")) for point in points]
    p99 = [_ms(point.get("p99_us")) for point in points]
    with _figure(path) as (_, axes):
        axes.plot(rates, p50, color="tab:blue", marker="o", label="p50")
        axes.plot(rates, p99, color="tab:red", marker="o", label="p99")
        failed = [(r, v) for r, v, point in zip(rates, p99, points, strict=True) if not point.get("passed", True)]
        if failed:
            axes.plot([r for r, _ in failed], [v for _, v in failed], color="black", marker="x", markersize=11,
                      linestyle="none", label="step failed")
        values = p50 + p99
        if slo_p99_us is not None:
            axes.axhline(slo_p99_us / US_PER_MS, color="tab:green", linestyle="--", linewidth=1.5,
                         label=f"SLO p99 {slo_p99_us / US_PER_MS:g} ms")
            values.append(slo_p99_us / US_PER_MS)
        if capacity_rps is not None:
            axes.axvline(capacity_rps, color="tab:purple", linestyle=":", linewidth=1.5,
                         label=f"capacity {capacity_rps:,.0f} orders/s")
            knee = [v for r, v in zip(rates, p99, strict=True) if r == capacity_rps]
            if knee:
                axes.plot([capacity_rps], knee, marker="*", markersize=18, color="tab:purple", linestyle="none")
        if not points:
            axes.text(0.5, 0.5, "no capacity steps", transform=axes.transAxes, ha="center", va="center")
        _use_log_y_if_wide(axes, values)
        if axes.get_yscale() == "linear":
            axes.set_ylim(bottom=0.0)
        axes.set_xlabel("offered rate (orders/s)")
        axes.set_ylabel("latency (ms)")
        axes.set_title("capacity: latency against offered rate")
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
        curve = scenario.figures.get("curve")
        if scenario.kind == "capacity" and isinstance(curve, list):
            plots["capacity"] = capacity_plot(curve, _optional_float(scenario.figures, "slo_p99_us"),
                                              _optional_float(scenario.figures, "capacity_rps"),
                                              plots_dir / f"{stem}-capacity.png")
        written[key] = plots
    return written


def _optional_float(figures: Mapping[str, Any], key: str) -> float | None:
    value = figures.get(key)
    return float(value) if isinstance(value, int | float) else None
