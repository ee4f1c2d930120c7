"""The scenario registry: kind → scenario. A new scenario is one module plus one line here."""

from __future__ import annotations

from hftperf.scenarios.base import RunContext, Scenario, ScenarioOutcome
from hftperf.scenarios.book_scaling import BookScaling
from hftperf.scenarios.capacity import OrderThroughput
from hftperf.scenarios.grpc_orders import GrpcOrderLatency
from hftperf.scenarios.health import HealthConcurrent, HealthSequential
from hftperf.scenarios.orders import OrderLatency

__all__ = ["REGISTRY", "RunContext", "Scenario", "ScenarioOutcome"]

REGISTRY: dict[str, Scenario] = {
    "health-sequential": HealthSequential(),
    "health-concurrent": HealthConcurrent(),
    "order-latency": OrderLatency(),
    "order-throughput": OrderThroughput(),
    "grpc-order-latency": GrpcOrderLatency(),
    "book-scaling": BookScaling(),
}
