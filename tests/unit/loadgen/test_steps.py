"""Stepped and ramped schedules: closed-form due times, consistent counts, interleaving."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.request import RequestSpec
from hftperf.loadgen.schedule import ClosedLoop, ConstantRate, Stage, Steps

stages_strategy = st.lists(
    st.builds(Stage, rate_per_s=st.floats(1.0, 1e5), duration_s=st.floats(0.01, 100.0), ramp=st.booleans()),
    min_size=1, max_size=5,
).map(tuple)


def test_one_constant_stage_is_the_constant_rate() -> None:
    steps, constant = Steps((Stage(1000.0, 10.0),)), ConstantRate(1000.0)
    assert [steps.due_ns(i) for i in range(2000)] == [constant.due_ns(i) for i in range(2000)]


def test_steps_change_rate_at_the_stage_edge() -> None:
    steps = Steps((Stage(1000.0, 1.0), Stage(4000.0, 1.0)))
    assert steps.due_ns(999) == 999_000_000
    assert steps.due_ns(1000) == 1_000_000_000
    assert steps.due_ns(1001) == 1_000_250_000
    assert steps.count_due(2_000_000_000 - 1) == 5000
    assert steps.expected_requests == 5000 and steps.duration_s == 2.0


def test_a_ramp_integrates_the_rate() -> None:
    steps = Steps((Stage(1000.0, 1.0), Stage(3000.0, 2.0, ramp=True)))
    # N(t) in the ramp = 1000 t + 500 t²: 1,500 requests by t = 1 s, 4,000 by its end
    assert steps.count_due(2_000_000_000) == 2501
    assert steps.count_due(3_000_000_000 - 1) == 5000
    # halfway through the stage's requests (t where 1000 t + 500 t² = 2000): t = sqrt(5) - 1
    assert steps.due_ns(3000) == pytest.approx(1e9 + (5**0.5 - 1) * 1e9, abs=2)
    first_ramp = Steps((Stage(2000.0, 2.0, ramp=True),))  # from 0: N(t) = 500 t²
    assert first_ramp.due_ns(500) == pytest.approx(1e9, abs=2)


@settings(max_examples=300)
@given(stages=stages_strategy, workers=st.integers(1, 8), data=st.data())
def test_count_due_agrees_with_due_ns(stages: tuple[Stage, ...], workers: int, data: st.DataObject) -> None:
    worker = data.draw(st.integers(0, workers - 1))
    schedule = Steps(stages, worker, workers)
    end_ns = int(schedule.duration_s * 1.2e9)
    elapsed_ns = data.draw(st.integers(0, end_ns))
    count = schedule.count_due(elapsed_ns)
    assert count == 0 or schedule.due_ns(count - 1) <= elapsed_ns
    assert schedule.due_ns(count) > elapsed_ns or schedule.due_ns(count) == elapsed_ns == 0


@settings(max_examples=100)
@given(stages=stages_strategy, data=st.data())
def test_due_times_never_go_backwards(stages: tuple[Stage, ...], data: st.DataObject) -> None:
    schedule = Steps(stages)
    total = int(schedule.expected_requests)
    start = data.draw(st.integers(0, max(0, total)))
    times = [schedule.due_ns(i) for i in range(start, start + 200)]
    assert times == sorted(times)


@settings(max_examples=50)
@given(stages=stages_strategy, workers=st.integers(2, 6))
def test_workers_interleave_into_the_single_schedule(stages: tuple[Stage, ...], workers: int) -> None:
    single = Steps(stages)
    n = min(int(single.expected_requests), 3000)
    shares = [single.for_worker(k, workers) for k in range(workers)]
    merged = sorted(s.due_ns(i) for s in shares for i in range((n + workers - 1) // workers))
    assert merged[:n] == [single.due_ns(i) for i in range(n)]
    end_ns = int(single.duration_s * 1e9)
    assert sum(s.count_due(end_ns) for s in shares) == single.count_due(end_ns)


def test_closed_loop_is_a_schedule_without_times() -> None:
    closed = ClosedLoop()
    assert not closed.open_loop and closed.count_due(10**9) == 0
    assert closed.for_worker(1, 2) is closed
    with pytest.raises(TypeError):
        closed.due_ns(0)


def test_invalid_stages_are_rejected() -> None:
    with pytest.raises(ValueError):
        Stage(0.0, 1.0)
    with pytest.raises(ValueError):
        Stage(10.0, 0.0)
    with pytest.raises(ValueError):
        Steps(())


def test_a_plan_carries_its_schedule() -> None:
    spec = RequestSpec("http://127.0.0.1:9/")
    stages = (Stage(500.0, 2.0), Stage(1500.0, 3.0, ramp=True))
    plan = LoadPlan(spec, connections=4, workers=2, stages=stages, warmup_s=1.0)
    assert plan.open_loop and plan.duration_s == 5.0 and plan.rate_per_s is None
    assert plan.offered_rate_per_s == pytest.approx((1000 + 3000) / 5)
    schedule = plan.schedule  # warm-up at the first stage's rate, then the stages
    assert isinstance(schedule, Steps) and schedule.duration_s == 6.0
    assert schedule.count_due(1_000_000_000 - 1) == 500
    assert plan.stage_bounds_ns() == (0, 2_000_000_000, 5_000_000_000)
    assert pickle.loads(pickle.dumps(plan.schedule_for(1))) == plan.schedule_for(1)
    assert isinstance(LoadPlan(spec).schedule, ClosedLoop)
    assert LoadPlan(spec, rate_per_s=100.0).schedule_for(0) == ConstantRate(100.0)
    with pytest.raises(ValueError, match="exclude"):
        LoadPlan(spec, rate_per_s=100.0, stages=stages)


def test_a_first_ramp_after_warm_up_still_starts_from_zero() -> None:
    plan = LoadPlan(RequestSpec("http://127.0.0.1:9/"), stages=(Stage(2000.0, 2.0, ramp=True),), warmup_s=1.0)
    schedule = plan.schedule
    warmup = schedule.count_due(1_000_000_000 - 1)
    assert warmup == 2000
    assert schedule.count_due(3_000_000_000 - 1) - warmup == 2000  # 0 → 2000/s over 2 s
