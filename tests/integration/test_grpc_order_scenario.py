"""The grpc-order-latency scenario against a real engine: its figures and the orders it sent."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from test_loadgen_grpc import engine_process

from hftperf.config import GrpcChannelOptions, ScenarioConfig, load_config
from hftperf.errors import ConfigError
from hftperf.loadgen import IntervalReport
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.scenarios.base import RunContext
from hftperf.scenarios.grpc_orders import GrpcOrderLatency, GrpcOrderParams, order_requests

REPO = Path(__file__).resolve().parents[2]


def _shipped(config_file: str) -> ScenarioConfig:
    config = load_config(REPO / "configs" / config_file)
    return next(s for s in config.scenarios if s.kind == "grpc-order-latency")


@pytest.fixture
def engine_target(tmp_path: Path) -> Iterator[str]:
    with engine_process(tmp_path) as (target, _):
        yield target


def test_shipped_configs_parse() -> None:
    for config_file in ("default.toml", "ci.toml"):
        params = _shipped(config_file).parse_params(GrpcOrderParams)
        assert params.rate_per_s == 500.0 and params.concurrency == 16 and params.price_band == 50
        assert params.mix.cancel == pytest.approx(0.2)
    bad = dataclasses.replace(_shipped("ci.toml"), params={"mid_price": 10, "price_band": 50})
    with pytest.raises(ConfigError, match="mid_price must exceed"):
        bad.parse_params(GrpcOrderParams)


def test_order_flow_is_seeded_and_follows_the_mix() -> None:
    params = GrpcOrderParams()
    first = order_requests(params, seed=42, count=5000)
    assert first == order_requests(params, seed=42, count=5000)
    assert first != order_requests(params, seed=43, count=5000)
    orders = [pb.OrderRequest.FromString(data) for data in first]
    limits = [o for o in orders if o.type == pb.LIMIT and o.time_in_force == pb.GTC]
    outside = [o for o in orders if o.type == pb.LIMIT and o.time_in_force == pb.IOC]
    markets = [o for o in orders if o.type == pb.MARKET]
    assert len(limits) + len(outside) + len(markets) == len(orders)
    assert abs(len(limits) / len(orders) - 0.7) < 0.03 and abs(len(outside) / len(orders) - 0.2) < 0.03
    assert all(9950 <= o.price_ticks <= 10050 for o in limits)
    assert all(o.price_ticks == (9949 if o.side == pb.BUY else 10051) for o in outside)
    assert {o.symbol for o in orders} == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert all(1 <= o.quantity <= 10 for o in orders)


def test_scenario_runs_open_loop_at_200_per_s(engine_target: str) -> None:
    shipped = _shipped("ci.toml")
    config = dataclasses.replace(shipped, warmup_s=0.3, duration_s=1.0,
                                 params={**shipped.params, "rate": "200/s"})
    params = config.parse_params(GrpcOrderParams)
    intervals: list[IntervalReport] = []
    context = RunContext(target_url="http://127.0.0.1:1", grpc_target=engine_target,
                         grpc_channel_options=GrpcChannelOptions().channel_options(),
                         on_interval=intervals.append)
    outcome = GrpcOrderLatency().run(config, params, context)

    assert outcome.kind == "open-loop" and not outcome.interrupted
    result = outcome.load
    assert result is not None and result.plan.open_loop and result.plan.connections == 16
    assert result.requests == 200  # 1 s at 200/s, all due requests (the backlog is sent after the end)
    assert result.errors == {} and result.in_flight == 0
    assert result.ok == result.requests == result.latency.total_count
    assert result.warmup_requests == 60
    assert 0 < result.latency.value_at_percentile(50) <= result.latency.value_at_percentile(99) < 2_000_000
    assert result.pacer_lag is not None and result.pacer_lag.total_count == result.requests
    assert sum(report.record.sent for report in intervals) == result.requests

    with grpc.insecure_channel(engine_target) as channel:
        stub = pb_grpc.MatchingEngineStub(channel)
        assert stub.Health(pb.HealthRequest()).orders_total == result.warmup_requests + result.requests
        for symbol in params.symbols:  # nothing rests outside the band: the IOC stand-ins never rest
            book = stub.GetBook(pb.GetBookRequest(symbol=symbol, depth=1000))
            assert all(9950 <= level.price_ticks <= 10050 for level in [*book.bids, *book.asks])


def test_scenario_runs_in_stages(engine_target: str) -> None:
    shipped = _shipped("ci.toml")
    params_table = {k: v for k, v in shipped.params.items() if k != "rate"}
    config = dataclasses.replace(shipped, warmup_s=0.2, duration_s=1.0, params={
        **params_table, "stages": [{"rate": "100/s", "duration": "0.5s"}, {"rate": "300/s", "duration": "0.5s"}]})
    params = config.parse_params(GrpcOrderParams)
    context = RunContext(target_url="http://127.0.0.1:1", grpc_target=engine_target,
                         grpc_channel_options=GrpcChannelOptions().channel_options())
    outcome = GrpcOrderLatency().run(config, params, context)
    result = outcome.load
    assert result is not None and [s.requests for s in result.stages] == [50, 150]
    assert all(stage.accounted for stage in result.stages) and result.accounted
    assert [s["rate_rps"] for s in outcome.figures["stages"]] == [100.0, 300.0]


def test_scenario_without_grpc_target_is_a_config_error() -> None:
    config = _shipped("ci.toml")
    with pytest.raises(ConfigError, match="--grpc-target"):
        GrpcOrderLatency().run(config, config.parse_params(GrpcOrderParams), RunContext(target_url="http://x:1"))
