"""What every stack backend offers: start, stop, status and endpoints of the reference stack.

The flow sees the stack only through ``StackEndpoints`` (a URL and a gRPC target); the local
backend runs processes, the Docker backend runs containers behind the same protocol.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import TracebackType
from typing import Protocol

from hftperf.addresses import target_addresses
from hftperf.defaults import DEFAULT_BASE_IMAGE

__all__ = [
    "DEFAULT_ENGINE_PORT",
    "DEFAULT_GATEWAY_PORT",
    "ProcessStatus",
    "StackBackend",
    "StackConfig",
    "StackEndpoints",
    "StackLifecycle",
    "StackStatus",
    "default_state_dir",
]

DEFAULT_GATEWAY_PORT = 8080
DEFAULT_ENGINE_PORT = 50051
STATE_DIR_ENV = "HFTPERF_STATE_DIR"


def default_state_dir() -> Path:
    """Where stack state files live: ``$HFTPERF_STATE_DIR`` or ``~/.hftperf/stacks``."""
    override = os.environ.get(STATE_DIR_ENV)
    return Path(override).expanduser() if override else Path.home() / ".hftperf" / "stacks"


@dataclasses.dataclass(frozen=True)
class StackConfig:
    """Everything needed to bring a reference stack up (ports on 127.0.0.1)."""

    name: str = "default"
    backend: str = "local"
    host: str = "127.0.0.1"
    gateway_port: int = DEFAULT_GATEWAY_PORT
    engine_port: int = DEFAULT_ENGINE_PORT
    workers: int = 1
    data_dir: Path | None = None  # None: <state dir>/<name>
    db: str | None = None  # None: SQLite (WAL) in the data dir; a postgresql:// DSN; 'postgres' (Docker)
    symbols: tuple[str, ...] = ()  # empty: the engine's default symbols
    state_dir: Path | None = None  # None: default_state_dir()
    startup_timeout_s: float = 30.0
    stop_timeout_s: float = 10.0
    gateway_args: tuple[str, ...] = ()  # extra flags for the gateway process (keepalive, ...)
    engine_args: tuple[str, ...] = ()  # extra flags for the engine process
    network: str = "host"  # Docker backend: 'host' or 'bridge' (ports published on 127.0.0.1)
    base_image: str = DEFAULT_BASE_IMAGE  # Docker backend: image the stack image is built on
    postgres_image: str = "postgres:16-bookworm"  # Docker backend with db 'postgres'
    ephemeral: bool = False  # a run's throwaway stack: stop() also forgets it (no state file left behind)
    # compose backend (hftperf.stacks.compose): the user's own services
    compose_file: Path | None = None
    service: str | None = None  # the HTTP target service
    grpc_service: str | None = None  # the gRPC target service, if any
    image_tag: str | None = None  # built images are tagged with this (a commit) and reused when present
    source_commit: str | None = None  # the build context's commit when it is an export, not a checkout
    remap_ports: bool = False  # publish every port on a free host port (two stacks side by side)
    build_args: tuple[tuple[str, str], ...] = ()  # added to every service's build args (BASE_IMAGE, ...)
    image: str | None = None  # docker backend: run this stack image (a revision's) instead of building one

    def resolved_state_dir(self) -> Path:
        """The state directory this stack uses."""
        return self.state_dir if self.state_dir is not None else default_state_dir()

    def resolved_data_dir(self) -> Path:
        """The data directory (database and logs) this stack uses."""
        return self.data_dir if self.data_dir is not None else self.resolved_state_dir() / self.name


@dataclasses.dataclass(frozen=True)
class StackEndpoints:
    """Where to reach a running stack."""

    gateway_url: str  # e.g. http://127.0.0.1:8080
    engine_target: str  # e.g. 127.0.0.1:50051

    @property
    def targets(self) -> dict[str, str]:
        """Protocol -> address: "http" the gateway, "grpc" the engine (when the stack has one)."""
        return target_addresses(self.gateway_url, self.engine_target)


@dataclasses.dataclass(frozen=True)
class ProcessStatus:
    """One process of a stack as seen now."""

    component: str  # "engine" or "gateway"
    pid: int
    port: int
    alive: bool
    healthy: bool
    log_path: Path | None  # None: the backend keeps logs elsewhere (a container's log)
    container: str | None = None  # the container's name (Docker backend)


@dataclasses.dataclass(frozen=True)
class StackStatus:
    """A stack as seen now: running means every process is alive and healthy."""

    name: str
    backend: str
    running: bool
    endpoints: StackEndpoints
    processes: tuple[ProcessStatus, ...]
    data_dir: Path
    started_at: str  # UTC ISO-8601
    stopped_at: str | None = None


class StackBackend(Protocol):
    """A way to run the reference stack (local processes, Docker, ...)."""

    def start(self) -> StackEndpoints:
        """Start every component, wait until healthy, return the endpoints."""
        ...

    def stop(self, volumes: bool = False) -> None:
        """Stop every component started, leaving no process or listening port behind (``volumes``: remove
        the stack's volumes too, where it has them)."""
        ...

    def status(self) -> StackStatus:
        """Describe the stack as it is now."""
        ...

    def endpoints(self) -> StackEndpoints:
        """Where the stack is (or would be) reachable."""
        ...

    def components(self) -> list[str]:
        """The names ``logs`` takes (the bundled stack's engine and gateway, a compose file's services)."""
        ...

    def logs(self, component: str, lines: int) -> str:
        """The last ``lines`` lines of a component's log ('' when it has none)."""
        ...

    def log_source(self, component: str) -> str:
        """Where that log is, for a heading (a file, a container)."""
        ...


class StackLifecycle:
    """``with stack as endpoints:`` for any backend: start on entry, stop on exit (also on errors)."""

    def start(self) -> StackEndpoints:
        """Start every component (each backend defines it)."""
        raise NotImplementedError

    def stop(self, volumes: bool = False) -> None:
        """Stop every component (each backend defines it)."""
        raise NotImplementedError

    def __enter__(self) -> StackEndpoints:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
