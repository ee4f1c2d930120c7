"""Register the matching service so that undecodable request bytes are the client's error.

With the generated ``add_MatchingEngineServicer_to_server``, grpc.aio answers bytes that do
not parse as the request message with UNKNOWN and logs a traceback per call: any client could
fill the engine log and look like a server bug. Here the deserializer never raises; it hands
the handler an :class:`Undecodable`, which unary methods answer with INVALID_ARGUMENT before
the servicer runs and the order stream answers with a REJECTED report (see ``engine.py``).
The method table comes from the proto descriptor, so it cannot drift from the generated code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from hftperf.reference_engine.proto import matching_pb2 as pb

__all__ = ["Undecodable", "add_guarded_servicer"]

_SERVICE = pb.DESCRIPTOR.services_by_name["MatchingEngine"]


class Undecodable:
    """Stands in for a request message whose bytes did not parse; ``reason`` names the problem."""

    __slots__ = ("reason",)
    symbol = ""  # what the order stream echoes in its REJECTED report
    client_order_id = ""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _safe(message: Any) -> Callable[[bytes], Any]:
    parse = message.FromString
    name = message.DESCRIPTOR.name

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # DecodeError, and anything else a hostile payload provokes
            return Undecodable(f"request: not a valid {name} message ({type(exc).__name__}: {exc})")

    return deserialize


def _guard(behavior: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if type(request) is Undecodable:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)
        return await behavior(request, context)

    return guarded


def add_guarded_servicer(servicer: object, server: grpc.aio.Server) -> None:
    """Add ``servicer`` (a ``MatchingEngineServicer``) to ``server`` with tolerant deserializers."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in _SERVICE.methods:
        request, response = getattr(pb, method.input_type.name), getattr(pb, method.output_type.name)
        behavior = getattr(servicer, method.name)
        options = {"request_deserializer": _safe(request), "response_serializer": response.SerializeToString}
        if method.client_streaming and method.server_streaming:
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(behavior, **options)
        elif not method.client_streaming and not method.server_streaming:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(_guard(behavior), **options)
        else:  # pragma: no cover - the proto has no such method today
            raise TypeError(f"{method.name}: half-streaming methods are not supported here")
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(_SERVICE.full_name, handlers)
