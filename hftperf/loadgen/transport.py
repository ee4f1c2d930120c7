"""The Transport protocol between the load generator's scheduler and a wire protocol.

A transport owns ``slots``: one slot carries at most one request at a time (an HTTP/1.1
keep-alive connection, a gRPC concurrency unit). The worker decides *when* a request goes out
and on which idle slot; the transport puts it on the wire and reports the outcome through one
callback. Callbacks instead of one future per request keep the hot path cheap.

Outcomes are integers on the hot path: ``OK`` (0) or an ``ErrorClass`` value.
"""

from __future__ import annotations

import enum
import errno
import socket
from collections.abc import Callable
from typing import Protocol

__all__ = [
    "GRPC_STATUS_BASE",
    "OK",
    "CompletionCallback",
    "ErrorClass",
    "Transport",
    "classify_exception",
    "error_class_for_status",
]

OK = 0


class ErrorClass(enum.IntEnum):
    """Why a request failed; the names (lower-case) are the keys of ``errors`` in results."""

    CONNECT_REFUSED = 1  # nothing listens at the address
    CONNECT_ERROR = 2  # other failure to establish the connection (unreachable, DNS)
    TIMEOUT = 3  # no complete response within the per-request timeout
    CONNECTION_RESET = 4  # peer reset or closed the connection before the response completed
    PROTOCOL = 5  # the response is not valid HTTP (or gRPC framing)
    HTTP_4XX = 6
    HTTP_5XX = 7
    HTTP_OTHER = 8  # 1xx or another unexpected status line
    GRPC_STATUS = 9  # a gRPC call ended with a status code outside 0-16
    NOT_SENT = 10  # open loop: due in the measured period, no connection came free before the cut-off
    # gRPC status codes, one class each: value = GRPC_STATUS_BASE + grpc.StatusCode number (1-16)
    GRPC_CANCELLED = 11
    GRPC_UNKNOWN = 12
    GRPC_INVALID_ARGUMENT = 13
    GRPC_DEADLINE_EXCEEDED = 14
    GRPC_NOT_FOUND = 15
    GRPC_ALREADY_EXISTS = 16
    GRPC_PERMISSION_DENIED = 17
    GRPC_RESOURCE_EXHAUSTED = 18
    GRPC_FAILED_PRECONDITION = 19
    GRPC_ABORTED = 20
    GRPC_OUT_OF_RANGE = 21
    GRPC_UNIMPLEMENTED = 22
    GRPC_INTERNAL = 23
    GRPC_UNAVAILABLE = 24
    GRPC_DATA_LOSS = 25
    GRPC_UNAUTHENTICATED = 26

    @property
    def key(self) -> str:
        """The stable lower-case name used in JSON output."""
        return self.name.lower()


GRPC_STATUS_BASE = 10  # ErrorClass(GRPC_STATUS_BASE + code) is the class of gRPC status ``code``

# (slot, outcome: OK or ErrorClass value, done_ns from time.perf_counter_ns())
CompletionCallback = Callable[[int, int, int], None]


class Transport(Protocol):
    """Puts requests on the wire; one request per slot at a time."""

    slots: int

    async def open(self, on_complete: CompletionCallback) -> None:
        """Prepare the slots (connect eagerly where it makes sense) and remember the callback."""

    def send(self, slot: int, request_index: int) -> None:
        """Send request number ``request_index`` on an idle ``slot``; never blocks."""

    def reset(self, slot: int) -> None:
        """Abandon the slot's request and connection (after a timeout); the next send reconnects."""

    async def close(self) -> None:
        """Close every connection."""


def error_class_for_status(status: int) -> int:
    """Map an HTTP status code to OK (2xx, 3xx) or an error class."""
    if 200 <= status < 400:
        return OK
    if 400 <= status < 500:
        return ErrorClass.HTTP_4XX
    if 500 <= status < 600:
        return ErrorClass.HTTP_5XX
    return ErrorClass.HTTP_OTHER


def classify_exception(exc: BaseException | None, connecting: bool) -> ErrorClass:
    """Translate a foreign exception (socket, parser) into an error class, in one place."""
    if isinstance(exc, ConnectionRefusedError):
        return ErrorClass.CONNECT_REFUSED
    if isinstance(exc, TimeoutError):
        return ErrorClass.TIMEOUT
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return ErrorClass.CONNECT_ERROR if connecting else ErrorClass.CONNECTION_RESET
    if isinstance(exc, (socket.gaierror, OSError)):
        if getattr(exc, "errno", None) == errno.ECONNREFUSED:
            return ErrorClass.CONNECT_REFUSED
        return ErrorClass.CONNECT_ERROR if connecting else ErrorClass.CONNECTION_RESET
    if exc is None:
        return ErrorClass.CONNECTION_RESET
    return ErrorClass.PROTOCOL
