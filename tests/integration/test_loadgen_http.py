"""The instrument against real loopback servers: what it measured must be right."""

from __future__ import annotations

import time

import pytest
from support.servers import behaviour_server, free_port, hostile_server

from hftperf.errors import TargetUnreachable
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import LoadPlan, LoadResult, RequestSpec, run_load


def _run(url: str, **kwargs: object) -> LoadResult:
    kwargs.setdefault("warmup_s", 0.2)
    kwargs.setdefault("duration_s", 1.0)
    kwargs.setdefault("connections", 4)
    preflight = bool(kwargs.pop("preflight", True))
    return run_load(LoadPlan(RequestSpec(url + "/"), **kwargs), preflight=preflight)  # type: ignore[arg-type]


def _assert_accounted(result: LoadResult) -> None:
    assert result.requests == result.ok + result.failed + result.in_flight
    assert sum(r.sent for r in result.intervals) == result.sent == result.requests - result.not_sent
    assert sum(r.ok for r in result.intervals) == result.ok
    assert sum(r.censored for r in result.intervals) == result.censored
    # one latency per successful response, plus a lower bound for each left over at the cut-off
    assert result.latency.total_count == result.ok + result.censored


def test_closed_loop_counts_add_up_exactly() -> None:
    with behaviour_server("ok") as url:
        result = _run(url, connections=8)
    _assert_accounted(result)
    assert result.ok > 1000 and result.failed == 0
    assert result.warmup_requests > 0  # warm-up traffic happened but is not in the figures
    assert result.throughput_rps == pytest.approx(result.ok / result.duration_s)


def test_open_loop_sends_the_asked_rate_and_records_lag() -> None:
    with behaviour_server("ok") as url:
        result = _run(url, rate_per_s=2000, duration_s=2.0)
    _assert_accounted(result)
    # Exactly the scheduled number of requests: 2 s at 2000/s.
    assert result.requests == 4000  # due: sent + not_sent
    assert result.sent >= 3990
    assert result.pacer_lag is not None and result.connection_wait is not None
    assert result.pacer_lag.total_count == result.connection_wait.total_count == result.sent


def test_fixed_5ms_delay_gives_p50_between_5_and_7ms() -> None:
    with behaviour_server("delay", "5") as url:
        result = _run(url, connections=4, duration_s=2.0)
    _assert_accounted(result)
    assert 5_000 <= result.latency.value_at_percentile(50) <= 7_000


def test_coordinated_omission_open_loop_sees_the_stall_closed_loop_hides_it() -> None:
    """A 200 ms stall once per second: open loop p99 shows it, closed loop p99 does not."""
    with behaviour_server("stall") as url:
        open_loop = _run(url, rate_per_s=300, connections=8, duration_s=4.0, warmup_s=0.5)
        closed_loop = _run(url, connections=8, duration_s=4.0, warmup_s=0.5)
    _assert_accounted(open_loop)
    _assert_accounted(closed_loop)
    assert open_loop.latency.value_at_percentile(99) > 150_000
    assert open_loop.latency.value_at_percentile(50) < 20_000
    # Closed loop: only the few requests in flight during each stall wait; p99 stays low,
    # although the same server stalled for 20% of the time. This is coordinated omission.
    assert closed_loop.latency.value_at_percentile(99) < 50_000
    assert closed_loop.latency.max_us > 150_000


@pytest.mark.parametrize(
    ("mode", "arg", "error"),
    [
        ("status", "500", "http_5xx"),
        ("status", "429", "http_4xx"),
        ("garbage", None, "protocol"),
        ("reset", None, "connection_reset"),
    ],
)
def test_error_classes(mode: str, arg: str | None, error: str) -> None:
    with behaviour_server(mode, arg) as url:
        result = _run(url, connections=2, duration_s=0.5)
    _assert_accounted(result)
    assert result.ok == 0
    assert set(result.errors) == {error}
    assert result.errors[error] > 10


def test_refused_port_is_counted_as_connect_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TargetUnreachable, match="connection refused"):
        _run(url)
    result = _run(url, connections=2, duration_s=0.5, preflight=False)
    _assert_accounted(result)
    assert set(result.errors) == {"connect_refused"}


def test_silent_server_times_out_and_the_run_ends_on_time() -> None:
    with behaviour_server("silent") as url:
        started = time.monotonic()
        result = _run(url, connections=2, duration_s=1.5, warmup_s=0.0, timeout_s=0.3)
        elapsed = time.monotonic() - started
    _assert_accounted(result)
    assert result.ok == 0
    # Each connection: send, wait 0.3 s, time out, reconnect, send again.
    assert set(result.errors) == {"timeout"}
    assert 6 <= result.errors["timeout"] <= 12
    assert elapsed < 1.5 + 0.3 + 1.5  # duration + timeout + grace (with process start-up)


def test_chunked_and_connection_close_responses_are_ok() -> None:
    with behaviour_server("chunked") as url:
        chunked = _run(url, connections=2, duration_s=0.5)
    with behaviour_server("close") as url:
        closing = _run(url, connections=2, duration_s=0.5)
    for result in (chunked, closing):
        _assert_accounted(result)
        assert result.failed == 0 and result.ok > 50


def test_two_workers_merge_losslessly() -> None:
    with behaviour_server("ok") as url:
        result = _run(url, connections=4, workers=2, duration_s=1.5, rate_per_s=1000)
    _assert_accounted(result)
    assert result.requests == 1500
    merged = LatencyHistogram()
    for record in result.intervals:
        merged.merge(LatencyHistogram.decode(record.latency))
    assert merged == result.latency


def test_values_beyond_the_histogram_range_are_counted_not_dropped() -> None:
    with behaviour_server("delay", "5") as url:
        result = _run(url, connections=2, duration_s=0.5, highest_us=1_000)
    _assert_accounted(result)
    assert result.latency.out_of_range_count == result.ok > 0
    assert result.to_dict()["out_of_range"] == result.ok


def test_server_timing_parts_get_histograms_of_their_own() -> None:
    with behaviour_server("timing") as url:
        plan = LoadPlan(RequestSpec(url + "/", capture_server_timing=True), connections=2, duration_s=0.5,
                        warmup_s=0.1, rate_per_s=400)
        result = run_load(plan)
    _assert_accounted(result)
    assert set(result.server_timing) == {"gateway", "engine", "db"}  # "cache" has no dur
    for name, expected_us in (("gateway", 1500), ("engine", 500), ("db", 250)):
        part = result.server_timing[name]
        assert part.total_count == result.ok
        assert part.min_us == part.max_us == pytest.approx(expected_us, rel=0.002)
    assert set(result.to_dict()["server_timing_us"]) == {"gateway", "engine", "db"}


def test_a_keep_alive_connection_closed_under_a_request_is_not_an_ok() -> None:
    # Each connection answers one request, then closes when the next one arrives: every second
    # request fails. httptools still holds the previous response's status at that point, which
    # once made such a request count as ok although no byte of its answer came back.
    with hostile_server("drop-next", "1") as url:
        result = _run(url, connections=1, warmup_s=0.0, duration_s=1.0)
    assert result.requests == result.ok + result.failed + result.in_flight
    assert result.ok > 10 and result.failed > 10
    assert abs(result.ok - result.failed) <= 2  # answered, dropped, answered, dropped, ...
    assert set(result.errors) <= {"connection_reset", "protocol"}
