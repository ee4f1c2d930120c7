"""``grpc-order-latency``: SubmitOrder straight to the engine over gRPC, open loop at a fixed rate.

Measures the engine without the gateway. The order flow is seeded and built before the run
as serialized ``OrderRequest`` bytes, cycled through by the load generator (so the hot path
only indexes a tuple and the workers need no protobuf):

- ``limit``: GTC limit orders, buy or sell, priced uniformly in ``mid_price ± price_band``
  ticks (the two sides overlap, so some trade and the rest build up the book);
- ``market``: market orders (IOC) that take liquidity;
- ``cancel``: unary SubmitOrder cannot cancel, and learning resting order ids would need the
  responses, which the transport does not parse. Each cancel turn is therefore an IOC limit
  order one tick outside the band on its own side (a buy below every resting ask, a sell
  above every bid): it never trades, never rests, and is cancelled by the engine at once,
  a book visit plus one durable write, as a cancel is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hftperf.config import ScenarioConfig, StageConfig, param, stages_param
from hftperf.errors import ConfigError
from hftperf.loadgen import GrpcRequestSpec, RequestCycle, default_workers, grpc_plan, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome, plan_stages, stage_figures
from hftperf.scenarios.order_mix import OrderFlowParams
from hftperf.shapes import OPEN_LOOP

__all__ = ["SUBMIT_ORDER_METHOD", "GrpcOrderLatency", "GrpcOrderParams", "order_requests"]

SUBMIT_ORDER_METHOD = "/hftperf.matching.v1.MatchingEngine/SubmitOrder"
_MAX_DISTINCT_REQUESTS = 1 << 16  # a longer run cycles through the same seeded orders again


@dataclass(frozen=True)
class GrpcOrderParams(OrderFlowParams):
    """``grpc-order-latency`` keys: the shared order-flow keys plus rate, concurrency, timeout."""

    rate_per_s: float = param(key="rate", unit="rate_per_s", default=500.0)
    concurrency: int = param(default=16, min=1)  # calls in flight at most
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)
    stages: tuple[StageConfig, ...] = stages_param()  # instead of rate and duration

    def __post_init__(self) -> None:
        if self.mid_price - self.price_band <= 1:
            raise ValueError(f"mid_price must exceed price_band + 1 (prices are positive ticks), "
                             f"got mid_price {self.mid_price} and price_band {self.price_band}")
        if not self.rate_per_s > 0:
            raise ValueError(f"rate must be positive, got {self.rate_per_s}")


def order_requests(params: OrderFlowParams, seed: int, count: int) -> tuple[bytes, ...]:
    """``count`` serialized OrderRequests drawn from the seeded mix (same seed, same bytes)."""
    from hftperf.reference_engine.proto import matching_pb2 as pb  # the wire contract only

    rng = random.Random(seed)
    mix = params.mix
    total = mix.limit + mix.cancel + mix.market
    limit_below = mix.limit / total
    cancel_below = (mix.limit + mix.cancel) / total
    mid, band = params.mid_price, params.price_band
    requests = []
    for _ in range(count):
        draw = rng.random()
        symbol = rng.choice(params.symbols)
        side = pb.BUY if rng.random() < 0.5 else pb.SELL
        quantity = rng.randint(1, params.max_quantity)
        if draw < limit_below:
            order = pb.OrderRequest(symbol=symbol, side=side, type=pb.LIMIT, time_in_force=pb.GTC,
                                    price_ticks=mid + rng.randint(-band, band), quantity=quantity)
        elif draw < cancel_below:
            price = mid - band - 1 if side == pb.BUY else mid + band + 1
            order = pb.OrderRequest(symbol=symbol, side=side, type=pb.LIMIT, time_in_force=pb.IOC,
                                    price_ticks=price, quantity=quantity)
        else:
            order = pb.OrderRequest(symbol=symbol, side=side, type=pb.MARKET, time_in_force=pb.IOC,
                                    quantity=quantity)
        requests.append(order.SerializeToString())
    return tuple(requests)


class GrpcOrderLatency:
    """Engine order latency over gRPC at a fixed arrival rate (coordinated-omission free)."""

    kind = "grpc-order-latency"
    summary = "SubmitOrder over gRPC straight to the engine, open loop at a fixed rate, seeded order mix"
    params_type = GrpcOrderParams
    protocols = frozenset({"grpc"})
    shape = OPEN_LOOP

    def run(self, config: ScenarioConfig, params: GrpcOrderParams, context: RunContext) -> ScenarioOutcome:
        """Submit the mix at ``rate`` with at most ``concurrency`` calls in flight."""
        if context.grpc_target is None:
            raise ConfigError(f"{config.name}: needs the engine's gRPC address (--grpc-target HOST:PORT)")
        peak_rate = max([s.rate_per_s for s in params.stages], default=params.rate_per_s)
        expected = int(peak_rate * (config.warmup_s + config.duration_s)) + 1
        requests = order_requests(params, config.seed, min(expected, _MAX_DISTINCT_REQUESTS))
        spec = GrpcRequestSpec(target=context.grpc_target, method=SUBMIT_ORDER_METHOD,
                               request=RequestCycle(requests), channel_options=context.grpc_channel_options)
        workers = context.workers or default_workers(params.concurrency, params.rate_per_s)
        plan = grpc_plan(spec, connections=params.concurrency,
                         rate_per_s=None if params.stages else params.rate_per_s,
                         stages=plan_stages(params.stages), warmup_s=config.warmup_s, duration_s=config.duration_s,
                         timeout_s=params.timeout_s,
                         workers=min(workers, params.concurrency))
        result = run_load(plan, context.on_interval, executor=context.executor)
        return ScenarioOutcome(kind=OPEN_LOOP, load=result, interrupted=result.interrupted,
                               figures=stage_figures(result))
