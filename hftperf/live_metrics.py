"""Live metrics of a running load in the Prometheus / OpenMetrics text format (``--metrics-port``).

Fed with the merged interval reports (the ones the progress line shows), so the numbers are the
run's own: running totals of requests, responses and errors by class, the current rates, and the
latency and pacer-lag histograms as Prometheus buckets, all labelled by scenario. The buckets are
counted from the HDR histograms (3 significant digits), so each bucket is exact to 0.1% of its
bound. Served by ``prometheus_client`` on 127.0.0.1 only; imported only when asked for.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hftperf.config import ScenarioConfig
from hftperf.errors import UsageError
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import IntervalReport

__all__ = ["BUCKETS_S", "METRIC_NAMES", "LiveMetrics", "SuiteMetrics", "serve_metrics"]

# Bucket bounds in seconds (Prometheus's base unit): 25 µs to 10 s, about 2.5 per decade.
BUCKETS_S = (25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3,
             500e-3, 1.0, 2.5, 5.0, 10.0)
METRIC_NAMES = {
    "hftperf_requests_total": "requests sent in the measured period (counter)",
    "hftperf_responses_ok_total": "successful responses (counter)",
    "hftperf_errors_total": "failed requests by error class, label class (counter)",
    "hftperf_request_rate_rps": "requests sent per second in the last interval (gauge)",
    "hftperf_throughput_rps": "successful responses per second in the last interval (gauge)",
    "hftperf_latency_seconds": "latency from the intended send time (histogram)",
    # issue 16 splits this histogram into pacer lag and connection wait: rename it with them
    "hftperf_pacer_lag_seconds": "open loop: sent late although a connection was free: the instrument (histogram)",
    "hftperf_connection_wait_seconds": "open loop: due but every connection busy: the target saturated (histogram)",
}


def _buckets(histogram: LatencyHistogram) -> tuple[np.ndarray, float]:
    """Non-cumulative counts per bucket (last: +Inf) and the sum of values in seconds."""
    values_us, counts = histogram.recorded_values()
    if values_us.size == 0:
        return np.zeros(len(BUCKETS_S) + 1, dtype=np.float64), 0.0
    index = np.searchsorted(np.asarray(BUCKETS_S) * 1e6, values_us, side="left")
    per_bucket = np.bincount(index, weights=counts, minlength=len(BUCKETS_S) + 1)
    return per_bucket, float((values_us * counts).sum() / 1e6)


@dataclass
class _Histogram:
    counts: np.ndarray = field(default_factory=lambda: np.zeros(len(BUCKETS_S) + 1, dtype=np.float64))
    sum_s: float = 0.0

    def add(self, histogram: LatencyHistogram) -> None:
        counts, sum_s = _buckets(histogram)
        self.counts += counts
        self.sum_s += sum_s

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = np.cumsum(self.counts)
        bounds = [f"{bound:g}" for bound in BUCKETS_S] + ["+Inf"]
        return list(zip(bounds, (float(c) for c in cumulative), strict=True))


@dataclass
class _Scenario:
    requests: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rate_rps: float = 0.0
    throughput_rps: float = 0.0
    latency: _Histogram = field(default_factory=_Histogram)
    lag: _Histogram | None = None
    wait: _Histogram | None = None


class LiveMetrics:
    """Running totals per scenario; a ``prometheus_client`` collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scenarios: dict[str, _Scenario] = {}

    def observe(self, scenario: str, report: IntervalReport) -> None:
        """Add one merged interval of ``scenario``."""
        record = report.record
        with self._lock:
            state = self._scenarios.setdefault(scenario, _Scenario())
            state.requests += record.sent
            state.ok += record.ok
            for name, count in record.errors.items():
                state.errors[name] = state.errors.get(name, 0) + count
            if record.length_s > 0:
                state.rate_rps = record.sent / record.length_s
                state.throughput_rps = record.ok / record.length_s
            state.latency.add(report.latency)
            if report.pacer_lag is not None:
                state.lag = state.lag or _Histogram()
                state.lag.add(report.pacer_lag)
            if report.connection_wait is not None:
                state.wait = state.wait or _Histogram()
                state.wait.add(report.connection_wait)

    def collect(self) -> Iterator[Any]:
        """The metric families (called by prometheus_client on each scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        labels = ["scenario"]
        requests = CounterMetricFamily("hftperf_requests", METRIC_NAMES["hftperf_requests_total"], labels=labels)
        ok = CounterMetricFamily("hftperf_responses_ok", METRIC_NAMES["hftperf_responses_ok_total"], labels=labels)
        errors = CounterMetricFamily("hftperf_errors", METRIC_NAMES["hftperf_errors_total"],
                                     labels=["scenario", "class"])
        rate = GaugeMetricFamily("hftperf_request_rate_rps", METRIC_NAMES["hftperf_request_rate_rps"], labels=labels)
        throughput = GaugeMetricFamily("hftperf_throughput_rps", METRIC_NAMES["hftperf_throughput_rps"],
                                       labels=labels)
        latency = HistogramMetricFamily("hftperf_latency_seconds", METRIC_NAMES["hftperf_latency_seconds"],
                                        labels=labels)
        lag = HistogramMetricFamily("hftperf_pacer_lag_seconds", METRIC_NAMES["hftperf_pacer_lag_seconds"],
                                    labels=labels)
        wait = HistogramMetricFamily("hftperf_connection_wait_seconds",
                                     METRIC_NAMES["hftperf_connection_wait_seconds"], labels=labels)
        with self._lock:
            for name, state in self._scenarios.items():
                requests.add_metric([name], state.requests)
                ok.add_metric([name], state.ok)
                for error_class, count in sorted(state.errors.items()):
                    errors.add_metric([name, error_class], count)
                rate.add_metric([name], state.rate_rps)
                throughput.add_metric([name], state.throughput_rps)
                latency.add_metric([name], state.latency.buckets(), state.latency.sum_s)
                if state.lag is not None:
                    lag.add_metric([name], state.lag.buckets(), state.lag.sum_s)
                if state.wait is not None:
                    wait.add_metric([name], state.wait.buckets(), state.wait.sum_s)
        yield from (requests, ok, errors, rate, throughput, latency, lag, wait)


@contextlib.contextmanager
def serve_metrics(port: int | None) -> Iterator[LiveMetrics | None]:
    """Serve LiveMetrics on 127.0.0.1:``port`` for the block (None: no server, yields None)."""
    if port is None:
        yield None
        return
    if not 1 <= port <= 65535:
        raise UsageError(f"--metrics-port: expected a TCP port 1..65535, got {port}")
    from prometheus_client import CollectorRegistry, start_http_server

    metrics = LiveMetrics()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)  # type: ignore[arg-type]
    try:
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    except OSError as exc:
        raise UsageError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} "
                         f"({(exc.strerror or str(exc)).lower()})") from None
    try:
        yield metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=2.0)


class SuiteMetrics:
    """A SuiteProgress that also feeds LiveMetrics, labelled with the running scenario's name."""

    def __init__(self, inner: Any, metrics: LiveMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.scenario = ""

    def scenario_started(self, config: ScenarioConfig, index: int, total: int, repeat_index: int) -> None:
        """Label the next intervals with this scenario."""
        self.scenario = config.name
        if self.inner is not None:
            self.inner.scenario_started(config, index, total, repeat_index)

    def interval(self, report: IntervalReport) -> None:
        """Count the interval, then show it."""
        self.metrics.observe(self.scenario, report)
        if self.inner is not None:
            self.inner.interval(report)

    def scenario_finished(self, result: Any) -> None:
        """Pass on."""
        if self.inner is not None:
            self.inner.scenario_finished(result)
