"""The run's side sections: ``[stack]`` (how a stack starts), ``[grpc]`` (channel options), ``[history]``.

Each is a frozen dataclass of ``param()`` fields that ``load_params`` fills from its TOML table;
``RunConfig`` carries one of each.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from hftperf.config.checks import check_name
from hftperf.defaults import DEFAULT_BASE_IMAGE
from hftperf.params import param
from hftperf.redact import redact_text, redact_url

__all__ = ["GrpcChannelOptions", "HistoryOptions", "StackOptions"]


def _check_db(db: str) -> None:
    if db not in ("sqlite", "postgres") and not db.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected 'sqlite', 'postgres' (docker stack) or a postgresql:// DSN, "
                         f"got {redact_text(db)!r}")


def _check_history_url(url: str) -> None:
    if not url.strip() or ("://" in url and not url.startswith(("postgresql://", "postgres://"))):
        raise ValueError(f"expected a file path or a postgresql:// URL, got {redact_url(url)!r}")


@dataclasses.dataclass(frozen=True)
class HistoryOptions:
    """``[history]``: where ``hftperf run`` appends its results (see ``hftperf history``)."""

    url: str | None = param(default=None, check=_check_history_url)  # a SQLite file or a postgresql:// URL


@dataclasses.dataclass(frozen=True)
class StackOptions:
    """``[stack]``: how the bundled reference stack is started (when ``stack`` is not 'none')."""

    gateway_port: int = param(default=8080, min=1, max=65535)
    engine_port: int = param(default=50051, min=1, max=65535)
    workers: int = param(default=1, min=1)  # gateway worker processes
    db: str = param(default="sqlite", check=_check_db)  # 'sqlite', a postgresql:// DSN, 'postgres' (docker)
    data_dir: Path | None = None  # None: the stack's own state directory
    network: Literal["host", "bridge"] = "host"  # docker stack: host network, or bridge on 127.0.0.1
    base_image: str = DEFAULT_BASE_IMAGE  # docker stack: the stack image is built on this image
    # compose stack: the user's own services (hftperf.stacks.compose)
    backend: Literal["local", "docker", "compose"] | None = None  # same as [run] stack; None: that one
    compose_file: Path | None = None
    service: str | None = None  # the HTTP target service
    grpc_service: str | None = None  # the gRPC target service, if any
    project: str | None = param(default=None, check=check_name)  # names the stack (labels, containers)

    @property
    def db_dsn(self) -> str | None:
        """The PostgreSQL DSN, or None for SQLite."""
        return None if self.db == "sqlite" else self.db


@dataclasses.dataclass(frozen=True)
class GrpcChannelOptions:
    """``[grpc]``: the load generator's channel options for gRPC scenarios (0 s disables a timer).

    Only client-side options: a connection age limit is the server's to set (its
    ``grpc.max_connection_age_ms``), so no key here pretends to apply one.
    """

    keepalive_time_s: float = param(key="keepalive_time", unit="duration_s", default=30.0)
    keepalive_timeout_s: float = param(key="keepalive_timeout", unit="duration_s", default=10.0)
    max_connection_idle_s: float = param(key="max_connection_idle", unit="duration_s", default=0.0)
    permit_without_calls: bool = False

    def channel_options(self) -> tuple[tuple[str, int], ...]:
        """Client channel arguments for ``grpc.aio.insecure_channel(target, options=...)``."""
        options = [("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
                   ("grpc.http2.max_pings_without_data", 0)]
        if self.keepalive_time_s > 0:
            options += [("grpc.keepalive_time_ms", round(self.keepalive_time_s * 1000)),
                        ("grpc.keepalive_timeout_ms", round(self.keepalive_timeout_s * 1000))]
        if self.max_connection_idle_s > 0:
            options.append(("grpc.client_idle_timeout_ms", round(self.max_connection_idle_s * 1000)))
        return tuple(options)
