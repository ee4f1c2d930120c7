"""The coordinator's feed: exact merge, a lost worker's gap filled with nothing, its share accounted."""

from __future__ import annotations

import numpy as np
import pytest

from hftperf.errors import UsageError
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import LoadPlan, RequestSpec
from hftperf.loadgen.executors import check_cluster_address
from hftperf.loadgen.executors.feed import IntervalFeed, empty_like
from hftperf.loadgen.executors.safety import check_loopback_target, is_loopback_host
from hftperf.loadgen.recorder import Recorder
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.schedule import ConstantRate


def _plan(workers: int, rate: float | None = 1000.0) -> LoadPlan:
    return LoadPlan(RequestSpec(url="http://127.0.0.1:9/x"), connections=8, duration_s=4.0, warmup_s=1.0,
                    rate_per_s=rate, workers=workers)


def _sample(recorder: Recorder, index: int, values_us: list[int], errors: int = 0):  # type: ignore[no-untyped-def]
    for value in values_us:
        recorder.latency_ns.append(value * 1000)
        recorder.lag_ns.append(2000)
    recorder.sent += len(values_us) + errors
    recorder.ok += len(values_us)
    recorder.errors[1] += errors
    return recorder.rotate(index, float(index), 1.0)


def test_empty_like_keeps_the_interval_and_measures_nothing() -> None:
    sample = _sample(Recorder(True, 60_000_000), 3, [100, 200, 300], errors=2)
    empty = empty_like(sample, 60_000_000)
    assert (empty.index, empty.start_s, empty.length_s) == (3, 3.0, 1.0)
    assert empty.sent == empty.ok == 0 and sum(empty.errors) == 0 and len(empty.errors) == len(sample.errors)
    assert LatencyHistogram.decode(empty.latency).total_count == 0
    assert LatencyHistogram.decode(empty.pacer_lag).total_count == 0
    assert LatencyHistogram.decode(empty.connection_wait).total_count == 0
    assert empty.operations == () and empty.counts == () and empty.censored == 0


def test_lost_worker_intervals_are_filled_so_live_intervals_are_emitted() -> None:
    plan = _plan(2)
    emitted = []
    aggregator = Aggregator(plan, emitted.append)
    feed = IntervalFeed(plan, aggregator)
    recorders = [Recorder(True, plan.highest_us), Recorder(True, plan.highest_us)]
    rng = np.random.default_rng(7)
    values = {k: [int(v) for v in rng.integers(50, 5000, size=400)] for k in (0, 1)}
    feed.add(0, _sample(recorders[0], 0, values[0][:100]))
    feed.add(1, _sample(recorders[1], 0, values[1][:100], errors=1))
    feed.add(1, _sample(recorders[1], 1, values[1][100:150]))  # worker 1 dies after this, 3 unanswered
    recorders[1].sent += 3
    assert len(emitted) == 1
    feed.lose(1)  # interval 1 from worker 0 has not come yet: nothing to emit
    assert len(emitted) == 1
    for index in (1, 2, 3):
        feed.add(0, _sample(recorders[0], index, values[0][index * 100:(index + 1) * 100]))
        assert len(emitted) == index + 1  # each live interval is emitted as it completes
    feed.finish()
    lost, summary = feed.lost_share(1, "w1", 1.5)
    result = aggregator.result([summary])
    assert result.requests == 400 + 101 + 50
    assert result.ok == 400 + 150 and result.failed == 1
    assert lost.in_flight == 0  # what it delivered was answered within the intervals it delivered
    # every value either worker delivered is in the merged histogram, nothing else
    expected = LatencyHistogram(plan.highest_us)
    expected.record_many(np.array(values[0] + values[1][:150]))
    assert result.latency == expected
    # its unsent share: every measured request of its schedule it did not report
    schedule = ConstantRate(1000.0, 1, 2)
    due = schedule.count_due(5_000_000_000 - 1) - schedule.count_due(1_000_000_000 - 1)
    assert lost.not_sent == due - 151 == summary.not_sent


def test_lost_share_counts_unanswered_requests_in_flight_and_closed_loop_has_no_due() -> None:
    plan = _plan(2, rate=None)
    feed = IntervalFeed(plan, Aggregator(plan, None))
    recorder = Recorder(False, plan.highest_us)
    recorder.sent += 5  # sent, never answered in a delivered interval
    feed.add(1, _sample(recorder, 0, [100] * 10))
    lost, summary = feed.lost_share(1, "w1", 0.5)
    assert (lost.not_sent, lost.in_flight) == (0, 5)
    assert summary.in_flight == 5


@pytest.mark.parametrize("text", ["local:2", "tcp://127.0.0.1:8786", "tls://sched.example:8786", "tcp://[::1]:8786"])
def test_cluster_addresses_accepted(text: str) -> None:
    assert check_cluster_address(text) == text


@pytest.mark.parametrize("text", ["local:0", "local:x", "127.0.0.1:8786", "http://h:1", "", "tcp://"])
def test_cluster_addresses_refused(text: str) -> None:
    with pytest.raises(ValueError, match="tcp://HOST:8786, or local:N"):
        check_cluster_address(text)


def test_only_loopback_targets_without_the_flag() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("127.3.4.5") and is_loopback_host("::1")
    assert is_loopback_host("localhost")
    assert not is_loopback_host("192.0.2.1") and not is_loopback_host("10.0.0.1")
    remote = LoadPlan(RequestSpec(url="http://192.0.2.1:80/health"))
    with pytest.raises(UsageError, match=r"192\.0\.2\.1:80 is not a loopback address.*--allow-remote-target"):
        check_loopback_target(remote, allow_remote_target=False)
    check_loopback_target(remote, allow_remote_target=True)
    check_loopback_target(_plan(1), allow_remote_target=False)


def test_a_lost_workers_share_of_a_stepped_plan_is_split_by_stage() -> None:
    import dataclasses
    import itertools

    from hftperf.loadgen.schedule import Stage
    from hftperf.loadgen.stages import StageSample

    plan = LoadPlan(RequestSpec(url="http://127.0.0.1:9/x"), connections=8, warmup_s=1.0, workers=2,
                    stages=(Stage(1000.0, 2.0), Stage(2000.0, 2.0, ramp=True)))
    feed = IntervalFeed(plan, Aggregator(plan, None))
    recorder = Recorder(True, plan.highest_us)
    encoded = LatencyHistogram(plan.highest_us).encode()
    sample = _sample(recorder, 0, [100] * 300)
    errors = (0,) * len(sample.errors)
    feed.add(1, dataclasses.replace(sample, stages=(StageSample(0, 300, 300, errors, encoded),)))
    lost, summary = feed.lost_share(1, "w1", 0.3)
    schedule = plan.schedule_for(1)
    starts = [1_000_000_000, 3_000_000_000, 5_000_000_000]  # warm-up 1 s, then the two stages
    due = [schedule.count_due(b - 1) - schedule.count_due(a - 1) for a, b in itertools.pairwise(starts)]
    assert lost.not_sent_by_stage == (due[0] - 300, due[1])
    assert lost.not_sent == sum(lost.not_sent_by_stage) == summary.not_sent
    assert lost.to_dict()["not_sent_by_stage"] == [due[0] - 300, due[1]]
    assert 999 <= due[0] <= 1001 and 1499 <= due[1] <= 1501  # half of 2,000 and of 3,000 (the ramp's area)


def test_a_lost_workers_unanswered_requests_are_in_flight_in_their_stage() -> None:
    """Sent in a delivered interval, answered in one that never arrived: in flight in that stage, not lost."""
    import dataclasses

    from hftperf.loadgen import _with_lost_shares
    from hftperf.loadgen.schedule import Stage
    from hftperf.loadgen.stages import StageSample, stage_results

    plan = LoadPlan(RequestSpec(url="http://127.0.0.1:9/x"), connections=8, warmup_s=1.0, workers=2,
                    stages=(Stage(1000.0, 2.0), Stage(2000.0, 2.0)))
    aggregator = Aggregator(plan, None)
    feed = IntervalFeed(plan, aggregator)
    recorder = Recorder(True, plan.highest_us)
    encoded = LatencyHistogram(plan.highest_us).encode()
    for worker in (0, 1):
        sample = _sample(recorder, 0, [100] * 298)
        sample = dataclasses.replace(sample, sent=300)  # two requests still unanswered at the interval's end
        errors = (0,) * len(sample.errors)
        feed.add(worker, dataclasses.replace(sample, stages=(StageSample(0, 300, 298, errors, encoded),)))
    lost, summary = feed.lost_share(1, "w1", 0.3)
    assert lost.in_flight == summary.in_flight == 2 and lost.in_flight_by_stage == (2, 0)
    assert lost.to_dict()["in_flight_by_stage"] == [2, 0]
    stage = _with_lost_shares(stage_results(plan.stages, {}, plan.highest_us), (lost,))[0]
    assert stage.in_flight == 2 and stage.not_sent == lost.not_sent_by_stage[0] > 0
