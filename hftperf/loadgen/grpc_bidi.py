"""gRPC bidirectional streams: long-lived streams, one load-generator request per message.

A slot is one request message in flight (``connections`` = messages in flight at most); the
messages go round-robin over ``spec.streams`` long-lived streams (so an open-loop rate is spread
evenly over them). Each answer is matched to its request by ``spec.correlate`` (the key the
answer carries, ``str(sequence)`` of the request it answers) or, without it, in order per stream.
A message's latency runs from its intended send time to its answer's arrival (the worker's
clock), so it is coordinated-omission free like any other request. A message that times out is
forgotten (a late answer to it is dropped); a stream that ends fails every message waiting on it
with the stream's status class (``protocol`` if it ended OK with answers missing), and the next
message reopens it. Unanswered messages at the end stay with the worker: timeouts or in flight.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from hftperf.loadgen.grpc import classify_grpc_status, finished_status, open_channels, unset_callback, wait_ready
from hftperf.loadgen.grpc_spec import GrpcRequestSpec
from hftperf.loadgen.transport import OK, CompletionCallback, ErrorClass

__all__ = ["GrpcBidiTransport"]

_perf_ns = time.perf_counter_ns


class _Stream:
    """One open stream: its call, the messages waiting to be written, the answers awaited."""

    __slots__ = ("call", "fifo", "outbox", "pending", "tasks", "wake")

    def __init__(self, call: Any) -> None:
        self.call = call
        self.outbox: collections.deque[bytes] = collections.deque()
        self.wake = asyncio.Event()
        self.pending: dict[str, int] = {}  # correlate: key -> slot
        self.fifo: collections.deque[tuple[int, int]] = collections.deque()  # in order: (slot, generation)
        self.tasks: list[asyncio.Task[None]] = []


class GrpcBidiTransport:
    """Request messages of ``spec.method`` on ``spec.streams`` bidi streams, answers matched per message."""

    def __init__(self, spec: GrpcRequestSpec, slots: int, request: bytes | Callable[[int], bytes],
                 worker_index: int = 0, workers: int = 1) -> None:
        self.spec = spec
        self.slots = slots
        self._build: Callable[[int], bytes] = (lambda _i: request) if isinstance(request, bytes) else request
        self._worker_index, self._workers = worker_index, workers
        self._correlate = spec.correlate
        self._channels: list[grpc.aio.Channel] = []
        self._methods: list[Any] = []
        self._streams: list[_Stream | None] = [None] * spec.streams
        self._slot_stream: list[_Stream | None] = [None] * slots
        self._slot_key: list[str] = [""] * slots
        self._generation = [0] * slots
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self._closing = False
        self._measured: list[bool] = [True] * slots  # the worker's flags once bound: count measured messages only
        self._keep_first_take = False
        self._received = self._sent = self._late = 0
        self.on_complete: CompletionCallback = unset_callback

    def bind_worker(self, worker: Any) -> None:
        """Called by the worker before ``open``: message counts follow its measured requests."""
        self._measured = worker.measured
        self._keep_first_take = True

    def take_counts(self) -> dict[str, int]:
        """Messages since the last call (the worker asks at every interval cut)."""
        if self._keep_first_take:  # the worker's warm-up drop: nothing counted is warm-up here
            self._keep_first_take = False
            return {}
        counts = {"messages_received": self._received, "messages_sent": self._sent, "late_answers": self._late}
        self._received = self._sent = self._late = 0
        return counts

    async def open(self, on_complete: CompletionCallback) -> None:
        """Create the channels, wait until connected, and open the streams."""
        self.on_complete = on_complete
        count = min(self.spec.channels, self.spec.streams)
        self._channels = open_channels(self.spec, count)
        self._metadata = tuple(self.spec.metadata) or None
        self._methods = [channel.stream_stream(self.spec.method, request_serializer=None, response_deserializer=None)
                         for channel in self._channels]
        await wait_ready(self._channels, 5.0)
        for index in range(self.spec.streams):
            self._open_stream(index)

    def _open_stream(self, index: int) -> _Stream:
        call = self._methods[index % len(self._methods)](metadata=self._metadata)
        stream = _Stream(call)
        loop = asyncio.get_running_loop()
        stream.tasks = [loop.create_task(self._write(stream)), loop.create_task(self._read(index, stream))]
        self._streams[index] = stream
        return stream

    def send(self, slot: int, request_index: int) -> None:
        """Queue request message ``request_index`` on its stream; its answer completes ``slot``."""
        index = request_index % len(self._streams)
        stream = self._streams[index] or self._open_stream(index)
        if self._correlate is not None:
            key = str(request_index * self._workers + self._worker_index)
            stream.pending[key] = slot
            self._slot_key[slot] = key
        else:
            stream.fifo.append((slot, self._generation[slot]))
        self._slot_stream[slot] = stream
        stream.outbox.append(self._build(request_index))
        if self._measured[slot]:
            self._sent += 1
        stream.wake.set()

    async def _write(self, stream: _Stream) -> None:
        outbox, wake, call = stream.outbox, stream.wake, stream.call
        try:
            while True:
                while outbox:
                    await call.write(outbox.popleft())
                wake.clear()
                await wake.wait()
        except (grpc.RpcError, asyncio.InvalidStateError, asyncio.CancelledError):
            return  # the stream ended: the reader reports it

    async def _read(self, index: int, stream: _Stream) -> None:
        call, correlate = stream.call, self._correlate
        pending, fifo = stream.pending, stream.fifo
        try:
            while True:
                data = await call.read()
                if data is grpc.aio.EOF:
                    break
                done_ns = _perf_ns()
                if correlate is not None:
                    slot = pending.pop(correlate(data), -1)
                elif fifo:
                    slot, generation = fifo.popleft()
                    if generation != self._generation[slot]:
                        slot = -1
                else:
                    slot = -1
                if slot < 0:
                    self._late += 1  # the answer to a message that timed out (or an unasked one)
                    continue
                if self._measured[slot]:
                    self._received += 1
                self._release(slot)
                self.on_complete(slot, OK, done_ns)
        except (grpc.RpcError, asyncio.CancelledError):
            pass
        if self._closing:
            return
        self._ended(index, stream, await _status(call))

    def _ended(self, index: int, stream: _Stream, code: int) -> None:
        """The stream is over: every message waiting on it fails with its status (the next send reopens)."""
        if self._streams[index] is stream:
            self._streams[index] = None
        stream.tasks[0].cancel()
        outcome = classify_grpc_status(code) if code else ErrorClass.PROTOCOL
        done_ns = _perf_ns()
        waiting = list(stream.pending.values()) + [s for s, g in stream.fifo if g == self._generation[s]]
        stream.pending.clear()
        stream.fifo.clear()
        for slot in waiting:
            if self._slot_stream[slot] is stream:
                self._release(slot)
                self.on_complete(slot, outcome, done_ns)

    def _release(self, slot: int) -> None:
        self._slot_stream[slot] = None
        self._generation[slot] += 1

    def reset(self, slot: int) -> None:
        """Forget the slot's message (timed out); the stream stays open, a late answer is dropped."""
        stream = self._slot_stream[slot]
        if stream is None:
            return
        if self._correlate is not None:
            stream.pending.pop(self._slot_key[slot], None)
        self._release(slot)

    async def close(self) -> None:
        """Close the streams and the channels."""
        self._closing = True
        for slot in range(self.slots):
            self.reset(slot)
        tasks = []
        for stream in self._streams:
            if stream is not None:
                stream.call.cancel()
                for task in stream.tasks:
                    task.cancel()
                tasks += stream.tasks
        # Let the cancellations run before the channels (and then the loop) close: grpc's poller
        # thread would otherwise post the streams' last events to a closed loop.
        await asyncio.gather(*tasks, return_exceptions=True)
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()


async def _status(call: Any) -> int:
    """The status code of a call that has ended (or is ending)."""
    if call.done():
        return finished_status(call)
    try:
        return int((await call.code()).value[0])
    except asyncio.CancelledError:
        return int(grpc.StatusCode.CANCELLED.value[0])
