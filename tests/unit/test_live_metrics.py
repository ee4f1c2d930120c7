"""Live metrics: running totals and HDR-exact buckets, served as OpenMetrics on 127.0.0.1."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from support.servers import free_port

from hftperf.errors import UsageError
from hftperf.live_metrics import BUCKETS_S, LiveMetrics, serve_metrics
from hftperf.loadgen import LoadPlan, RequestSpec
from hftperf.loadgen.recorder import Recorder
from hftperf.loadgen.result import Aggregator


def _reports(values_us: np.ndarray, errors: int) -> list:  # type: ignore[type-arg]
    plan = LoadPlan(RequestSpec(url="http://127.0.0.1:9/"), rate_per_s=100.0)
    reports: list = []  # type: ignore[type-arg]
    aggregator = Aggregator(plan, reports.append)
    recorder = Recorder(True, plan.highest_us)
    for index, chunk in enumerate(np.array_split(values_us, 3)):
        recorder.latency_ns.extend(int(v) * 1000 for v in chunk)
        recorder.lag_ns.extend([3000] * len(chunk))
        recorder.sent += len(chunk) + errors
        recorder.ok += len(chunk)
        recorder.errors[2] += errors
        aggregator.add(recorder.rotate(index, float(index), 0.5))
    return reports


def _scrape(port: int) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        text = answer.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_served_metrics_are_the_running_totals_with_exact_buckets() -> None:
    values = np.random.default_rng(3).integers(10, 30_000, size=3000)
    port = free_port()
    with serve_metrics(port) as metrics:
        assert isinstance(metrics, LiveMetrics)
        for report in _reports(values, errors=2):
            metrics.observe("order-latency", report)
        families = _scrape(port)
    requests = families["hftperf_requests"].samples  # type: ignore[attr-defined]
    assert [(s.labels, s.value) for s in requests] == [({"scenario": "order-latency"}, 3006.0)]
    errors = families["hftperf_errors"].samples  # type: ignore[attr-defined]
    assert sum(s.value for s in errors) == 6 and all(s.labels["class"] for s in errors)
    buckets = {s.labels["le"]: s.value for s in families["hftperf_latency_seconds"].samples  # type: ignore[attr-defined]
               if s.name.endswith("_bucket")}
    for bound in BUCKETS_S:
        exact = int((values <= bound * 1e6).sum())
        assert abs(buckets[f"{bound:g}"] - exact) <= max(2, exact * 0.002)  # HDR: 3 significant digits
    assert buckets["+Inf"] == 3000
    rate = families["hftperf_request_rate_rps"].samples[0].value  # type: ignore[attr-defined]
    assert rate == pytest.approx(1002 / 0.5)
    lag = families["hftperf_pacer_lag_seconds"].samples  # type: ignore[attr-defined]
    assert any(s.name.endswith("_count") and s.value == 3000 for s in lag)


def test_a_busy_port_is_a_usage_error() -> None:
    port = free_port()
    with serve_metrics(port), pytest.raises(UsageError, match=f"--metrics-port {port}: cannot listen"), \
            serve_metrics(port):
        pass


def test_suite_metrics_label_intervals_with_the_running_scenario() -> None:
    from hftperf.config import ScenarioConfig
    from hftperf.live_metrics import SuiteMetrics

    seen: list[str] = []

    class Inner:
        def scenario_started(self, config: ScenarioConfig, index: int, total: int, repeat_index: int) -> None:
            seen.append(f"start {config.name}")

        def interval(self, report: object) -> None:
            seen.append("interval")

        def scenario_finished(self, result: object) -> None:
            seen.append("finished")

    metrics = LiveMetrics()
    progress = SuiteMetrics(Inner(), metrics)
    for name in ("health-concurrent", "order-latency"):
        progress.scenario_started(ScenarioConfig(name, name, 0.0, 1.0, 1, (), {}), 0, 2, 0)
        for report in _reports(np.arange(100, 400), errors=0):
            progress.interval(report)
        progress.scenario_finished(None)
    requests = {s.labels["scenario"]: s.value for family in metrics.collect() if family.name == "hftperf_requests"
                for s in family.samples}
    assert requests == {"health-concurrent": 300, "order-latency": 300}
    assert seen[:2] == ["start health-concurrent", "interval"] and seen.count("finished") == 2
