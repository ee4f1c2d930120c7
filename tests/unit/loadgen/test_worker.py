"""Worker pacing and accounting, checked with the in-memory transport (no network)."""

from __future__ import annotations

import asyncio

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.fake import FakeTransport
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.recorder import IntervalSample
from hftperf.loadgen.request import RequestSpec
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.runner import new_event_loop
from hftperf.loadgen.transport import OK, ErrorClass
from hftperf.loadgen.worker import Worker, WorkerSummary

URL = "http://127.0.0.1:9/"


def _run(plan: LoadPlan, transport: FakeTransport) -> tuple[list[IntervalSample], WorkerSummary]:
    samples: list[IntervalSample] = []
    worker = Worker(plan.for_worker(0), transport, samples.append)

    async def main() -> WorkerSummary:
        await worker.prepare()
        return await worker.run()

    loop = new_event_loop()
    try:
        return samples, loop.run_until_complete(main())
    finally:
        loop.close()


def test_open_loop_sends_every_scheduled_request_in_order() -> None:
    plan = LoadPlan(RequestSpec(URL), connections=4, duration_s=1.0, warmup_s=0.25, rate_per_s=400)
    transport = FakeTransport(4, latency_s=0.002)
    samples, summary = _run(plan, transport)
    assert transport.sent == list(range(500))  # 0.25 s warm-up + 1 s, at 400/s
    assert summary.warmup_requests == 100
    assert sum(s.sent for s in samples) == 400
    assert sum(s.ok for s in samples) == 400
    assert summary.in_flight == 0 and summary.not_sent == 0
    latency = LatencyHistogram()
    for sample in samples:
        latency.merge(LatencyHistogram.decode(sample.latency))
    # uvloop timers are millisecond-grained and may fire up to 1 ms early or late.
    assert 1_000 <= latency.value_at_percentile(50) <= 4_000


def test_open_loop_measures_from_intended_time_when_connections_run_out() -> None:
    # One connection, 100 ms service time, 50 requests/s asked: the backlog grows, and the
    # latency of each request includes the time it waited for the connection.
    plan = LoadPlan(RequestSpec(URL), connections=1, duration_s=1.0, warmup_s=0.0, rate_per_s=50)
    samples, summary = _run(plan, FakeTransport(1, latency_s=0.1))
    sent = sum(s.sent for s in samples)
    assert 9 <= sent <= 11
    assert summary.not_sent == 50 - sent
    latency = LatencyHistogram()
    for sample in samples:
        latency.merge(LatencyHistogram.decode(sample.latency))
    assert latency.max_us > 500_000  # the last ones waited most of the second


def test_errors_are_counted_by_class() -> None:
    outcomes = {0: OK, 1: ErrorClass.HTTP_5XX, 2: ErrorClass.TIMEOUT}
    plan = LoadPlan(RequestSpec(URL), connections=2, duration_s=0.5, warmup_s=0.0, rate_per_s=300)
    samples, summary = _run(plan, FakeTransport(2, 0.001, lambda i: outcomes[i % 3]))
    errors = [sum(s.errors[cls] for s in samples) for cls in ErrorClass]
    sent = sum(s.sent for s in samples)
    ok = sum(s.ok for s in samples)
    assert sent == ok + sum(errors) + summary.in_flight == 150
    assert errors[ErrorClass.HTTP_5XX - 1] == 50 and errors[ErrorClass.TIMEOUT - 1] == 50


def test_timeout_resets_the_slot_and_closed_loop_goes_on() -> None:
    plan = LoadPlan(RequestSpec(URL), connections=1, duration_s=0.6, warmup_s=0.0, timeout_s=0.1)
    samples, summary = _run(plan, FakeTransport(1, latency_s=10.0))
    timeouts = sum(s.errors[ErrorClass.TIMEOUT] for s in samples)
    assert 4 <= timeouts <= 6
    assert sum(s.sent for s in samples) == timeouts + summary.in_flight


def test_aggregator_merges_k_workers_like_one_histogram() -> None:
    plan = LoadPlan(RequestSpec(URL), connections=3, workers=3, rate_per_s=10.0)
    aggregator = Aggregator(plan, None)
    everything = LatencyHistogram()
    for worker in range(3):
        for index in range(4):
            part = LatencyHistogram()
            values = [(worker + 1) * (index + 1) * 1000 + v for v in range(50)]
            for value in values:
                part.record(value)
                everything.record(value)
            aggregator.add(IntervalSample(index, float(index), 1.0, 50, 50, (0,) * 10, part.encode(), None))
    result = aggregator.result([WorkerSummary(0, 0, 0, 4.0, False)] * 3)
    assert result.latency == everything
    assert result.requests == result.ok == 600
    assert [r.ok for r in result.intervals] == [150] * 4
    assert asyncio.iscoroutinefunction(Worker.run)
