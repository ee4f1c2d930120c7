"""Worker pacing and accounting, checked with the in-memory transport (no network)."""

from __future__ import annotations

import asyncio

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen.fake import FakeTransport
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.recorder import ERROR_SLOTS, IntervalSample
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


def _merged(samples: list[IntervalSample], field: str) -> LatencyHistogram:
    total = LatencyHistogram()
    for sample in samples:
        text = getattr(sample, field)
        if text is not None:
            total.merge(LatencyHistogram.decode(text))
    return total


def test_open_loop_sends_the_backlog_and_measures_it_from_intended_time() -> None:
    # One connection, 100 ms service time, 50 requests/s asked for 1 s: 10 fit in the period,
    # the other 40 wait for the connection and go out after it, each timed from its due time.
    plan = LoadPlan(RequestSpec(URL), connections=1, duration_s=1.0, warmup_s=0.0, rate_per_s=50)
    samples, summary = _run(plan, FakeTransport(1, latency_s=0.1))
    assert sum(s.sent for s in samples) == sum(s.ok for s in samples) == 50
    assert summary.not_sent == 0 and summary.in_flight == 0
    assert 3.5 <= summary.drain_s <= 4.5  # 4 s of backlog after the end
    latency = _merged(samples, "latency")
    assert latency.total_count == 50
    assert 3_800_000 <= latency.max_us <= 4_400_000  # the last one was due at 0.98 s, answered at ~5 s
    assert sum(s.connection_waits for s in samples) >= 45  # every request after the first few waited
    wait, lag = _merged(samples, "connection_wait"), _merged(samples, "pacer_lag")
    assert wait.total_count == lag.total_count == 50
    assert wait.max_us >= 3_700_000  # the wait is the target's ...
    assert lag.value_at_percentile(99) < 20_000  # ... and none of it is blamed on the pacer


def test_what_the_backlog_cannot_send_in_one_timeout_is_censored() -> None:
    plan = LoadPlan(RequestSpec(URL), connections=1, duration_s=1.0, warmup_s=0.0, rate_per_s=50, timeout_s=0.5)
    samples, summary = _run(plan, FakeTransport(1, latency_s=0.1))
    sent = sum(s.sent for s in samples)
    assert 13 <= sent <= 17  # 1.5 s of one connection at 100 ms each
    not_sent = sum(s.errors[ErrorClass.NOT_SENT] for s in samples)
    assert summary.not_sent == not_sent == 50 - sent
    timeouts = sum(s.errors[ErrorClass.TIMEOUT] for s in samples)  # in flight at the cut-off
    assert timeouts <= 1 and summary.in_flight == 0
    censored = sum(s.censored for s in samples)
    assert censored == not_sent + timeouts
    latency = _merged(samples, "latency")
    assert latency.total_count == sum(s.ok for s in samples) + censored  # every due request is in it
    # the never-sent were due before the end and waited until the cut-off: at least the timeout
    assert latency.value_at_percentile(100.0 * (50 - not_sent) / 50) >= 480_000


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
            aggregator.add(IntervalSample(index, float(index), 1.0, 50, 50, (0,) * ERROR_SLOTS, part.encode(), None,
                                          None))
    result = aggregator.result([WorkerSummary(0, 0, 0, 4.0, False)] * 3)
    assert result.latency == everything
    assert result.requests == result.ok == 600
    assert [r.ok for r in result.intervals] == [150] * 4
    assert asyncio.iscoroutinefunction(Worker.run)
