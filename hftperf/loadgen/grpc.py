"""gRPC transport: unary calls of one method with pre-serialized requests over ``grpc.aio``.

One slot is one call in flight. Slots share a few channels (HTTP/2 connections multiplex
calls; one channel is usually enough). Requests are bytes as they are: the method is called
with ``request_serializer=None``/``response_deserializer=None``, so the load generator never
imports a proto. Completion is callback-driven like the HTTP transport: grpc.aio runs a
call's done callbacks the moment its status arrives, and the callback reports the outcome to
the worker, which may start the next call from inside it. A status code becomes an error class
in one place, :func:`classify_grpc_status` (``grpc_<code name>``, from the code, never from the
message text). Streaming kinds live in ``grpc_stream.py`` (server, client) and ``grpc_bidi.py``.
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

from hftperf.loadgen.grpc_spec import GrpcRequestSpec, grpc_request_builder
from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.transport import GRPC_STATUS_BASE, OK, CompletionCallback, ErrorClass, Transport

__all__ = ["GrpcTransport", "classify_grpc_status", "finished_status", "for_worker", "open_channels"]

_perf_ns = time.perf_counter_ns
_CONNECT_WAIT_S = 5.0  # open(): how long to wait for the channels to become ready
_STATUS_OK = 0
_LAST_CODE = 16  # UNAUTHENTICATED: the highest code the gRPC protocol defines


def classify_grpc_status(code: int) -> int:
    """Map a finished call's status code to OK or its error class (``grpc_unavailable``, ...).

    Codes outside the protocol's 0-16 are ``grpc_status``. The details text is never read:
    a refused connect, a reset and a server's own UNAVAILABLE are all ``grpc_unavailable``.
    """
    if code == _STATUS_OK:
        return OK
    if 0 < code <= _LAST_CODE:
        return GRPC_STATUS_BASE + code
    return ErrorClass.GRPC_STATUS


def finished_status(call: Any) -> int:
    """The status code of a finished call, without awaiting.

    grpc.aio exposes it only as a coroutine (``await call.code()``), which would cost a task
    per call; a finished call holds its status on the Cython call object, which grpc.aio itself
    reads the same way (``_UnaryResponseMixin.__await__``). Without that attribute, the
    coroutine is stepped once: on a finished call it returns without suspending.
    """
    status = getattr(getattr(call, "_cython_call", None), "_status", None)
    if status is not None:
        return int(status.code())
    return int(_step(call.code()).value[0])


def _step(coroutine: Any) -> Any:
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("gRPC call status not available although the call is done")


def open_channels(spec: GrpcRequestSpec, count: int) -> list[grpc.aio.Channel]:
    """``count`` channels to the spec's target, plaintext or TLS, with its channel options."""
    options = list(spec.channel_options)
    if count > 1:
        # Channels with equal arguments share one connection through the global subchannel pool.
        options.append(("grpc.use_local_subchannel_pool", 1))
    tls = spec.tls
    if tls is None:
        return [grpc.aio.insecure_channel(spec.target, options=options) for _ in range(count)]
    credentials = grpc.ssl_channel_credentials(tls.root_certificates, tls.private_key, tls.certificate_chain)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return [grpc.aio.secure_channel(spec.target, credentials, options=options) for _ in range(count)]


async def wait_ready(channels: list[grpc.aio.Channel], timeout_s: float) -> None:
    """Wait (briefly) until the channels are connected; a failure shows on the first sends."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)),
                               timeout=min(_CONNECT_WAIT_S, timeout_s))


class SlotCalls:
    """What every gRPC transport with one call per slot shares: cancelling a slot's call, and closing."""

    slots: int
    _calls: list[Any]  # per slot: the call in flight, or None
    _channels: list[grpc.aio.Channel]

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
        await self._close_channels()

    async def _close_channels(self) -> None:
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()


class GrpcTransport(SlotCalls):
    """Unary calls of ``spec.method`` on ``slots`` concurrent call slots over ``spec.channels`` channels."""

    def __init__(self, spec: GrpcRequestSpec, slots: int, request: bytes | Callable[[int], bytes],
                 timeout_s: float) -> None:
        self.spec = spec
        self.slots = slots
        self.timeout_s = spec.deadline_s or timeout_s  # the call's deadline, from its actual start
        self._static = request if isinstance(request, bytes) else None
        self._build = None if isinstance(request, bytes) else request
        self._channels: list[grpc.aio.Channel] = []
        self._callables: list[Any] = []  # per slot: the method on the slot's channel
        self._calls: list[Any] = [None] * slots  # per slot: the call in flight, or None
        self._done_callbacks = [functools.partial(self._on_done, slot) for slot in range(slots)]
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self.on_complete: CompletionCallback = unset_callback

    async def open(self, on_complete: CompletionCallback) -> None:
        """Create the channels and wait (briefly) until they are connected; failures show on send."""
        self.on_complete = on_complete
        count = min(self.spec.channels, self.slots)
        self._channels = open_channels(self.spec, count)
        self._metadata = tuple(self.spec.metadata) or None
        methods = [channel.unary_unary(self.spec.method, request_serializer=None, response_deserializer=None)
                   for channel in self._channels]
        self._callables = [methods[slot % count] for slot in range(self.slots)]
        await wait_ready(self._channels, self.timeout_s)

    def send(self, slot: int, request_index: int) -> None:
        """Start the call for request ``request_index`` on an idle ``slot``."""
        data = self._static if self._static is not None else self._build(request_index)  # type: ignore[misc]
        call = self._callables[slot](data, timeout=self.timeout_s, metadata=self._metadata)
        self._calls[slot] = call
        call.add_done_callback(self._done_callbacks[slot])

    def _on_done(self, slot: int, call: Any) -> None:
        done_ns = _perf_ns()
        if self._calls[slot] is not call:
            return  # cancelled by reset(), or a call the slot no longer waits for
        self._calls[slot] = None
        code = finished_status(call)
        self.on_complete(slot, OK if code == _STATUS_OK else classify_grpc_status(code), done_ns)



def unset_callback(slot: int, outcome: int, done_ns: int) -> None:
    """The completion callback before ``open()``."""
    raise RuntimeError("the gRPC transport's open() was not called")


def for_worker(part: WorkerPlan) -> Transport:
    """The gRPC transport of a worker's share, by the spec's streaming kind (the registry's factory)."""
    plan = part.plan
    spec = plan.request
    assert isinstance(spec, GrpcRequestSpec)
    if spec.source is not None:
        from hftperf.loadgen.grpc_source import GrpcSourceTransport

        return GrpcSourceTransport(spec, part.connections, spec.source.create(spec, part.worker_index, plan.workers),
                                   plan.timeout_s)
    request = grpc_request_builder(spec, part.worker_index, plan.workers)
    if spec.streaming == "unary":
        return GrpcTransport(spec, part.connections, request, plan.timeout_s)
    if spec.streaming == "bidi":
        from hftperf.loadgen.grpc_bidi import GrpcBidiTransport

        return GrpcBidiTransport(spec, part.connections, request, part.worker_index, plan.workers)
    from hftperf.loadgen.grpc_stream import GrpcStreamTransport

    return GrpcStreamTransport(spec, part.connections, request, plan.timeout_s)
