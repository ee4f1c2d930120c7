"""``kind = "grpc"`` on streaming methods: the bundled engine's bidi order entry (configs/grpc-order-entry.toml)
measured per message through reflection, a test service's out-of-order bidi answers with some never
answered, server-streaming figures, and bad streaming configs as one line naming the field (exit 2)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from support.servers import script_server
from test_loadgen_grpc import engine_process

from hftperf.config import GrpcChannelOptions, ScenarioConfig, load_config
from hftperf.errors import ConfigError
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.scenarios.grpc_call import GrpcCall, GrpcCallParams

REPO = Path(__file__).resolve().parents[2]
QUOTE_SERVER = REPO / "tests" / "support" / "grpc_quote_server.py"


@pytest.fixture(scope="module")
def quote_server() -> Iterator[str]:
    with script_server(QUOTE_SERVER) as url:
        yield url.removeprefix("http://")


def shipped(**params: Any) -> ScenarioConfig:
    config = load_config(REPO / "configs" / "grpc-order-entry.toml").scenarios[0]
    return dataclasses.replace(config, warmup_s=0.3, duration_s=1.0, params={**config.params, **params})


def run(config: ScenarioConfig, target: str) -> ScenarioOutcome:
    context = RunContext(target_url="http://127.0.0.1:1", grpc_target=target,
                         grpc_channel_options=GrpcChannelOptions().channel_options())
    return GrpcCall().run(config, config.parse_params(GrpcCallParams), context)


def test_order_entry_over_a_bidi_stream_on_the_bundled_engine(tmp_path: Path) -> None:
    with engine_process(tmp_path) as (target, _):
        outcome = run(shipped(rate="300/s"), target)
        result = outcome.load
        assert result is not None and result.plan.open_loop and result.plan.request.streaming == "bidi"
        assert result.requests == 300 and result.errors == {} and result.in_flight == 0
        assert result.ok == result.latency.total_count == result.counts["messages_received"]
        assert result.counts["messages_sent"] == result.requests and result.counts["late_answers"] == 0
        assert outcome.figures["streaming"] == "bidi" and outcome.figures["messages_received_per_s"] > 250
        assert 0 < result.latency.value_at_percentile(50) < 200_000
        with grpc.insecure_channel(target) as channel:  # every message was an order, made durable
            health = pb_grpc.MatchingEngineStub(channel).Health(pb.HealthRequest())
        assert health.orders_total == result.warmup_requests + result.requests


def test_bidi_answers_matched_by_correlation_some_never_answered(quote_server: str) -> None:
    config = shipped(method="acme.quotes.v2.QuoteService/Trade", rate="400/s", streams=2, timeout="300ms",
                     request='{"instrument": "AAPL", "quantity": ${rand:0:9}}')
    result = run(config, quote_server).load
    assert result is not None and result.requests == 400
    assert result.requests == result.ok + result.failed + result.in_flight  # nothing lost
    unanswered = result.errors.get("timeout", 0)
    assert set(result.errors) <= {"timeout"} and 15 <= unanswered <= 80, result.errors  # quantity 0: ~10%
    assert result.counts["messages_received"] == result.ok


def test_server_streaming_figures(quote_server: str) -> None:
    config = shipped(method="acme.quotes.v2.QuoteService/StreamQuotes", rate="100/s",
                     request='{"instrument": "AAPL", "lots": 5, "requestId": "q${seq}"}')
    config = dataclasses.replace(config, params={k: v for k, v in config.params.items() if k != "correlate"})
    outcome = run(config, quote_server)
    result = outcome.load
    assert result is not None and result.errors == {} and result.ok == 100
    assert result.operations["first_message"].total_count == result.ok
    assert result.counts["messages_received"] == 5 * result.ok
    assert outcome.figures["messages_received_per_s"] == pytest.approx(500, rel=0.1)


@pytest.mark.parametrize(("params", "needle"), [
    ({"correlate": "order_ref"}, "order_ref"),  # not a field of the request
    ({"correlate": "quantity", "correlate_response": "accepted.x"}, "accepted.x"),
    ({"method": "acme.quotes.v2.QuoteService/GetQuote"}, "correlate"),  # correlate on a unary method
])
def test_bad_streaming_configs_name_the_field(quote_server: str, params: dict[str, str], needle: str) -> None:
    config = shipped(**{"method": "acme.quotes.v2.QuoteService/Trade", "request": '{"instrument": "AAPL"}', **params})
    with pytest.raises(ConfigError, match=needle):
        run(config, quote_server)


def test_a_missing_correlation_field_is_exit_2_one_line(quote_server: str, tmp_path: Path) -> None:
    text = (REPO / "configs" / "grpc-order-entry.toml").read_text().replace(
        'correlate = "client_order_id"', 'correlate = "clordid"').replace('stack = "local"', 'stack = "none"')
    config = tmp_path / "bad.toml"
    config.write_text(text.replace("hftperf.matching.v1.MatchingEngine/SubmitOrders",
                                   "acme.quotes.v2.QuoteService/Trade"))
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--grpc-target",
                           quote_server, "--out", str(tmp_path / "o"), "-q"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ), cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "clordid" in line and "Traceback" not in line, line
