"""Where the reference stack listens: loopback by default, and a warning when it is not.

The engine and the gateway have no authentication and no TLS; on any address other than a
loopback one, whoever can reach it can place and cancel orders. They still bind where the
user asks, but every entry point says so in one line (engine, gateway, ``hftperf stack up``).
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["DEFAULT_HOST", "exposure_warning", "is_loopback", "socket_family", "url_host"]

DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (only this machine can connect)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def exposure_warning(host: str, component: str) -> str | None:
    """The one-line warning for binding ``component`` to a non-loopback ``host``, else None."""
    if is_loopback(host):
        return None
    where = " (every interface)" if host.strip("[]") in ("0.0.0.0", "::", "") else ""
    return (
        f"the {component} listens on {host}{where}, not only on this machine: it has no "
        f"authentication and no TLS, so anyone who can reach it can place and cancel orders"
    )


def socket_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def url_host(host: str) -> str:
    """``host`` as it goes into a URL or a gRPC target (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
