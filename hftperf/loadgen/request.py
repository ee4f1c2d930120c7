"""What to send: HTTP/1.1 and gRPC request specs, URL parsing and per-request body templates.

A body template expands placeholders per request, so order submission can be driven with
unique or random fields without any per-request Python objects beyond the bytes sent:

- ``${seq}``             the request's global sequence number (unique across workers)
- ``${rand:LO:HI}``      a random integer in [LO, HI] (seeded: runs are repeatable)
- ``${choice:a|b|c}``    one of the listed strings, at random
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

__all__ = [
    "GrpcRequestSpec",
    "HttpTarget",
    "RequestCycle",
    "RequestSpec",
    "grpc_request_builder",
    "parse_grpc_target",
    "parse_http_url",
    "render_head",
    "request_builder",
]

_PLACEHOLDER_RE = re.compile(r"\$\{(seq|rand:(-?\d+):(-?\d+)|choice:([^}]*))\}")


@runtime_checkable
class RequestSource(Protocol):
    """Builds each request's bytes and may learn from the responses (e.g. order ids to cancel)."""

    wants_response_body: bool

    def build(self, index: int) -> bytes:
        """The complete HTTP/1.1 request (head and body) for the worker-local request ``index``."""

    def observe(self, index: int, status: int, body: bytes) -> None:
        """Called with each complete response (body only when ``wants_response_body``)."""


class RequestSourceFactory(Protocol):
    """A picklable description that makes one RequestSource per worker process."""

    def create(self, spec: RequestSpec, worker_index: int, workers: int) -> RequestSource:
        """The source for worker ``worker_index`` of ``workers``."""


@dataclass(frozen=True)
class HttpTarget:
    """Where requests go: host and port to connect to, and the request target path."""

    host: str
    port: int
    path: str
    host_header: str


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request definition: method, URL, headers, body (optionally a template)."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    template: bool = False  # expand ${...} placeholders in the body for every request
    seed: int = 0
    capture_server_timing: bool = False  # record the response's Server-Timing parts
    source: RequestSourceFactory | None = None  # builds requests itself (method/body here unused)

    @property
    def target(self) -> HttpTarget:
        """The parsed URL (raises ValueError when it is not a plain http:// URL)."""
        return parse_http_url(self.url)


def parse_http_url(url: str) -> HttpTarget:
    """Parse ``http://host[:port]/path?query``; raise ValueError with the expectation otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"expected an http:// URL (https is not supported), got {url!r}")
    if not parts.hostname:
        raise ValueError(f"expected a host in the URL, got {url!r}")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"invalid port in URL {url!r}") from exc
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header = f"{host_header}:{port}"
    return HttpTarget(host=host, port=port, path=path, host_header=host_header)


def render_head(spec: RequestSpec, body_length: int | None) -> bytes:
    """Request line and headers ending in CRLFCRLF; with ``None`` the head stops before Content-Length."""
    target = spec.target
    names = {name.lower() for name, _ in spec.headers}
    lines = [f"{spec.method.upper()} {target.path} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {target.host_header}")
    for name, value in spec.headers:
        if name.lower() != "content-length":
            lines.append(f"{name}: {value}")
    if "content-type" not in names and spec.body[:1] in (b"{", b"["):
        lines.append("Content-Type: application/json")
    head = "".join(line + "\r\n" for line in lines)
    if body_length is None:
        return head.encode("latin-1")
    if body_length or spec.method.upper() in ("POST", "PUT", "PATCH"):
        head += f"Content-Length: {body_length}\r\n"
    return (head + "\r\n").encode("latin-1")


def _random_int(rng: random.Random, low: int, high: int, _sequence: int) -> str:
    return str(rng.randint(low, high))


def _random_choice(rng: random.Random, options: list[str], _sequence: int) -> str:
    return rng.choice(options)


def _compile_template(body: str, rng: random.Random) -> list[str | Callable[[int], str]]:
    """Split a template into literal strings and generators of the placeholder values."""
    pieces: list[str | Callable[[int], str]] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(body):
        pieces.append(body[position:match.start()])
        if match.group(1) == "seq":
            pieces.append(str)
        elif match.group(2) is not None:
            low, high = int(match.group(2)), int(match.group(3))
            if low > high:
                raise ValueError(f"template ${{rand:{low}:{high}}}: expected LO <= HI")
            pieces.append(functools.partial(_random_int, rng, low, high))
        else:
            options = match.group(4).split("|")
            pieces.append(functools.partial(_random_choice, rng, options))
        position = match.end()
    pieces.append(body[position:])
    return [piece for piece in pieces if piece != ""]


def request_builder(spec: RequestSpec, worker_index: int = 0,
                    workers: int = 1) -> bytes | Callable[[int], bytes] | RequestSource:
    """Return the request bytes (static), a function of the worker-local request index, or a source."""
    if spec.source is not None:
        return spec.source.create(spec, worker_index, workers)
    if not spec.template:
        return render_head(spec, len(spec.body)) + spec.body
    rng = random.Random(spec.seed * 1_000_003 + worker_index)
    pieces = _compile_template(spec.body.decode("utf-8"), rng)
    head = render_head(spec, None)

    def build(index: int) -> bytes:
        sequence = index * workers + worker_index
        body = "".join(p if isinstance(p, str) else p(sequence) for p in pieces).encode("utf-8")
        return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

    return build


# -- gRPC -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrpcRequestSpec:
    """One gRPC unary call definition: target, method path, pre-serialized request, channel set-up.

    ``request`` is either the request message's bytes or a picklable callable taking the
    request's global sequence number (0, 1, 2, ... across all workers) and returning them;
    the load generator never sees the proto, only bytes.
    """

    target: str  # "host:port" (IPv6 as "[::1]:50051")
    method: str  # full method path, e.g. "/hftperf.matching.v1.MatchingEngine/SubmitOrder"
    request: bytes | Callable[[int], bytes] = b""
    channel_options: tuple[tuple[str, Any], ...] = ()  # grpc.aio.insecure_channel(options=...)
    channels: int = 1  # slots are spread over this many channels (one HTTP/2 connection each)

    def __post_init__(self) -> None:
        parse_grpc_target(self.target)
        if not (self.method.startswith("/") and self.method.count("/") == 2 and "" not in self.method[1:].split("/")):
            raise ValueError(f"expected a gRPC method path such as '/package.Service/Method', got {self.method!r}")
        if self.channels < 1:
            raise ValueError("channels must be at least 1")

    @property
    def host_port(self) -> tuple[str, int]:
        """The target's host and port."""
        return parse_grpc_target(self.target)

    def as_request_spec(self) -> RequestSpec:
        """The same call described as HTTP (gRPC is an HTTP/2 POST to the method path)."""
        host, port = self.host_port
        host_part = f"[{host}]" if ":" in host else host
        return RequestSpec(url=f"http://{host_part}:{port}{self.method}", method="POST")


def parse_grpc_target(target: str) -> tuple[str, int]:
    """Parse ``host:port`` (``[v6]:port``); raise ValueError with the expectation otherwise."""
    host, sep, port_text = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or "/" in target or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected a gRPC target HOST:PORT such as '127.0.0.1:50051', got {target!r}")
    return host, int(port_text)


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
