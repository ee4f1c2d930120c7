"""What to send over gRPC: the call spec (unary or a streaming kind), TLS material, request factories.

The load generator never sees a proto: requests are bytes (or a picklable callable of the
request's global sequence number returning bytes), responses stay bytes, and a bidi stream's
answers are matched to their requests by a picklable ``correlate`` callable the scenario builds
from the descriptors (response bytes -> the key the request carried).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hftperf.addresses import parse_grpc_target

__all__ = ["STREAMING_KINDS", "GrpcRequestSpec", "GrpcTls", "RequestCycle", "grpc_request_builder"]

STREAMING_KINDS = ("unary", "server", "client", "bidi")


@dataclass(frozen=True)
class GrpcTls:
    """TLS for gRPC channels: PEM bytes (read once when the plan is made; they pickle to workers)."""

    root_certificates: bytes | None = None  # None: the system's roots
    private_key: bytes | None = None  # client certificate (mutual TLS), with certificate_chain
    certificate_chain: bytes | None = None
    server_name: str | None = None  # override the name checked against the certificate


@dataclass(frozen=True)
class GrpcRequestSpec:
    """One gRPC method's calls: target, method path, request bytes, streaming kind, channel set-up.

    ``request`` is either the request message's bytes or a picklable callable taking the
    request's global sequence number (0, 1, 2, ... across all workers) and returning them.
    One load-generator request is one call (unary, ``server``, ``client`` streaming) or, on
    ``bidi`` streams, one request message and its answer. With ``correlate``, the bidi message
    of global sequence ``s`` must carry the key ``str(s)``, and ``correlate(response)`` returns
    the key its answer carries; without it, answers come in order on each stream.
    """

    target: str  # "host:port" (IPv6 as "[::1]:50051")
    method: str  # full method path, e.g. "/hftperf.matching.v1.MatchingEngine/SubmitOrder"
    request: bytes | Callable[[int], bytes] = b""
    channel_options: tuple[tuple[str, Any], ...] = ()  # grpc.aio.insecure_channel(options=...)
    channels: int = 1  # slots are spread over this many channels (one HTTP/2 connection each)
    metadata: tuple[tuple[str, str], ...] = ()  # sent with every call (auth headers, ...)
    tls: GrpcTls | None = None  # None: plaintext
    streaming: str = "unary"  # unary | server | client | bidi
    deadline_s: float | None = None  # each call's gRPC deadline (None: the plan's timeout); not on bidi streams
    messages: int = 1  # client streaming: request messages per call
    streams: int = 1  # bidi: long-lived streams (per worker); the slots' messages go round-robin over them
    correlate: Callable[[bytes], str] | None = None  # bidi: the key an answer carries (None: in order)
    # unary: a picklable factory (``create(spec, worker_index, workers)``, ``methods``) of a source that
    # picks each call's method and builds its bytes, and reads the answers (an order flow); ``method``
    # and ``request`` are then unused
    source: Any = None

    def __post_init__(self) -> None:
        parse_grpc_target(self.target)
        if not (self.method.startswith("/") and self.method.count("/") == 2 and "" not in self.method[1:].split("/")):
            raise ValueError(f"expected a gRPC method path such as '/package.Service/Method', got {self.method!r}")
        if self.channels < 1:
            raise ValueError("channels must be at least 1")
        if self.streaming not in STREAMING_KINDS:
            raise ValueError(f"streaming: expected one of {', '.join(STREAMING_KINDS)}, got {self.streaming!r}")
        if self.messages < 1 or self.streams < 1:
            raise ValueError("messages and streams must be at least 1")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ValueError("deadline must be positive")

    @property
    def host_port(self) -> tuple[str, int]:
        """The target's host and port."""
        return parse_grpc_target(self.target)

    @property
    def capture_server_timing(self) -> bool:
        """gRPC answers carry no Server-Timing header (the worker asks every spec)."""
        return False

    def describe(self) -> str:
        """One line for titles and logs: the method and target."""
        kind = "" if self.streaming == "unary" else f" ({self.streaming} streaming)"
        return f"gRPC {self.method}{kind} at {self.target}"


@dataclass(frozen=True)
class RequestCycle:
    """A picklable request factory cycling through pre-built request bodies (seeded, repeatable)."""

    requests: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("a request cycle needs at least one request")

    def __call__(self, sequence: int) -> bytes:
        """The body of the request with global sequence number ``sequence``."""
        requests = self.requests
        return requests[sequence % len(requests)]


def grpc_request_builder(spec: GrpcRequestSpec, worker_index: int = 0,
                         workers: int = 1) -> bytes | Callable[[int], bytes]:
    """Return the request bytes (static) or a function of the worker-local request index."""
    if isinstance(spec.request, bytes) or workers == 1:
        return spec.request
    factory: Callable[[int], bytes] = spec.request

    def build(index: int) -> bytes:
        return factory(index * workers + worker_index)

    return build
