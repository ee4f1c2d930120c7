"""Plots from a real (small) results directory: valid PNGs of sensible size, one per kind."""

from __future__ import annotations

import dataclasses
import struct
import time
from pathlib import Path

import pytest
from support.servers import behaviour_server

from hftperf.histogram import LatencyHistogram
from hftperf.hlog import HlogWriter
from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.reports.plots import capacity_plot, percentile_plot, plot_key, timeline_plot, write_plots
from hftperf.result import RunResult, ScenarioResult, ThresholdResult, build_run_result
from hftperf.scenario_results import scenario_result_from_load
from hftperf.shapes import CapacityFigures, CurveStep

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    """A results directory with one open-loop scenario measured against a loopback server, its .hlog."""
    directory = tmp_path_factory.mktemp("results")
    with behaviour_server("ok") as url:
        load = run_load(LoadPlan(RequestSpec(url + "/"), connections=2, rate_per_s=400.0, duration_s=2.0,
                                 warmup_s=0.2, interval_s=0.5))
    with HlogWriter(directory / "orders.hlog", time.time(), comment="plots test") as writer:
        for record in load.intervals:
            writer.write_interval(record.start_s, record.length_s, LatencyHistogram.decode(record.latency))
    thresholds = (ThresholdResult("p99", "< 50ms", 1000.0, True, 98.0),
                  ThresholdResult("p50", "< 10us", 900.0, False, -8900.0),
                  ThresholdResult("error_rate", "< 0.1%", 0.0, True, 100.0))
    orders = scenario_result_from_load("orders", "open-loop", load, hlog="orders.hlog", thresholds=thresholds)
    curve = [{"rate_rps": 100.0 * step, "p50_us": 800 * step, "p99_us": 2_000 * step ** 3, "passed": step < 4}
             for step in range(1, 6)]
    capacity = dataclasses.replace(orders, name="capacity", kind="capacity", hlog="missing.hlog",
                                   figures={"curve": curve, "capacity_rps": 300.0, "slo_p99_us": 50_000.0})
    repeat = dataclasses.replace(orders, repeat_index=1)
    no_latency = dataclasses.replace(orders, name="nothing", histogram=None, hlog=None)
    run = build_run_result("test", {}, (orders, capacity, repeat, no_latency), "2024-01-01T00:00:00Z",
                           "2024-01-01T00:00:10Z")
    return directory, run


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    width, height = struct.unpack(">II", data[16:24])  # IHDR comes first
    assert (width, height) == (1000, 600), path
    assert len(data) > 10_000, path


def test_write_plots_writes_every_plot(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    results_dir, run = results
    written = write_plots(run, results_dir, tmp_path / "plots")
    assert written == {
        "orders": {"percentiles": tmp_path / "plots" / "orders-percentiles.png",
                   "timeline": tmp_path / "plots" / "orders-timeline.png"},
        "capacity": {"percentiles": tmp_path / "plots" / "capacity-percentiles.png",
                     "capacity": tmp_path / "plots" / "capacity-capacity.png"},
        "orders-r1": {"percentiles": tmp_path / "plots" / "orders-r1-percentiles.png",
                      "timeline": tmp_path / "plots" / "orders-r1-timeline.png"},
    }
    for plots in written.values():
        for path in plots.values():
            _assert_png(path)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        p.name for plots in written.values() for p in plots.values())


def test_write_plots_leaves_no_open_figures(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    write_plots(results[1], results[0], tmp_path)
    assert plt.get_fignums() == before


def test_percentile_plot_with_pacer_lag_wait_and_thresholds(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    orders = results[1].scenarios[0]
    assert {"pacer_lag", "connection_wait"} <= set(orders.extra_histograms)
    _assert_png(percentile_plot(orders, tmp_path / "p.png"))


def test_percentile_plot_of_a_result_from_before_the_split(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    orders = results[1].scenarios[0]
    old = dataclasses.replace(orders, extra_histograms={"schedule_lag": orders.extra_histograms["pacer_lag"]})
    _assert_png(percentile_plot(old, tmp_path / "p.png"))


def test_percentile_plot_without_histogram_is_an_error(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing"):
        percentile_plot(results[1].scenarios[3], tmp_path / "p.png")


def test_timeline_plot(results: tuple[Path, RunResult], tmp_path: Path) -> None:
    _assert_png(timeline_plot(results[0] / "orders.hlog", tmp_path / "t.png", "orders over time"))


def test_capacity_plot_without_slo_or_knee(tmp_path: Path) -> None:
    curve = (CurveStep(100.0, p50_us=500, p99_us=900, passed=True), CurveStep(200.0, passed=False))
    _assert_png(capacity_plot(CapacityFigures(None, None, curve), tmp_path / "c.png"))


def test_capacity_plot_with_a_step_measured_again(tmp_path: Path) -> None:
    curve = (CurveStep(100.0, p50_us=500, p99_us=900, passed=True, attempt=1),
             CurveStep(200.0, p50_us=600, p99_us=250_000, passed=False, reason="p99 over SLO", attempt=1),
             CurveStep(200.0, p50_us=600, p99_us=1_100, passed=True, attempt=2),
             CurveStep(300.0, p50_us=700, p99_us=80_000, passed=False, attempt=1),
             CurveStep(300.0, p50_us=700, p99_us=90_000, passed=False, attempt=2))
    _assert_png(capacity_plot(CapacityFigures(200.0, 50_000.0, curve), tmp_path / "c.png"))


def test_plot_key_names_repeats() -> None:
    scenario = ScenarioResult(name="x", kind="closed-loop", requests=0, ok=0, errors={}, in_flight=0,
                              duration_s=1.0, throughput_rps=0.0, latency_us=None, histogram=None)
    assert plot_key(scenario) == "x"
    assert plot_key(dataclasses.replace(scenario, repeat_index=2)) == "x-r2"
