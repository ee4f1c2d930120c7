"""Per-stage figures: each request in the stage of its intended time, accounting exact per stage."""

from __future__ import annotations

import asyncio
import pickle

from hftperf.loadgen.fake import FakeTransport
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.recorder import IntervalSample
from hftperf.loadgen.request import RequestSpec
from hftperf.loadgen.result import Aggregator, LoadResult
from hftperf.loadgen.runner import new_event_loop
from hftperf.loadgen.schedule import Stage
from hftperf.loadgen.stages import stage_view
from hftperf.loadgen.transport import OK, ErrorClass
from hftperf.loadgen.worker import Worker, WorkerSummary

URL = "http://127.0.0.1:9/"


def _run_workers(plan: LoadPlan, transports: list[FakeTransport]) -> LoadResult:
    """Run every worker of the plan on one loop (a shared start), merged by the Aggregator."""
    samples: list[IntervalSample] = []
    workers = [Worker(plan.for_worker(k), transports[k], samples.append) for k in range(plan.workers)]

    async def main() -> list[WorkerSummary]:
        for worker in workers:
            await worker.prepare()
        start_ns = __import__("time").perf_counter_ns() + 20_000_000
        for worker in workers:
            worker.part = worker.part.starting_at(start_ns)
        return list(await asyncio.gather(*(worker.run() for worker in workers)))

    loop = new_event_loop()
    try:
        summaries = loop.run_until_complete(main())
    finally:
        loop.close()
    aggregator = Aggregator(plan, None)
    for sample in pickle.loads(pickle.dumps(samples)):  # as they cross from worker processes
        aggregator.add(sample)
    return aggregator.result(summaries)


def test_each_stage_gets_its_share_and_accounting_holds() -> None:
    stages = (Stage(200.0, 0.5), Stage(800.0, 0.5), Stage(400.0, 0.5, ramp=True))
    plan = LoadPlan(RequestSpec(URL), connections=4, workers=2, stages=stages, warmup_s=0.2, interval_s=0.25)
    result = _run_workers(plan, [FakeTransport(2, latency_s=0.001) for _ in range(2)])
    assert [s.requests for s in result.stages] == [100, 400, 300]  # ramp 800 → 400/s: 300 over 0.5 s
    assert sum(s.requests for s in result.stages) == result.requests
    assert sum(s.ok for s in result.stages) == result.ok
    assert sum(s.latency.total_count for s in result.stages) == result.latency.total_count
    for stage in result.stages:
        assert stage.accounted and stage.not_sent == 0
    assert result.accounted
    assert result.warmup_requests == 40
    figures = result.to_dict()["stages"]
    assert [f["rate_rps"] for f in figures] == [200.0, 800.0, 400.0]
    assert figures[1]["expected_requests"] == 400.0


def test_a_stage_the_target_cannot_keep_up_with_counts_its_own_failures() -> None:
    # One connection answering in 4 ms: 100/s fits, 1000/s does not (backlog, then not sent)
    stages = (Stage(100.0, 0.5), Stage(1000.0, 0.5))
    fail_from = 1000

    def outcome(index: int) -> int:
        return OK if index < fail_from else ErrorClass.HTTP_5XX

    plan = LoadPlan(RequestSpec(URL), connections=1, stages=stages, warmup_s=0.0, timeout_s=0.3)
    result = _run_workers(plan, [FakeTransport(1, latency_s=0.004, outcome=outcome)])
    first, second = result.stages
    assert first.requests == 50 and first.not_sent == 0 and first.ok == 50
    assert second.requests == 500
    assert second.connection_waits > 0 and second.not_sent > 0
    assert first.accounted and second.accounted and result.accounted
    assert first.requests + second.requests == result.requests
    assert first.censored + second.censored == result.censored
    view = stage_view(result, 1)
    assert view.requests == 500 and view.not_sent == second.not_sent and view.plan.rate_per_s == 1000.0
    assert view.accounted and view.duration_s == 0.5


def test_clearly_failed_needs_counts_no_remaining_answer_can_undo() -> None:
    from hftperf.config import ScenarioConfig
    from hftperf.histogram import LatencyHistogram
    from hftperf.loadgen.stages import StageResult
    from hftperf.scenarios.capacity import CapacityParams, clearly_failed, step_rates

    config = ScenarioConfig(name="c", kind="order-throughput", warmup_s=0.0, duration_s=1.0, seed=1, thresholds=(),
                            params={"start_rate": "100/s", "step_rate": "100/s", "max_rate": "450/s",
                                    "slo_p99": "10ms"})
    params = config.parse_params(CapacityParams)
    assert step_rates(params) == [100.0, 200.0, 300.0, 400.0]

    def stage(slow: int, fast: int, waits: int = 0) -> StageResult:
        latency = LatencyHistogram()
        for _ in range(slow):
            latency.record(50_000)
        for _ in range(fast):
            latency.record(1_000)
        return StageResult(0, Stage(1000.0, 1.0), 0.0, 1000.0, slow + fast, slow + fast, {}, 0, latency,
                           connection_waits=waits)

    assert not clearly_failed(stage(5, 100), params)  # 5 slow of 1,000 due: p99 may still meet the SLO
    assert clearly_failed(stage(20, 100), params)  # 20 slow of at most ~1,000: p99 is over whatever comes
    # connection waits alone never end the run early: saturation also needs the pool's busy share, known
    # only from the stage's intervals once it is over
    assert not clearly_failed(stage(0, 100, waits=900), params)
