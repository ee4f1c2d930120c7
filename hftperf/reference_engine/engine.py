"""gRPC matching engine of the reference stack (``grpc.aio``), persisting through the store.

Every accepted order, state change and fill is committed (group commit) before the RPC
answers; a store failure answers UNAVAILABLE, marks the health service NOT_SERVING and
starts a recovery loop that rebuilds the books from the database once it accepts writes
again, so no unpersisted state is ever acknowledged or kept.

Run: ``python -m hftperf.reference_engine.engine --host 127.0.0.1 --port 50051
--data-dir DIR [--db postgresql://...] [--symbols BTC-USD,ETH-USD]``; serves until
SIGTERM/SIGINT, then drains in-flight calls and flushes the store.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from hftperf.errors import HftperfError, InfrastructureError
from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning, url_host
from hftperf.reference_engine.engine_books import MAX_PRICE_TICKS, MAX_QUANTITY
from hftperf.reference_engine.engine_service import SERVICE_NAME, EngineService
from hftperf.reference_engine.grpc_guard import add_guarded_servicer
from hftperf.reference_engine.store import Store, open_store

__all__ = [
    "DEFAULT_SYMBOLS",
    "MAX_PRICE_TICKS",
    "MAX_QUANTITY",
    "SERVICE_NAME",
    "EngineConfig",
    "EngineServer",
    "main",
    "serve",
]

log = logging.getLogger("hftperf.engine")

DEFAULT_SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")


@dataclass(frozen=True)
class EngineConfig:
    """Where the engine listens, what it trades and where it persists."""

    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port (see EngineServer.port)
    data_dir: Path = Path("hftperf-data")
    db_dsn: str | None = None  # postgresql://... ; None = SQLite in data_dir
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    default_depth: int = 10
    max_depth: int = 1000
    stream_window: int = 1024  # max in-flight orders per SubmitOrders stream
    grace_s: float = 5.0  # how long stop() lets in-flight calls finish
    recovery_interval_s: float = 1.0
    store_options: dict[str, object] = field(default_factory=dict)  # backend keyword options


class EngineServer:
    """The engine as an object: ``await start()``, ``port``, ``await stop()`` (tests, stack)."""

    def __init__(self, config: EngineConfig) -> None:
        """Prepare (nothing is opened or bound until :meth:`start`)."""
        self.config = config
        self.port: int = config.port
        self.store: Store | None = None
        self.service: EngineService | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()

    async def start(self) -> None:
        """Open the store, rebuild the books, bind and start serving."""
        cfg = self.config
        self.store = open_store(cfg.data_dir, cfg.db_dsn, **cfg.store_options)
        state = await self.store.open()
        try:
            self.service = EngineService(cfg, self.store, state, self._health)
            # so_reuseport=0: a second engine on a busy port must fail, not share it.
            server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            add_guarded_servicer(self.service, server)  # undecodable bytes: INVALID_ARGUMENT
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
            # Reflection: clients find the engine's methods as they find any service's (hftperf's own
            # grpc scenario does, with no compiled-in proto).
            reflection.enable_server_reflection((SERVICE_NAME, "grpc.health.v1.Health", reflection.SERVICE_NAME),
                                                server)
            try:
                self.port = server.add_insecure_port(f"{url_host(cfg.host)}:{cfg.port}")
            except RuntimeError as exc:
                raise InfrastructureError(
                    f"cannot listen on {url_host(cfg.host)}:{cfg.port} (port in use, or not an "
                    f"address of this machine?): {exc}") from exc
            await server.start()
            self._server = server
        except BaseException:
            await self.store.close()
            raise
        for name in (SERVICE_NAME, ""):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        # Modules, server and the restored books live until stop: keep them out of the cyclic
        # GC, whose full passes over them stall every call in flight (p99) for nothing.
        gc.freeze()
        log.info("matching engine on %s:%d (%s; %d orders, %d resting; symbols %s)",
                 cfg.host, self.port, self.store.description, state.orders_total,
                 len(self.service.index), ",".join(cfg.symbols))

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish, flush and close the store."""
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(self.config.grace_s if grace_s is None else grace_s)
            self._server = None
        if self.service is not None:
            await self.service.stop_recovery()
        if self.store is not None:
            await self.store.close()
            self.store = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def serve(config: EngineConfig, stop: asyncio.Event | None = None) -> None:
    """Run the engine until ``stop`` is set or SIGTERM/SIGINT arrives, then stop gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with EngineServer(config):
        await stop.wait()
        log.info("stopping: draining calls and flushing the store")


def _parse_args(argv: Sequence[str] | None) -> EngineConfig:
    p = argparse.ArgumentParser(prog="python -m hftperf.reference_engine.engine",
                                description="hftperf reference matching engine (gRPC)")
    p.add_argument("--host", default=DEFAULT_HOST, help="listen address (default: loopback only)")
    p.add_argument("--port", type=int, default=50051)
    p.add_argument("--data-dir", type=Path, default=EngineConfig.data_dir)
    p.add_argument("--db", dest="db_dsn", default=None, help="postgresql://... (default SQLite)")
    p.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS), help="comma-separated")
    p.add_argument("--sqlite-synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    symbols = tuple(dict.fromkeys(s.strip() for s in a.symbols.split(",") if s.strip()))
    if not symbols:
        p.error("--symbols: at least one symbol is needed")
    logging.basicConfig(level=a.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (warning := exposure_warning(a.host, "engine")) is not None:
        log.warning("%s", warning)
    options: dict[str, object] = {} if a.db_dsn else {"synchronous": a.sqlite_synchronous}
    return EngineConfig(host=a.host, port=a.port, data_dir=a.data_dir, db_dsn=a.db_dsn,
                        symbols=symbols, store_options=options)


def main(argv: Sequence[str] | None = None) -> int:
    """Process entry point: 0 after a clean stop, 2 when the engine cannot start."""
    config = _parse_args(argv)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    else:
        runner = uvloop.run  # type: ignore[assignment]
    try:
        runner(serve(config))
    except HftperfError as exc:
        print(f"engine: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
