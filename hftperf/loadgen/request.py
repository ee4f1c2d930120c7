"""What to send: the HTTP/1.1 request spec (gRPC: grpc_spec.py), URL parsing and per-request body templates.

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
from typing import Protocol, runtime_checkable

from hftperf.addresses import HttpTarget, parse_grpc_target, parse_http_url
from hftperf.loadgen.grpc_spec import GrpcRequestSpec, GrpcTls, RequestCycle, grpc_request_builder  # re-exported

__all__ = [
    "GrpcRequestSpec",
    "GrpcTls",
    "HttpTarget",
    "RequestCycle",
    "RequestSpec",
    "check_template",
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

    def __post_init__(self) -> None:
        if self.template and self.source is None:
            check_template(self.body.decode("utf-8", "replace"))

    @property
    def target(self) -> HttpTarget:
        """The parsed URL (raises ValueError when it is not a plain http:// URL)."""
        return parse_http_url(self.url)

    @property
    def host_port(self) -> tuple[str, int]:
        """The host and port the requests go to."""
        target = self.target
        return target.host, target.port

    def describe(self) -> str:
        """One line for titles and logs: method and URL."""
        return f"{self.method.upper()} {self.url}"


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


def check_template(body: str) -> None:
    """ValueError when a body template's placeholders are malformed (e.g. ``${rand:5:1}``)."""
    _compile_template(body, random.Random(0))


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
