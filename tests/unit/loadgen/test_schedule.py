"""Open-loop schedules are pure functions of the request index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftperf.loadgen.schedule import ConstantRate


def test_constant_rate_single_worker() -> None:
    schedule = ConstantRate(1000.0)
    assert [schedule.due_ns(i) for i in range(3)] == [0, 1_000_000, 2_000_000]
    assert schedule.count_due(0) == 1
    assert schedule.count_due(999_999) == 1
    assert schedule.count_due(1_000_000) == 2
    assert schedule.count_due(-1) == 0


def test_workers_interleave_into_one_even_schedule() -> None:
    workers = [ConstantRate(3000.0, k, 3) for k in range(3)]
    merged = sorted(w.due_ns(i) for w in workers for i in range(100))
    single = ConstantRate(3000.0)
    assert merged == [single.due_ns(i) for i in range(300)]


@given(rate=st.floats(1.0, 1e6), workers=st.integers(1, 8), data=st.data())
def test_count_due_agrees_with_due_ns(rate: float, workers: int, data: st.DataObject) -> None:
    worker = data.draw(st.integers(0, workers - 1))
    schedule = ConstantRate(rate, worker, workers)
    elapsed_ns = data.draw(st.integers(0, 10**12))
    count = schedule.count_due(elapsed_ns)
    assert count == 0 or schedule.due_ns(count - 1) <= elapsed_ns
    assert schedule.due_ns(count) > elapsed_ns


def test_invalid_rates_are_rejected() -> None:
    with pytest.raises(ValueError):
        ConstantRate(0.0)
    with pytest.raises(ValueError):
        ConstantRate(10.0, 2, 2)
