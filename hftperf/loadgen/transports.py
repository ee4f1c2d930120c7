"""The transport registry: a plan's request spec type chooses the transport that sends it.

One line per protocol: the spec type and the factory (``module:function``, imported on first use,
so grpcio loads only for gRPC plans). A factory takes a worker's share of the plan and returns
that worker's :class:`~hftperf.loadgen.transport.Transport`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from hftperf.loadgen.grpc_spec import GrpcRequestSpec
from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.request import RequestSpec
from hftperf.loadgen.transport import Transport

__all__ = ["TRANSPORTS", "make_transport"]

TRANSPORTS: dict[type, str] = {
    RequestSpec: "hftperf.loadgen.http1:for_worker",
    GrpcRequestSpec: "hftperf.loadgen.grpc:for_worker",
}


def make_transport(part: WorkerPlan) -> Transport:
    """The transport for a worker's share of the plan, chosen by the type of ``plan.request``."""
    reference = TRANSPORTS.get(type(part.plan.request))
    if reference is None:
        raise TypeError(f"no transport for request spec {type(part.plan.request).__name__}")
    module, _, name = reference.partition(":")
    factory: Callable[[WorkerPlan], Transport] = getattr(importlib.import_module(module), name)
    return factory(part)
