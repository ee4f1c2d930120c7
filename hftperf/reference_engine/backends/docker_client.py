"""The boundary to the Docker SDK: connect to the daemon and translate its exceptions in one place.

Everything that calls the SDK does so inside ``docker_errors(...)``, so that a user sees one
line from ``hftperf.errors`` (exit status 2), never a ``docker.errors`` or ``requests`` traceback.
The ``docker`` package is imported lazily: it is an optional extra (``pip install 'hftperf[docker]'``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any

from hftperf.errors import InfrastructureError

__all__ = ["connect", "daemon_address", "docker_errors", "free_port", "utc_now"]

_PORT_CONFLICT = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def daemon_address() -> str:
    """Where the SDK looks for the daemon: ``$DOCKER_HOST`` or the default socket."""
    return os.environ.get("DOCKER_HOST") or _DEFAULT_SOCKET


def _unreachable(exc: BaseException) -> InfrastructureError:
    # Say why only when it is not the plain "nothing listens there" case (permissions, bad URL).
    text = str(exc)
    why = " (permission denied)" if "Permission denied" in text or "PermissionError" in text else ""
    where = daemon_address()
    return InfrastructureError(f"Docker daemon not reachable at {where}{why}; start it or use --backend local")


def _first_line(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Translate Docker SDK exceptions raised while doing ``what`` into ``InfrastructureError``."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise _unreachable(exc) from None
    except docker.errors.ImageNotFound as exc:
        raise InfrastructureError(f"{what}: image not found: {_first_line(exc)}") from None
    except docker.errors.BuildError as exc:
        lines = [str(chunk.get("stream") or chunk.get("error") or "").strip() for chunk in exc.build_log]
        tail = " | ".join(line for line in lines if line)[-800:]
        raise InfrastructureError(f"{what}: image build failed: {exc.msg}; build log: ...{tail}") from None
    except docker.errors.APIError as exc:
        message = _first_line(exc)
        if _PORT_CONFLICT.search(message):
            raise InfrastructureError(f"{what}: a port is already in use ({message}); choose other ports") from None
        raise InfrastructureError(f"{what}: Docker refused: {message}") from None
    except docker.errors.DockerException as exc:
        raise InfrastructureError(f"{what}: {_first_line(exc)}") from None


def connect(timeout_s: float = 60.0) -> Any:
    """A ``docker.DockerClient`` for the daemon in the environment, checked with a ping."""
    try:
        import docker
    except ImportError:
        raise InfrastructureError(
            "the Docker SDK for Python is not installed; install it with pip install 'hftperf[docker]' "
            "or use --backend local"
        ) from None
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as exc:
        raise _unreachable(exc) from None
    except Exception as exc:  # requests' connection errors, a bad DOCKER_HOST URL
        raise _unreachable(exc) from None
    return client


def utc_now() -> str:
    """The current UTC time as ISO-8601 seconds: the start time the stacks' labels record."""
    import datetime

    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def free_port() -> int:
    """A loopback port nothing listens on (just released), for a container's published port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
