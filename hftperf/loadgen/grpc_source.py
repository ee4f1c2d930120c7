"""gRPC unary calls from a request source: each call's method and bytes chosen by the source, answers read.

The source (an order flow over gRPC) builds ``(method index, request bytes)`` for request ``i`` and
sees each answer (``observe_call``), so it can learn resting order ids to cancel; ``tag`` names the
operation of request ``i`` (its latency goes into ``op.<operation>``) and ``take_counts`` hands the
worker its counters at every interval cut, as the HTTP flow sources do. A finished call's response
bytes are read without awaiting (see :func:`_response`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, Protocol

import grpc.aio

from hftperf.loadgen.grpc import (
    SlotCalls,
    classify_grpc_status,
    finished_status,
    open_channels,
    unset_callback,
    wait_ready,
)
from hftperf.loadgen.grpc_spec import GrpcRequestSpec
from hftperf.loadgen.transport import OK, CompletionCallback

__all__ = ["GrpcCallSource", "GrpcSourceTransport"]

_perf_ns = time.perf_counter_ns


class GrpcCallSource(Protocol):
    """What the transport asks of a source."""

    def build_call(self, index: int) -> tuple[int, bytes]:
        """(method index into ``spec.source.methods``, request bytes) of worker-local request ``index``."""

    def observe_call(self, index: int, method: int, ok: bool, data: bytes | None) -> None:
        """The answer to request ``index`` (``data`` only when the call succeeded)."""

    def tag(self, index: int) -> str:
        """The operation of request ``index``."""

    def take_counts(self) -> dict[str, int]:
        """The source's counters since the last call."""


def _response(call: Any) -> bytes | None:
    """The response of a finished successful unary call: its ``__await__`` returns without suspending."""
    steps = call.__await__()
    try:
        steps.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except Exception:  # the call failed after all: no response
        return None
    steps.close()
    return None


def _result(task: Any) -> bytes | None:
    """A finished task's result, None when it failed or was cancelled."""
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()  # type: ignore[no-any-return]


class GrpcSourceTransport(SlotCalls):
    """Unary calls of a source's methods on ``slots`` concurrent call slots."""

    def __init__(self, spec: GrpcRequestSpec, slots: int, source: GrpcCallSource, timeout_s: float) -> None:
        self.spec = spec
        self.slots = slots
        self.timeout_s = spec.deadline_s or timeout_s
        self.source = source
        self.take_counts: Callable[[], dict[str, int]] = source.take_counts
        self._methods: list[list[Any]] = []  # per channel: the callables by method index
        self._calls: list[Any] = [None] * slots
        self._index = [0] * slots
        self._method = [0] * slots
        self._channels: list[grpc.aio.Channel] = []
        self._done_callbacks = [functools.partial(self._on_done, slot) for slot in range(slots)]
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self.on_complete: CompletionCallback = unset_callback

    def tagger(self) -> Callable[[int], str]:
        """slot -> the operation of its current request (the worker records per-operation latency)."""
        index, tag = self._index, self.source.tag
        return lambda slot: tag(index[slot])

    async def open(self, on_complete: CompletionCallback) -> None:
        """Create the channels and wait (briefly) until they are connected."""
        self.on_complete = on_complete
        count = min(self.spec.channels, self.slots)
        self._channels = open_channels(self.spec, count)
        self._metadata = tuple(self.spec.metadata) or None
        paths = self.spec.source.methods
        self._methods = [[channel.unary_unary(path, request_serializer=None, response_deserializer=None)
                          if path else None for path in paths] for channel in self._channels]
        await wait_ready(self._channels, self.timeout_s)

    def send(self, slot: int, request_index: int) -> None:
        """Start the call the source builds for request ``request_index``."""
        method, data = self.source.build_call(request_index)
        self._index[slot], self._method[slot] = request_index, method
        call = self._methods[slot % len(self._methods)][method](data, timeout=self.timeout_s,
                                                                 metadata=self._metadata)
        self._calls[slot] = call
        call.add_done_callback(self._done_callbacks[slot])

    def _on_done(self, slot: int, call: Any) -> None:
        done_ns = _perf_ns()
        if self._calls[slot] is not call:
            return
        outcome = classify_grpc_status(finished_status(call))
        if outcome != OK:
            self._finish(slot, outcome, None, done_ns)
            return
        # The status is in, the response follows a moment later: grpc.aio's task of the call
        # (``_call_response``) completes right after the done callbacks run. The latency is now.
        pending = getattr(call, "_call_response", None)
        if pending is None or not hasattr(pending, "add_done_callback"):
            self._finish(slot, OK, _response(call), done_ns)
        elif pending.done():
            self._finish(slot, OK, _result(pending), done_ns)
        else:
            pending.add_done_callback(functools.partial(self._answered, slot, call, done_ns))

    def _answered(self, slot: int, call: Any, done_ns: int, pending: Any) -> None:
        if self._calls[slot] is call:
            self._finish(slot, OK, _result(pending), done_ns)

    def _finish(self, slot: int, outcome: int, data: bytes | None, done_ns: int) -> None:
        self._calls[slot] = None
        self.source.observe_call(self._index[slot], self._method[slot], outcome == OK, data)
        self.on_complete(slot, outcome, done_ns)

