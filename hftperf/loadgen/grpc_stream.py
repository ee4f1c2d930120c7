"""gRPC server-streaming and client-streaming calls: one call per slot, like unary.

Server streaming: the slot's call ends when the server ends the stream; its latency (the main
histogram) runs from the call's intended time to the final status. The arrival of the first and
of the last message are recorded as operation histograms ``first_message`` / ``last_message``
(from the same intended time, so they are coordinated-omission free too), and every message is
counted (``messages_received``: messages/s in the results). Client streaming: each call sends
``spec.messages`` request messages (built from consecutive sequence numbers), then waits for the
one answer; ``messages_sent`` counts them.
"""

from __future__ import annotations

import asyncio
import functools
import time
from array import array
from collections.abc import Callable
from typing import Any

import grpc
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

__all__ = ["FIRST_MESSAGE", "LAST_MESSAGE", "GrpcStreamTransport", "WorkerView"]

_perf_ns = time.perf_counter_ns
FIRST_MESSAGE = "first_message"  # operation names of the per-message histograms
LAST_MESSAGE = "last_message"


class WorkerView:
    """What a streaming transport reads of its worker: intended times and the per-operation buffers."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def record(self, slot: int, operation: str, at_ns: int) -> None:
        """Record ``at_ns - intended`` of the slot's measured request under ``operation``."""
        worker = self.worker
        if not worker.measured[slot]:
            return
        buffers = worker.recorder.operations_ns
        buffer = buffers.get(operation)
        if buffer is None:
            buffer = buffers[operation] = array("q")
        buffer.append(at_ns - worker.intended_ns[slot])


class GrpcStreamTransport(SlotCalls):
    """Server- or client-streaming calls of ``spec.method``, one call in flight per slot."""

    def __init__(self, spec: GrpcRequestSpec, slots: int, request: bytes | Callable[[int], bytes],
                 timeout_s: float) -> None:
        self.spec = spec
        self.slots = slots
        self.timeout_s = spec.deadline_s or timeout_s
        self._build: Callable[[int], bytes] = (lambda _i: request) if isinstance(request, bytes) else request
        self._channels: list[grpc.aio.Channel] = []
        self._callables: list[Any] = []
        self._calls: list[Any] = [None] * slots
        self._tasks: set[asyncio.Task[None]] = set()
        self._done_callbacks = [functools.partial(self._on_client_done, slot) for slot in range(slots)]
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self._view: WorkerView | None = None
        self._measured: list[bool] = [True] * slots  # the worker's flags once bound: count measured requests only
        self._keep_first_take = False
        self._received = self._sent = 0
        self.on_complete: CompletionCallback = unset_callback

    def bind_worker(self, worker: Any) -> None:
        """Called by the worker before ``open``: lets the transport record per-message histograms."""
        self._view = WorkerView(worker)
        self._measured = worker.measured
        self._keep_first_take = True

    def take_counts(self) -> dict[str, int]:
        """Messages since the last call (the worker asks at every interval cut)."""
        if self._keep_first_take:  # the worker's warm-up drop: nothing counted is warm-up here
            self._keep_first_take = False
            return {}
        counts = {"messages_received": self._received, "messages_sent": self._sent}
        self._received = self._sent = 0
        return counts

    async def open(self, on_complete: CompletionCallback) -> None:
        """Create the channels and wait (briefly) until they are connected."""
        self.on_complete = on_complete
        count = min(self.spec.channels, self.slots)
        self._channels = open_channels(self.spec, count)
        self._metadata = tuple(self.spec.metadata) or None
        kind = "unary_stream" if self.spec.streaming == "server" else "stream_unary"
        methods = [getattr(channel, kind)(self.spec.method, request_serializer=None, response_deserializer=None)
                   for channel in self._channels]
        self._callables = [methods[slot % count] for slot in range(self.slots)]
        await wait_ready(self._channels, self.timeout_s)

    def send(self, slot: int, request_index: int) -> None:
        """Start the slot's call for request ``request_index``."""
        if self.spec.streaming == "server":
            call = self._callables[slot](self._build(request_index), timeout=self.timeout_s, metadata=self._metadata)
            self._calls[slot] = call
            task = asyncio.get_running_loop().create_task(self._read(slot, call))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        count = self.spec.messages
        first = request_index * count
        messages = [self._build(first + j) for j in range(count)]
        call = self._callables[slot](iter(messages), timeout=self.timeout_s, metadata=self._metadata)
        self._calls[slot] = call
        if self._measured[slot]:
            self._sent += count
        call.add_done_callback(self._done_callbacks[slot])

    async def _read(self, slot: int, call: Any) -> None:
        first_ns = last_ns = 0
        received = 0
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:
                    break
                last_ns = _perf_ns()
                if not received:
                    first_ns = last_ns
                received += 1
        except (grpc.RpcError, asyncio.CancelledError):
            pass
        done_ns = _perf_ns()
        if self._measured[slot]:
            self._received += received
        if self._calls[slot] is not call:
            return  # reset (timed out) or closing
        self._calls[slot] = None
        code = finished_status(call) if call.done() else (await call.code()).value[0]
        outcome = classify_grpc_status(code)
        if outcome == OK and received and self._view is not None:
            self._view.record(slot, FIRST_MESSAGE, first_ns)
            self._view.record(slot, LAST_MESSAGE, last_ns)
        self.on_complete(slot, outcome, done_ns)

    def _on_client_done(self, slot: int, call: Any) -> None:
        done_ns = _perf_ns()
        if self._calls[slot] is not call:
            return
        self._calls[slot] = None
        self.on_complete(slot, classify_grpc_status(finished_status(call)), done_ns)

    async def close(self) -> None:
        """Cancel every call and close the channels."""
        for slot in range(self.slots):
            self.reset(slot)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # before the channels close (see grpc_bidi)
        await self._close_channels()
