"""The capacity search stops where the target saturates, not only where p99 breaks the SLO."""

from __future__ import annotations

from support.servers import behaviour_server

from hftperf.config import ScenarioConfig
from hftperf.reports.markdown import render_markdown
from hftperf.result import build_run_result
from hftperf.scenario_results import scenario_result
from hftperf.scenarios.base import RunContext
from hftperf.scenarios.capacity import CapacityParams, OrderThroughput


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
    assert last["connection_waits"] > 0.01 * last["rate_rps"]
    assert outcome.figures["capacity_rps"] == last["rate_rps"] - 100.0
    text = render_markdown(build_run_result("cap", {}, [scenario_result("order-throughput", outcome, None, 0)],
                                            "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"))
    assert " reason |" in text and "saturation" in text
