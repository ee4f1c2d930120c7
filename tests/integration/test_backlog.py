"""The backlog after the end, against a real saturated server: sent, then censored at the cut-off."""

from __future__ import annotations

from support.servers import behaviour_server

from hftperf.loadgen import LoadPlan, RequestSpec, run_load


def test_what_one_timeout_after_the_end_cannot_send_is_censored_and_counted() -> None:
    # One 5 ms desk (< 200/s) at 400/s for 2 s: ~400 answered in the period, ~400 wait; one
    # timeout (1 s) after the end sends ~190 more; the rest is never sent, the last 4 unanswered.
    with behaviour_server("serial", "5") as url:
        result = run_load(LoadPlan(RequestSpec(url + "/"), connections=4, rate_per_s=400, duration_s=2.0,
                                   warmup_s=0.0, timeout_s=1.0))
    assert result.requests == 800 and result.accounted and result.in_flight == 0
    timeouts = result.errors.get("timeout", 0)
    assert 1 <= timeouts <= 4  # at most one per connection, unanswered at the cut-off (a busy machine: fewer)
    assert 150 <= result.not_sent <= 320
    assert result.censored == result.not_sent + timeouts
    assert result.latency.total_count == result.ok + result.censored  # every due request is in the histogram
    assert 0.99 <= result.drain_s <= 1.2  # the cut-off: one timeout after the end
    # The censored values are at least the timeout (they were all due before the end) and sit
    # at the top: the share of the distribution at or above 1 s covers them all.
    at_or_above_timeout = 100.0 * (1.0 - result.censored / result.latency.total_count)
    assert result.latency.value_at_percentile(at_or_above_timeout) >= 990_000
    assert 120 <= result.throughput_rps <= 210  # answers over the period plus the drain (a 5 ms desk: <= 200/s)
