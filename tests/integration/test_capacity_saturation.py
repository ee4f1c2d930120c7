"""The capacity search stops where the target saturates, not only where p99 breaks the SLO, and only once a
failed step failed again."""

from __future__ import annotations

from support.servers import behaviour_server

from hftperf.config import ScenarioConfig
from hftperf.reports.markdown import render_markdown
from hftperf.result import build_run_result
from hftperf.scenario_results import scenario_result
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.scenarios.capacity import CapacityParams, OrderThroughput, pool_busy_share


def test_search_stops_at_the_first_saturated_step_with_its_reason() -> None:
    # Fixed concurrency 1 x 5 ms: a little under 200/s. The SLO is generous (10 s), so only
    # saturation can end the search below max_rate.
    config = ScenarioConfig(name="order-throughput", kind="order-throughput", warmup_s=0.0, duration_s=1.0, seed=1,
                            thresholds=(),
                            params={"start_rate": "100/s", "step_rate": "100/s", "max_rate": "600/s",
                                    "step_duration": "1s", "slo_p99": "10s", "connections": 8, "timeout": "3s",
                                    "max_error_rate": "100%",
                                    # the behaviour server is no order API: a profile of POSTs it answers 200
                                    "api": {"name": "serial-desk", "submit": {"path": "/orders", "ok_status": [200],
                                                                              "body": '{"p": ${price}}'}}})
    params = config.parse_params(CapacityParams)
    with behaviour_server("serial", "5") as url:
        outcome = OrderThroughput().run(config, params, RunContext(target_url=url))
    curve = outcome.figures["curve"]
    assert [step["rate_rps"] for step in curve][:1] == [100.0]
    assert curve[0]["passed"] and curve[0]["reason"] == "meets SLO"
    last = curve[-1]
    assert not last["passed"] and "saturation" in last["reason"] and "p99 over SLO" not in last["reason"]
    assert last["rate_rps"] in (200.0, 300.0)  # the first rate above what one 5 ms desk serves
    assert (curve[-2]["rate_rps"], curve[-2]["attempt"], last["attempt"]) == (last["rate_rps"], 1, 2)  # failed twice
    assert last["connection_waits"] > 0.01 * last["rate_rps"]
    assert outcome.figures["capacity_rps"] == last["rate_rps"] - 100.0
    text = render_markdown(build_run_result("cap", {}, [scenario_result("order-throughput", outcome, None, 0)],
                                            "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"))
    assert " reason |" in text and "saturation" in text



def _one_stall_search(remeasure: int) -> tuple[ScenarioOutcome, list[float]]:
    """100 .. 300/s by 100/s against a server that pauses 300 ms once, at its 250th request (in the 200/s step)."""
    config = ScenarioConfig(name="capacity", kind="order-throughput", warmup_s=0.5, duration_s=1.0, seed=1,
                            thresholds=(),
                            params={"start_rate": "100/s", "step_rate": "100/s", "max_rate": "300/s",
                                    "step_duration": "1s", "slo_p99": "50ms", "connections": 8, "timeout": "2s",
                                    "remeasure": remeasure,
                                    "api": {"name": "one-stall", "submit": {"path": "/orders", "ok_status": [200],
                                                                            "body": '{"p": ${price}}'}}})
    params = config.parse_params(CapacityParams)
    starts_s: list[float] = []
    with behaviour_server("stall-once", "250") as url:
        context = RunContext(target_url=url, on_interval=lambda report: starts_s.append(report.record.start_s))
        outcome = OrderThroughput().run(config, params, context)
    return outcome, starts_s


def test_a_failed_step_is_measured_again_and_a_one_off_stall_does_not_decide_the_capacity() -> None:
    outcome, starts_s = _one_stall_search(remeasure=2)
    curve = outcome.figures["curve"]
    steps = [(step["rate_rps"], step["attempt"], step["passed"]) for step in curve]
    assert steps == [(100.0, 1, True), (200.0, 1, False), (200.0, 2, True), (300.0, 1, True)], curve
    assert "p99 over SLO" in curve[1]["reason"] and curve[1]["p99_us"] > 200_000
    assert outcome.figures["capacity_rps"] == 300.0
    # the re-measurement's intervals go on after the first run's in the interval log
    assert starts_s == sorted(starts_s) and len(starts_s) >= 4
    text = render_markdown(build_run_result("cap", {}, [scenario_result("capacity", outcome, None, 0)],
                                            "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"))
    assert "200/s (again)" in text


def test_without_remeasure_the_first_failure_ends_the_search() -> None:
    outcome, _ = _one_stall_search(remeasure=0)
    steps = [(step["rate_rps"], step["attempt"], step["passed"]) for step in outcome.figures["curve"]]
    assert steps == [(100.0, 1, True), (200.0, 1, False)], outcome.figures["curve"]
    assert outcome.figures["capacity_rps"] == 100.0


def _one_step(rate: str, slo: str) -> ScenarioOutcome:
    """One 2 s step over ONE connection to a server that answers every 10th request after 25 ms, the rest at
    once: about 3.4 ms on the wire per request, so the connection carries about 290/s."""
    config = ScenarioConfig(name="capacity", kind="order-throughput", warmup_s=0.5, duration_s=1.0, seed=1,
                            thresholds=(),
                            params={"start_rate": rate, "step_rate": rate, "max_rate": rate, "step_duration": "2s",
                                    "slo_p99": slo, "connections": 1, "timeout": "2s", "remeasure": 0,
                                    "api": {"name": "bursty", "submit": {"path": "/orders", "ok_status": [200],
                                                                         "body": '{"p": ${price}}'}}})
    with behaviour_server("slow-every", "10:25") as url:
        return OrderThroughput().run(config, config.parse_params(CapacityParams), RunContext(target_url=url))


def test_connection_waits_on_a_pool_with_room_are_no_saturation() -> None:
    outcome = _one_step("150/s", "100ms")
    (step,) = outcome.figures["curve"]
    assert step["connection_waits"] > 0.01 * 300  # a slow answer holds the one connection: the next ones wait
    assert step["passed"] and step["reason"] == "meets SLO", step
    assert outcome.load is not None
    busy = pool_busy_share(outcome.load)
    assert busy is not None and 0.25 < busy < 0.85, busy  # ~150/s x 3.4 ms on the wire


def test_a_pool_busy_all_the_step_is_saturation_even_within_a_generous_slo() -> None:
    outcome = _one_step("600/s", "10s")
    (step,) = outcome.figures["curve"]
    assert not step["passed"] and "saturation (connections" in step["reason"], step
    assert "p99 over SLO" not in step["reason"]
