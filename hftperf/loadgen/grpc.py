"""gRPC transport: unary calls of one method with pre-serialized requests over ``grpc.aio``.

One slot is one call in flight. Slots share a few channels (HTTP/2 connections multiplex
calls; one channel is usually enough). Requests are bytes as they are: the method is called
with ``request_serializer=None``/``response_deserializer=None``, so the load generator never
imports a proto. Completion is callback-driven like the HTTP transport: grpc.aio runs a
call's done callbacks the moment its status arrives, and the callback reports the outcome to
the worker, which may start the next call from inside it. Foreign status codes become error
classes in one place, :func:`classify_grpc_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from hftperf.loadgen.request import GrpcRequestSpec
from hftperf.loadgen.transport import OK, CompletionCallback, ErrorClass

__all__ = ["GrpcTransport", "classify_grpc_status"]

_perf_ns = time.perf_counter_ns
_CONNECT_WAIT_S = 5.0  # open(): how long to wait for the channels to become ready

# gRPC status codes (numbers fixed by the gRPC protocol)
_STATUS_OK = 0
_STATUS_DEADLINE_EXCEEDED = 4
_STATUS_UNAVAILABLE = 14

# What grpc core writes into an UNAVAILABLE status when the transport, not the server, failed.
_REFUSED_DETAILS = ("connection refused",)
_CONNECT_DETAILS = ("failed to connect", "errors resolving", "dns resolution", "name resolution",
                    "no route to host", "network is unreachable")
_RESET_DETAILS = ("stream removed", "connection reset", "socket closed", "broken pipe", "goaway",
                  "connection closed", "end of tcp stream", "keepalive", "connection aborted")


def classify_grpc_status(code: int, details: str) -> int:
    """Map a finished call's status (code, details) to OK or an error class.

    UNAVAILABLE is split by its details: a failed connect is CONNECT_REFUSED/CONNECT_ERROR, a
    connection lost mid-call is CONNECTION_RESET, anything else (a server answering
    UNAVAILABLE on purpose) stays GRPC_STATUS. DEADLINE_EXCEEDED is TIMEOUT; every other
    non-OK code (also a CANCELLED sent by a stopping server) is GRPC_STATUS.
    """
    if code == _STATUS_OK:
        return OK
    if code == _STATUS_DEADLINE_EXCEEDED:
        return ErrorClass.TIMEOUT
    if code == _STATUS_UNAVAILABLE:
        text = details.lower()
        if any(phrase in text for phrase in _REFUSED_DETAILS):
            return ErrorClass.CONNECT_REFUSED
        if any(phrase in text for phrase in _CONNECT_DETAILS):
            return ErrorClass.CONNECT_ERROR
        if any(phrase in text for phrase in _RESET_DETAILS):
            return ErrorClass.CONNECTION_RESET
    return ErrorClass.GRPC_STATUS


def _finished_status(call: Any) -> tuple[int, str]:
    """Status code and details of a finished call, without awaiting.

    grpc.aio exposes them only as coroutines (``await call.code()``), which would cost a task
    per call; a finished call holds its status on the Cython call object, which grpc.aio itself
    reads the same way (``_UnaryResponseMixin.__await__``). Without that attribute, the
    coroutines are stepped once: on a finished call they return without suspending.
    """
    status = getattr(getattr(call, "_cython_call", None), "_status", None)
    if status is not None:
        return int(status.code()), str(status.details() or "")
    return _step(call.code()).value[0], str(_step(call.details()) or "")


def _step(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("gRPC call status not available although the call is done")


class GrpcTransport:
    """Unary calls of ``spec.method`` on ``slots`` concurrent call slots over ``spec.channels`` channels."""

    def __init__(self, spec: GrpcRequestSpec, slots: int, request: bytes | Callable[[int], bytes],
                 timeout_s: float) -> None:
        self.spec = spec
        self.slots = slots
        self.timeout_s = timeout_s  # the call's deadline, from its actual start
        self._static = request if isinstance(request, bytes) else None
        self._build = None if isinstance(request, bytes) else request
        self._channels: list[grpc.aio.Channel] = []
        self._callables: list[Any] = []  # per slot: the method on the slot's channel
        self._calls: list[Any] = [None] * slots  # per slot: the call in flight, or None
        self._done_callbacks = [functools.partial(self._on_done, slot) for slot in range(slots)]
        self.on_complete: CompletionCallback = _unset_callback

    async def open(self, on_complete: CompletionCallback) -> None:
        """Create the channels and wait (briefly) until they are connected; failures show on send."""
        self.on_complete = on_complete
        options = list(self.spec.channel_options)
        count = min(self.spec.channels, self.slots)
        if count > 1:
            # Channels with equal arguments share one connection through the global subchannel pool.
            options.append(("grpc.use_local_subchannel_pool", 1))
        self._channels = [grpc.aio.insecure_channel(self.spec.target, options=options) for _ in range(count)]
        methods = [channel.unary_unary(self.spec.method, request_serializer=None, response_deserializer=None)
                   for channel in self._channels]
        self._callables = [methods[slot % count] for slot in range(self.slots)]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in self._channels)),
                                   timeout=min(_CONNECT_WAIT_S, self.timeout_s))

    def send(self, slot: int, request_index: int) -> None:
        """Start the call for request ``request_index`` on an idle ``slot``."""
        data = self._static if self._static is not None else self._build(request_index)  # type: ignore[misc]
        call = self._callables[slot](data, timeout=self.timeout_s)
        self._calls[slot] = call
        call.add_done_callback(self._done_callbacks[slot])

    def _on_done(self, slot: int, call: Any) -> None:
        done_ns = _perf_ns()
        if self._calls[slot] is not call:
            return  # cancelled by reset(), or a call the slot no longer waits for
        self._calls[slot] = None
        code, details = _finished_status(call)
        self.on_complete(slot, OK if code == _STATUS_OK else classify_grpc_status(code, details), done_ns)

    def reset(self, slot: int) -> None:
        """Cancel the slot's call without reporting an outcome."""
        call = self._calls[slot]
        if call is not None:
            self._calls[slot] = None  # first: cancel() runs the done callback synchronously
            call.cancel()

    async def close(self) -> None:
        """Cancel every call and close the channels."""
        for slot in range(self.slots):
            self.reset(slot)
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()


def _unset_callback(slot: int, outcome: int, done_ns: int) -> None:
    raise RuntimeError("GrpcTransport.open() was not called")
