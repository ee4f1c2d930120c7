"""A stepped schedule against a real loopback server: each stage sends its share, accounting exact."""

from __future__ import annotations

import pytest
from support.servers import behaviour_server

from hftperf.loadgen import LoadPlan, RequestSpec, Stage, run_load


@pytest.mark.parametrize("workers", [1, 2])
def test_two_stages_each_send_rate_times_duration(workers: int) -> None:
    stages = (Stage(200.0, 1.0), Stage(600.0, 1.0, ramp=True))
    with behaviour_server("ok") as url:
        plan = LoadPlan(RequestSpec(url + "/"), connections=8, workers=workers, stages=stages, warmup_s=0.3,
                        interval_s=0.5)
        result = run_load(plan)
    first, second = result.stages
    assert first.expected_requests == 200 and second.expected_requests == 400  # ramp 200 → 600/s over 1 s
    for stage in result.stages:
        assert abs(stage.requests - stage.expected_requests) <= 1
        assert stage.accounted
        assert stage.sent == stage.ok + stage.failed - stage.not_sent + stage.in_flight
    assert first.requests + second.requests == result.requests
    assert first.ok + second.ok == result.ok
    assert first.latency.total_count + second.latency.total_count == result.latency.total_count
    assert result.accounted and result.duration_s == pytest.approx(2.0, abs=0.1)
    assert result.to_dict()["offered_rate_rps"] == 300.0


@pytest.mark.parametrize("workers", [1, 2])
def test_finish_when_ends_the_schedule_early_with_exact_accounting(workers: int) -> None:
    stages = (Stage(200.0, 0.5), Stage(200.0, 0.5), Stage(200.0, 5.0))
    with behaviour_server("ok") as url:
        plan = LoadPlan(RequestSpec(url + "/"), connections=4, workers=workers, stages=stages, warmup_s=0.0,
                        interval_s=0.25)
        result = run_load(plan, finish_when=lambda so_far: so_far[1].sent > 0)
    assert result.duration_s < 3.0 and not result.interrupted  # not the 6 s asked
    first, _, last = result.stages
    assert first.requests == 100 and first.accounted
    assert last.requests < 500
    assert all(stage.accounted for stage in result.stages) and result.accounted
    assert sum(stage.requests for stage in result.stages) == result.requests
