"""Load workers on a real Dask LocalCluster (worker processes) against real loopback servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from support.servers import behaviour_server

from hftperf.errors import InfrastructureError, UsageError
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import LoadPlan, LoadResult, RequestSpec, run_load
from hftperf.loadgen.executors.dask_cluster import DaskExecutor
from hftperf.loadgen.executors.feed import IntervalFeed
from hftperf.loadgen.schedule import ConstantRate

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executor() -> Iterator[DaskExecutor]:
    """Two Dask worker processes on this machine, one thread each, and a client."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    try:
        yield DaskExecutor(client, cluster.scheduler_address)
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with behaviour_server("ok") as url:
        yield url


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, Any]]:
    """Every (worker, sample) the coordinator received, as the workers streamed them."""
    received: list[tuple[int, Any]] = []
    original = IntervalFeed.add

    def add(self: IntervalFeed, worker_index: int, sample: Any) -> None:
        received.append((worker_index, sample))
        original(self, worker_index, sample)

    monkeypatch.setattr(IntervalFeed, "add", add)
    return received


def _assert_exact(result: LoadResult, streamed: list[tuple[int, Any]]) -> None:
    assert result.requests == result.ok + result.failed + result.in_flight
    assert result.latency.total_count == result.ok + result.censored  # censored: lower bounds at the cut-off
    # the merged histogram is exactly the one built from every worker's own values
    rebuilt = LatencyHistogram(result.plan.highest_us)
    for _, sample in streamed:
        rebuilt.merge(LatencyHistogram.decode(sample.latency, sample.latency_out_of_range))
    assert rebuilt == result.latency
    for p in (50, 90, 99, 99.9, 100):
        assert result.latency.value_at_percentile(p) == rebuilt.value_at_percentile(p)
    per_worker = {k: sum(s.sent for w, s in streamed if w == k) for k in range(result.plan.workers)}
    assert [w["requests"] for w in result.load_workers] == [per_worker[k] for k in range(result.plan.workers)]
    assert sum(per_worker.values()) == result.sent


def test_closed_loop_splits_connections_and_merges_exactly(executor: DaskExecutor, server_url: str,
                                                           streamed: list[tuple[int, Any]]) -> None:
    plan = LoadPlan(RequestSpec(server_url + "/"), connections=5, duration_s=2.0, warmup_s=0.3)
    intervals: list[Any] = []
    result = run_load(plan, intervals.append, executor=executor)
    assert result.plan.workers == 2 and result.executor == executor.name
    assert {w for w, _ in streamed} == {0, 1} and result.ok > 1000 and result.failed == 0
    _assert_exact(result, streamed)
    assert [r.record.index for r in intervals] == sorted(r.record.index for r in intervals)  # merged in order
    for worker in result.load_workers:
        assert worker["hftperf_version"] and worker["cores"] >= 1 and worker["host"]
        assert abs(worker["clock_offset_us"]) < 50_000  # one machine: one clock, within the ping's error
        assert worker["lost"] is False
    assert not result.lost_workers


def test_open_loop_takes_every_kth_request_of_the_schedule(executor: DaskExecutor, server_url: str,
                                                           streamed: list[tuple[int, Any]]) -> None:
    plan = LoadPlan(RequestSpec(server_url + "/"), connections=4, duration_s=2.0, warmup_s=0.5, rate_per_s=1500)
    result = run_load(plan, executor=executor)
    _assert_exact(result, streamed)
    warmup_ns, end_ns = 500_000_000, 2_500_000_000
    scheduled = sum(ConstantRate(1500, k, 2).count_due(end_ns - 1) - ConstantRate(1500, k, 2).count_due(warmup_ns - 1)
                    for k in range(2))
    assert scheduled == 3000
    assert result.requests == result.sent + result.not_sent == scheduled  # due = sent + not sent, exactly
    assert result.not_sent <= 15  # a 1,500/s plan on 2 idle workers sends (nearly) all of it
    assert result.pacer_lag is not None and result.pacer_lag.total_count == result.sent
    assert result.to_dict()["not_sent_by_reason"] == {"no idle connection": result.not_sent, "worker lost": 0}


def test_a_worker_with_another_hftperf_version_is_an_error_before_the_run(executor: DaskExecutor,
                                                                          server_url: str) -> None:
    client = executor.client
    one = sorted(client.nthreads())[0]

    def set_version(version: str) -> str:
        import hftperf

        previous, hftperf.__version__ = hftperf.__version__, version
        return previous

    previous = client.run(set_version, "0.0.0-other", workers=[one])[one]
    try:
        plan = LoadPlan(RequestSpec(server_url + "/"), connections=2, duration_s=1.0, warmup_s=0.1)
        with pytest.raises(InfrastructureError, match=f"{one} has 0.0.0-other"):
            run_load(plan, executor=executor)
    finally:
        client.run(set_version, previous, workers=[one])


def test_a_remote_target_is_refused_before_anything_is_sent(executor: DaskExecutor) -> None:
    plan = LoadPlan(RequestSpec("http://192.0.2.1:80/"), connections=2, duration_s=1.0)
    with pytest.raises(UsageError, match="not a loopback address"):
        run_load(plan, executor=executor)


def test_a_long_warmup_is_not_mistaken_for_silent_workers(executor: DaskExecutor, server_url: str) -> None:
    """Workers send nothing during the warm-up: longer than the silence limit, none is written off."""
    plan = LoadPlan(RequestSpec(server_url + "/"), connections=2, duration_s=1.0, warmup_s=6.0, rate_per_s=200)
    result = run_load(plan, executor=executor)
    assert not result.lost_workers and result.requests + result.not_sent == 200
