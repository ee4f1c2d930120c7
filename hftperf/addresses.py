"""The one parser of target addresses: http:// URLs and gRPC ``HOST:PORT``, and joining a base URL with a path.

Every command, config key and scenario validates addresses here, so a port 0, a port above 65535,
an https URL or a missing host fails the same way everywhere (``ValueError`` with the expectation;
callers prefix the flag or key). Messages show URLs redacted: a pasted URL may carry a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from hftperf.redact import redact_text, redact_url

__all__ = ["HttpTarget", "join_url", "parse_grpc_target", "parse_http_url", "target_addresses"]

PORT_RANGE = "1-65535"


@dataclass(frozen=True)
class HttpTarget:
    """Where requests go: host and port to connect to, and the request target path."""

    host: str
    port: int
    path: str
    host_header: str


def parse_http_url(url: str) -> HttpTarget:
    """Parse ``http://host[:port]/path?query``; raise ValueError with the expectation otherwise."""
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"expected an http:// URL such as 'http://127.0.0.1:8080', got {shown!r} "
                         "(https is not supported)")
    if not parts.hostname:
        raise ValueError(f"expected a host in the URL, got {shown!r}")
    try:
        explicit_port = parts.port
    except ValueError:
        explicit_port = -1
    if explicit_port is not None and not 0 < explicit_port < 65536:
        raise ValueError(f"expected a port in {PORT_RANGE} in the URL, got {shown!r}")
    port = 80 if explicit_port is None else explicit_port
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    host = parts.hostname
    host_header = f"[{host}]" if ":" in host else host
    if explicit_port is not None:
        host_header = f"{host_header}:{port}"
    return HttpTarget(host=host, port=port, path=path, host_header=host_header)


def join_url(base: str, path: str) -> str:
    """``base`` (``http://h:p``, ``http://h:p/api/``, ``http://h:p?tenant=1``) + ``path`` (``/orders?x=1``).

    The base's path is a prefix; its query is kept and the path's query appended to it, so a target
    given with a query string is never turned into ``...?x=1/health``.
    """
    if not base:
        from hftperf.errors import ConfigError

        raise ConfigError("this scenario sends HTTP requests: give the service's URL with --target URL")
    parts = urlsplit(base)
    path_part, _, path_query = path.partition("?")
    joined_path = parts.path.rstrip("/") + "/" + path_part.lstrip("/")
    query = "&".join(q for q in (parts.query, path_query) if q)
    return urlunsplit((parts.scheme, parts.netloc, joined_path, query, ""))


def parse_grpc_target(target: str) -> tuple[str, int]:
    """Parse ``host:port`` (``[v6]:port``); raise ValueError with the expectation otherwise."""
    host, sep, port_text = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or "/" in target or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT such as '127.0.0.1:50051' (port {PORT_RANGE}), "
                         f"got {redact_text(target)!r}")
    return host, int(port_text)


def target_addresses(http_url: str | None, grpc_target: str | None) -> dict[str, str]:
    """A run's targets mapping, protocol -> address (the protocols without an address left out).

    The one place addresses become targets: config, environment and flags (through ``RunConfig``)
    and a stack's endpoints (``StackEndpoints.targets``) all arrive here.
    """
    return {protocol: address for protocol, address in (("http", http_url), ("grpc", grpc_target)) if address}
