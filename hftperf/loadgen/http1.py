"""HTTP/1.1 transport: persistent keep-alive connections on asyncio (uvloop) with httptools.

One slot is one TCP connection carrying one request at a time (no pipelining, like wrk).
The hot path is callback-driven: the parser's ``on_message_complete`` reports the outcome
straight to the worker, which may send the next request from inside that callback.
Connections closed by the server (``Connection: close``, idle timeout, restart) are
re-established on the next send, so a run survives a target restart.

Memory per connection is bounded whatever the server sends: bodies are parsed and dropped
(an observing connection keeps at most 64 KiB), and a response head (status line and
headers) longer than ``MAX_HEAD_BYTES`` fails the request as a protocol error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

import httptools

from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.request import HttpTarget, RequestSource, RequestSpec, request_builder
from hftperf.loadgen.transport import (
    OK,
    CompletionCallback,
    ErrorClass,
    classify_exception,
    error_class_for_status,
)

__all__ = ["MAX_HEAD_BYTES", "Http1Transport", "for_worker"]

_perf_ns = time.perf_counter_ns
MAX_HEAD_BYTES = 64 * 1024  # a longer status line + headers is hostile: fail it (llhttp has no limit)


class _Connection(asyncio.Protocol):
    """One TCP connection; a new instance per (re)connect so stale callbacks are ignored."""

    __slots__ = ("busy", "closed", "head_bytes", "owner", "parser", "slot", "transport")

    def __init__(self, owner: Http1Transport, slot: int) -> None:
        self.owner = owner
        self.slot = slot
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.busy = False
        self.closed = False
        self.head_bytes = 0  # bytes of the current response head so far; -1 once the head is complete

    # asyncio protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):  # not TCP: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        in_head = self.head_bytes >= 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(ErrorClass.PROTOCOL)
            return
        except httptools.HttpParserUpgrade:
            self._fail(ErrorClass.PROTOCOL)
            return
        # Count only chunks that began and ended inside one head (send() restarts the count):
        # a chunk finishing the previous body never counts against the next response.
        if in_head and self.head_bytes >= 0:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self._fail(ErrorClass.PROTOCOL)

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost does the accounting

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        owner = self.owner
        if owner.connections[self.slot] is self:
            owner.connections[self.slot] = None
        if not self.busy:
            return
        self.busy = False
        status = self.parser.get_status_code()
        if exc is None and self.head_bytes < 0 and status and not self.parser.should_keep_alive():
            # Body delimited by connection close (no Content-Length, not chunked): complete.
            # Only when *this* response's head arrived (head_bytes is -1 from on_headers_complete
            # until the next send): the parser keeps the previous response's status, and a close
            # under an unanswered request must not count that old status as this request's answer.
            owner.on_complete(self.slot, error_class_for_status(status), _perf_ns())
        else:
            owner.on_complete(self.slot, classify_exception(exc, connecting=False), _perf_ns())

    # httptools callbacks ------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        self.head_bytes = -1

    def on_message_complete(self) -> None:
        done_ns = _perf_ns()
        if not self.busy:
            self._fail(ErrorClass.PROTOCOL)  # a response nobody asked for
            return
        self.busy = False
        parser = self.parser
        status = parser.get_status_code()
        outcome = OK if 200 <= status < 400 else error_class_for_status(status)
        if not parser.should_keep_alive():
            self.close()
        self.owner.on_complete(self.slot, outcome, done_ns)

    # helpers ------------------------------------------------------------------------------
    def _fail(self, error: int) -> None:
        was_busy = self.busy
        self.busy = False
        self.close()
        if was_busy:
            self.owner.on_complete(self.slot, error, _perf_ns())

    def close(self) -> None:
        """Close and detach from the slot; later callbacks of this connection are ignored."""
        self.closed = True
        owner = self.owner
        if owner.connections[self.slot] is self:
            owner.connections[self.slot] = None
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


class _ObservingConnection(_Connection):
    """A connection that also reports one header and/or the body of each response.

    Used when Server-Timing is captured or when the request source learns from responses
    (an order mix cancelling its own resting orders); plain runs keep the leaner parent.
    """

    __slots__ = ("body", "captured")

    def __init__(self, owner: Http1Transport, slot: int) -> None:
        super().__init__(owner, slot)
        self.captured: bytes | None = None
        self.body = bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == self.owner.capture_header:
            self.captured = value

    def on_body(self, chunk: bytes) -> None:
        if self.owner.observe_body and len(self.body) < _MAX_OBSERVED_BODY:
            self.body += chunk

    def on_message_complete(self) -> None:
        captured, self.captured = self.captured, None
        if self.busy:
            self.owner.observe(self.slot, self.parser.get_status_code(), captured, self.body)
        self.body.clear()
        super().on_message_complete()


_MAX_OBSERVED_BODY = 64 * 1024  # a hostile body cannot make the observer buffer megabytes


class Http1Transport:
    """HTTP/1.1 client transport over ``slots`` keep-alive connections to one target."""

    def __init__(self, target: HttpTarget, slots: int, request: bytes | Callable[[int], bytes] | RequestSource,
                 capture_header: str | None = None, connect_timeout_s: float = 10.0) -> None:
        self.target = target
        self.connect_timeout_s = connect_timeout_s  # open() gives up on slow connects after this
        # With a header to capture, successful responses report it through on_captured first.
        self.capture_header = capture_header.lower().encode("latin-1") if capture_header else None
        self.on_captured: Callable[[int, bytes], None] = _ignore_captured
        self._source = request if isinstance(request, RequestSource) else None
        self.observe_body = bool(self._source and self._source.wants_response_body)
        observing = capture_header is not None or self._source is not None
        self._connection_class = _ObservingConnection if observing else _Connection
        self._slot_request = [0] * slots  # request index per slot, for the source's observe()
        self.slots = slots
        self.connections: list[_Connection | None] = [None] * slots
        self._connecting: list[asyncio.Task[None] | None] = [None] * slots
        self._static = request if isinstance(request, bytes) else None
        self._build: Callable[[int], bytes] | None = None
        if self._source is not None:
            self._build = self._source.build
        elif not isinstance(request, (bytes, RequestSource)):
            self._build = request
        self._loop: asyncio.AbstractEventLoop | None = None
        self.on_complete: CompletionCallback = _unset_callback

    async def open(self, on_complete: CompletionCallback) -> None:
        """Remember the callback and connect every slot (failures are retried on first send).

        Gives up after ``connect_timeout_s``: a target whose accept queue is full leaves connects
        hanging for minutes; those slots connect again on their first send, under the timeout.
        """
        loop = self._loop = asyncio.get_running_loop()
        self.on_complete = on_complete
        tasks = [loop.create_task(self._connect(slot)) for slot in range(self.slots)]
        done, pending = await asyncio.wait(tasks, timeout=self.connect_timeout_s)
        for task in pending:
            task.cancel()
        for slot, task in enumerate(tasks):
            if task in done and task.exception() is None:
                self.connections[slot] = task.result()

    async def _connect(self, slot: int) -> _Connection:
        assert self._loop is not None
        connection = self._connection_class(self, slot)
        await self._loop.create_connection(lambda: connection, self.target.host, self.target.port)
        return connection

    def tagger(self) -> Callable[[int], str] | None:
        """slot -> the operation of its current request, when the request source tags them (flows)."""
        tag = getattr(self._source, "tag", None)
        if tag is None:
            return None
        slot_request = self._slot_request
        return lambda slot: tag(slot_request[slot])

    def take_counts(self) -> dict[str, int]:
        """The request source's counters since the last call (empty for sources that keep none)."""
        take = getattr(self._source, "take_counts", None)
        return take() if take is not None else {}

    def observe(self, slot: int, status: int, captured: bytes | None, body: bytearray) -> None:
        """A complete response on an observing connection: hand header and body on."""
        if captured is not None and 200 <= status < 400:
            self.on_captured(slot, captured)
        if self._source is not None:
            self._source.observe(self._slot_request[slot], status, bytes(body))

    def send(self, slot: int, request_index: int) -> None:
        """Write the request on the slot's connection, connecting first when there is none."""
        self._slot_request[slot] = request_index
        data = self._static if self._static is not None else self._build(request_index)  # type: ignore[misc]
        connection = self.connections[slot]
        if connection is not None and connection.transport is not None:
            connection.busy = True
            connection.head_bytes = 0
            connection.transport.write(data)
            return
        assert self._loop is not None
        self._connecting[slot] = self._loop.create_task(self._connect_and_send(slot, data))

    async def _connect_and_send(self, slot: int, data: bytes) -> None:
        try:
            connection = await self._connect(slot)
        except asyncio.CancelledError:
            return  # reset() after a timeout: the worker already counted it
        except (OSError, ValueError) as exc:
            self._connecting[slot] = None
            self.on_complete(slot, classify_exception(exc, connecting=True), _perf_ns())
            return
        self._connecting[slot] = None
        if connection.transport is None:  # closed between connect and now
            self.on_complete(slot, ErrorClass.CONNECTION_RESET, _perf_ns())
            return
        self.connections[slot] = connection
        connection.busy = True
        connection.transport.write(data)

    def reset(self, slot: int) -> None:
        """Drop the slot's connection or pending connect without reporting an outcome."""
        task = self._connecting[slot]
        if task is not None:
            task.cancel()
            self._connecting[slot] = None
        connection = self.connections[slot]
        if connection is not None:
            connection.busy = False
            connection.close()

    async def close(self) -> None:
        """Abort every connection and pending connect."""
        for slot in range(self.slots):
            self.reset(slot)
        await asyncio.sleep(0)


def _ignore_captured(slot: int, value: bytes) -> None:
    return None


def _unset_callback(slot: int, outcome: int, done_ns: int) -> None:
    raise RuntimeError("Http1Transport.open() was not called")


def for_worker(part: WorkerPlan) -> Http1Transport:
    """The HTTP/1.1 transport of a worker's share (the registry's factory)."""
    plan = part.plan
    spec = plan.request
    assert isinstance(spec, RequestSpec)
    request = request_builder(spec, part.worker_index, plan.workers)
    capture = "server-timing" if spec.capture_server_timing else None
    return Http1Transport(spec.target, part.connections, request, capture_header=capture,
                          connect_timeout_s=plan.timeout_s)
