"""``[api] protocol = "grpc"``: order-latency's profile-driven flow against the bundled engine over gRPC only
(reflection for the descriptors, JSON templates, JSON pointers on the rendered answers), and a bad
gRPC profile as one line naming the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import grpc
import pytest
from test_loadgen_grpc import engine_process

from hftperf.config import GrpcChannelOptions, ScenarioConfig
from hftperf.errors import ConfigError
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.scenarios.base import RunContext
from hftperf.scenarios.orders import OrderLatency, OrderLatencyParams

PROFILE = tomllib.loads('''
[api]
name = "engine-grpc"
protocol = "grpc"
[api.submit]
method = "hftperf.matching.v1.MatchingEngine/SubmitOrder"
order_id = "/order/order_id"
status = "/order/status"
resting = ["NEW", "PARTIALLY_FILLED"]
filled = ["FILLED"]
rejected = ["REJECTED"]
[api.cancel]
method = "hftperf.matching.v1.MatchingEngine/CancelOrder"
body = '{"order_id": "${order_id}"}'
[api.values]
side = { buy = "BUY", sell = "SELL" }
type = { limit = "LIMIT", market = "MARKET" }
time_in_force = { limit = "GTC", market = "IOC" }
''')["api"]
PROFILE["submit"]["body"] = ('{"symbol": "${symbol}", "side": "${side}", "type": "${type}", "timeInForce": '
                             '"${time_in_force}", "priceTicks": ${price}, "quantity": ${quantity}, '
                             '"clientOrderId": "${client_order_id}"}')


def scenario(api: Any) -> ScenarioConfig:
    return ScenarioConfig(name="orders", kind="order-latency", warmup_s=0.3, duration_s=1.0, seed=7, thresholds=(),
                          params={"api": api, "rate": "300/s", "connections": 8,
                                  "symbols": ["BTC-USD"], "mix": {"limit": 0.6, "cancel": 0.3, "market": 0.1}})


def test_order_latency_over_grpc_against_the_bundled_engine(tmp_path: Path) -> None:
    with engine_process(tmp_path) as (target, _):
        config = scenario(PROFILE)
        context = RunContext(target_url="http://127.0.0.1:1", grpc_target=target,  # no HTTP anywhere
                             grpc_channel_options=GrpcChannelOptions().channel_options())
        outcome = OrderLatency().run(config, config.parse_params(OrderLatencyParams), context)
        result = outcome.load
        assert result is not None and result.plan.grpc is not None
        assert result.requests == 300 and result.errors == {} and result.ok == 300
        counts = result.counts
        sent = {op: counts.get(f"sent.{op}", 0) for op in ("submit.limit", "submit.market", "cancel")}
        # The source's counters start when the worker's end-of-warm-up timer runs: the measured requests
        # sent before it fired (late on a busy machine) are not in them, as for HTTP flows.
        assert result.requests - 5 <= sum(sent.values()) <= result.requests
        assert sent["cancel"] > 30 and counts.get("outcome.resting", 0) > 0  # cancels of ids learnt from answers
        assert counts.get("cancel.ok", 0) == sent["cancel"] and "cancel.failed" not in counts
        assert abs(result.operations["cancel"].total_count - sent["cancel"]) <= 1
        assert "cancel.p99" in outcome.figures and "submit.limit.p99" in outcome.figures
        with grpc.insecure_channel(target) as channel:
            health = pb_grpc.MatchingEngineStub(channel).Health(pb.HealthRequest())
        assert health.orders_total >= sent["submit.limit"] + sent["submit.market"]


@pytest.mark.parametrize(("change", "needle"), [
    ({"submit": {**PROFILE["submit"], "method": "SubmitOrder"}}, "submit.method"),
    ({"submit": {**PROFILE["submit"], "body": '{"symbl": "${symbol}"}'}}, "submit.body"),
    ({"submit": {**PROFILE["submit"], "order_id": "/order/id"}}, "submit.order_id"),
    ({"protocol": "websocket"}, "protocol"),
])
def test_a_bad_grpc_profile_names_the_key(tmp_path: Path, change: dict[str, Any], needle: str) -> None:
    with engine_process(tmp_path) as (target, _):
        config = scenario({**PROFILE, **change})
        with pytest.raises(ConfigError, match=needle):
            params = config.parse_params(OrderLatencyParams)
            OrderLatency().run(config, params, RunContext(target_url="http://127.0.0.1:1", grpc_target=target))
    assert dataclasses.is_dataclass(OrderLatencyParams)


def test_api_check_dry_runs_a_grpc_profile(tmp_path: Path) -> None:
    import subprocess
    import sys

    lines = ["[api]", 'protocol = "grpc"']
    for table in ("submit", "cancel", "values"):
        lines.append(f"[api.{table}]")
        for key, value in PROFILE[table].items():
            if isinstance(value, dict):
                value = "{ " + ", ".join(f'{k} = "{v}"' for k, v in value.items()) + " }"
            elif isinstance(value, list):
                value = "[" + ", ".join(f'"{v}"' for v in value) + "]"
            else:
                value = "'" + str(value) + "'"
            lines.append(f"{key} = {value}")
    profile = tmp_path / "engine-grpc.toml"
    profile.write_text("\n".join(lines) + "\n")
    with engine_process(tmp_path / "data") as (target, _):
        done = subprocess.run([sys.executable, "-m", "hftperf", "api", "check", "--target", target, "--api",
                               str(profile), "--price", "9000"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submit /hftperf.matching.v1.MatchingEngine/SubmitOrder" in done.stdout
    assert "cancel /hftperf.matching.v1.MatchingEngine/CancelOrder" in done.stdout and "OK (2 calls)" in done.stdout
