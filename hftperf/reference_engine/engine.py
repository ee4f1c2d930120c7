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
import collections
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from hftperf import __version__
from hftperf.errors import HftperfError, InfrastructureError
from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning, url_host
from hftperf.reference_engine.book import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    Book,
    Execution,
    Fill,
    IdSequence,
    Order,
)
from hftperf.reference_engine.grpc_guard import Undecodable, add_guarded_servicer
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.reference_engine.store import (
    STORE_UNAVAILABLE,
    LoadedState,
    OrderRow,
    Store,
    StoreError,
    open_store,
)

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
SERVICE_NAME = "hftperf.matching.v1.MatchingEngine"  # also the grpc.health.v1 service name
_MAX_CLIENT_ORDER_ID = 64
MAX_QUANTITY = 10**12  # bounds keep every aggregate inside int64 (proto and database)
MAX_PRICE_TICKS = 10**15
_MAX_ORDER_ID = 2**63 - 1  # ids are SQLite INTEGER / PostgreSQL BIGINT
_OPEN = (1, 2)  # NEW, PARTIALLY_FILLED
_OrderReport: Any = pb.OrderReport  # the book's enum ints are the proto's enum numbers
# The order's report as matched (what its write makes durable), its fills, its durable write.
_Pending = tuple[pb.OrderReport, list[Fill], "asyncio.Future[int]"]
_StreamItem = tuple[int, pb.OrderRequest, _Pending | str | None]  # t0, request, outcome


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


def _row(o: Order) -> OrderRow:
    return OrderRow(o.order_id, o.symbol, o.side, o.order_type, o.time_in_force,
                    o.price_ticks, o.quantity, o.filled, o.status, o.client_order_id)


def _report(o: Order | OrderRow) -> pb.OrderReport:
    remaining = o.quantity - o.filled if o.status in _OPEN else 0
    return _OrderReport(
        order_id=o.order_id, client_order_id=o.client_order_id, symbol=o.symbol, side=o.side,
        type=o.order_type, time_in_force=o.time_in_force, price_ticks=o.price_ticks,
        quantity=o.quantity, filled_quantity=o.filled, remaining_quantity=remaining,
        status=o.status)


def _fills(fills: Sequence[Fill]) -> list[pb.Fill]:
    return [pb.Fill(fill_id=f[0], maker_order_id=f[1], taker_order_id=f[2], price_ticks=f[3],
                    quantity=f[4]) for f in fills]


def _timing(t0_ns: int, store_ns: int) -> pb.EngineTiming:
    return pb.EngineTiming(engine_us=(time.perf_counter_ns() - t0_ns) // 1000,
                           store_us=store_ns // 1000)


class _Service(pb_grpc.MatchingEngineServicer):
    """RPC handlers over the books; all book access happens on the event loop thread."""

    def __init__(self, config: EngineConfig, store: Store, state: LoadedState,
                 health_servicer: health.aio.HealthServicer) -> None:
        self.config = config
        self.store = store
        self.health = health_servicer
        self.ids = IdSequence()
        self.index: dict[int, Order] = {}
        self.books: dict[str, Book] = {}
        self.orders_total = 0
        self._recovery: asyncio.Task[None] | None = None
        self.rebuild(state)

    def rebuild(self, state: LoadedState) -> None:
        """(Re)create every book from durable state; ids never go backwards."""
        unknown = sorted(set(state.resting) - set(self.config.symbols))
        if unknown:
            raise InfrastructureError(
                f"the database holds open orders for symbols that are not configured: "
                f"{', '.join(unknown)} (add them to --symbols or use another data directory)")
        ids = IdSequence(max(self.ids.next_order_id, state.next_order_id),
                         max(self.ids.next_fill_id, state.next_fill_id))
        index: dict[int, Order] = {}
        books = {}
        for symbol in self.config.symbols:
            book = Book(symbol, ids, index)
            old = self.books.get(symbol)
            book.restore(state.resting.get(symbol, ()))
            book.sequence += old.sequence if old is not None else 0
            books[symbol] = book
        self.ids, self.index, self.books = ids, index, books
        self.orders_total = state.orders_total

    # -- helpers ---------------------------------------------------------------------------
    def _invalid(self, r: pb.OrderRequest) -> str | None:
        """The first problem of an order request, naming the field, or None."""
        if r.symbol not in self.books:
            return f"symbol: unknown symbol {r.symbol!r} (known: {', '.join(self.config.symbols)})"
        if r.side not in (BUY, SELL):
            return "side: must be BUY or SELL"
        if r.type not in (LIMIT, MARKET):
            return "type: must be LIMIT or MARKET"
        if not 0 < r.quantity <= MAX_QUANTITY:
            return f"quantity: must be an integer in 1..{MAX_QUANTITY}, got {r.quantity}"
        if r.type == LIMIT and not 0 < r.price_ticks <= MAX_PRICE_TICKS:
            return (f"price_ticks: must be an integer in 1..{MAX_PRICE_TICKS} for LIMIT orders, "
                    f"got {r.price_ticks}")
        if r.time_in_force not in (0, GTC, IOC):
            return "time_in_force: must be GTC or IOC"
        if len(r.client_order_id) > _MAX_CLIENT_ORDER_ID:
            return f"client_order_id: at most {_MAX_CLIENT_ORDER_ID} characters"
        return None

    def _match(self, r: pb.OrderRequest, rows: list[OrderRow]) -> Execution:
        """Match a valid request in its book; append the changed order rows to ``rows``."""
        order_type = r.type
        tif = r.time_in_force or (GTC if order_type == LIMIT else IOC)
        price = r.price_ticks if order_type == LIMIT else 0
        ex = self.books[r.symbol].submit(r.side, order_type, price, r.quantity, tif,
                                         r.client_order_id)
        rows.append(_row(ex.order))
        rows.extend(_row(m) for m in ex.makers)
        return ex

    def _execute(self, r: pb.OrderRequest) -> _Pending:
        """Match a valid request in its book and queue its rows for the store.

        The report is taken now, not after the write: by then a later order may have filled
        this one further in memory, in a write that is not durable yet, and an acknowledgement
        must never claim more than the database holds.
        """
        rows: list[OrderRow] = []
        ex = self._match(r, rows)
        return _report(ex.order), ex.fills, self.store.write(rows, ex.fills)

    def _store_failed(self, exc: StoreError) -> None:
        """Enter degraded mode once: NOT_SERVING until the store takes writes again."""
        if self._recovery is None:
            log.error("store failure, rejecting writes until it recovers: %s", exc)
            self._recovery = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        while True:
            await asyncio.sleep(self.config.recovery_interval_s)
            try:
                state = await self.store.recover()
            except StoreError as exc:
                log.warning("store still failing: %s", exc)
                continue
            self.rebuild(state)
            self._recovery = None
            log.warning("store recovered; books rebuilt from the database")
            await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
            await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
            return

    async def stop_recovery(self) -> None:
        """Cancel a running recovery loop (shutdown)."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery

    async def _unavailable(self, context: grpc.aio.ServicerContext, exc: StoreError) -> None:
        self._store_failed(exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{STORE_UNAVAILABLE}: {exc}")

    async def _acknowledge(self, context: grpc.aio.ServicerContext, t0_ns: int, outcome: Any,
                           waited_from_ns: int) -> pb.SubmitOrderResponse:
        """Wait for the order's durable write, then build its answer (UNAVAILABLE if it failed)."""
        report, fills, durable = outcome
        try:
            store_ns = await durable - waited_from_ns
        except StoreError as exc:
            await self._unavailable(context, exc)
        self.orders_total += 1
        return pb.SubmitOrderResponse(order=report, fills=_fills(fills), timing=_timing(t0_ns, store_ns))

    # -- RPCs ------------------------------------------------------------------------------
    async def SubmitOrder(self, request: pb.OrderRequest,
                          context: grpc.aio.ServicerContext) -> pb.SubmitOrderResponse:
        t0 = time.perf_counter_ns()
        problem = self._invalid(request)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        outcome = self._execute(request)
        return await self._acknowledge(context, t0, outcome, time.perf_counter_ns())

    async def SubmitOrderBatch(self, request: pb.OrderBatch,
                               context: grpc.aio.ServicerContext) -> pb.OrderBatchResponse:
        # One call, one durable write for many orders: the per-call gRPC cost (~240 us CPU
        # on each side) and the store hand-off are paid once per batch, not per order.
        t0 = time.perf_counter_ns()
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        rows: list[OrderRow] = []
        fills: list[Fill] = []
        outcomes: list[pb.SubmitOrderResponse | str] = []
        for r in request.orders:
            problem = self._invalid(r)
            if problem is not None:
                outcomes.append(problem)
                continue
            ex = self._match(r, rows)
            if ex.fills:
                fills.extend(ex.fills)
            # Reported as matched, not as it is after the write (see _execute).
            outcomes.append(pb.SubmitOrderResponse(order=_report(ex.order), fills=_fills(ex.fills)))
        store_ns = 0
        if rows:
            t1 = time.perf_counter_ns()
            try:
                store_ns = await self.store.write(rows, fills) - t1
            except StoreError as exc:
                await self._unavailable(context, exc)
        results: list[pb.SubmitOrderResponse] = []
        codes: list[int] = []
        invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
        for r, outcome in zip(request.orders, outcomes, strict=True):
            if isinstance(outcome, str):
                results.append(pb.SubmitOrderResponse(order=_OrderReport(
                    status=pb.REJECTED, reject_reason=outcome, symbol=r.symbol,
                    client_order_id=r.client_order_id[:_MAX_CLIENT_ORDER_ID])))
                codes.append(invalid)
            else:
                self.orders_total += 1
                results.append(outcome)
                codes.append(0)
        return pb.OrderBatchResponse(results=results, codes=codes, timing=_timing(t0, store_ns))

    async def SubmitOrders(self, request_iterator: AsyncIterator[pb.OrderRequest],
                           context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[pb.SubmitOrderResponse]:
        # Orders are matched as they arrive and their writes queued at once, so a stream
        # fills whole group-commit batches; responses are sent in order as batches commit.
        # Invalid requests get a REJECTED report instead of ending the stream. A deque and
        # two events, not an asyncio.Queue: this is the engine's highest-rate path.
        pending: collections.deque[_StreamItem] = collections.deque()
        wake, room = asyncio.Event(), asyncio.Event()
        room.set()
        window = self.config.stream_window
        input_done = False

        async def pump() -> None:
            nonlocal input_done
            try:
                async for request in request_iterator:
                    t0 = time.perf_counter_ns()
                    problem = self._invalid(request) if type(request) is not Undecodable else request.reason
                    if problem is None and self.store.failed is None:
                        pending.append((t0, request, self._execute(request)))
                    else:
                        pending.append((t0, request, problem))
                    wake.set()
                    if len(pending) >= window:
                        room.clear()
                        await room.wait()
            finally:
                input_done = True
                wake.set()

        task = asyncio.create_task(pump())
        try:
            while True:
                if not pending:
                    if input_done:
                        break
                    wake.clear()
                    await wake.wait()
                    continue
                t0, request, outcome = pending.popleft()
                room.set()
                if outcome is None:  # the store failed before this order was matched
                    await self._unavailable(context, self.store.failed or StoreError("failed"))
                    return
                if isinstance(outcome, str):
                    yield pb.SubmitOrderResponse(order=pb.OrderReport(
                        status=pb.REJECTED, reject_reason=outcome, symbol=request.symbol,
                        client_order_id=request.client_order_id[:_MAX_CLIENT_ORDER_ID]),
                        timing=_timing(t0, 0))
                    continue
                yield await self._acknowledge(context, t0, outcome, t0)
            await task  # surfaces a failed read of the request stream
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def CancelOrder(self, request: pb.CancelOrderRequest,
                          context: grpc.aio.ServicerContext) -> pb.CancelOrderResponse:
        t0 = time.perf_counter_ns()
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        live = self.index.get(request.order_id)
        if live is None:  # unknown, or already filled/cancelled: ask the database
            found = await self._lookup(request.order_id, context)
            return pb.CancelOrderResponse(order=_report(found[0]), cancelled=False,
                                          timing=_timing(t0, 0))
        self.books[live.symbol].cancel(live.order_id)
        t1 = time.perf_counter_ns()
        try:
            store_ns = await self.store.write([_row(live)]) - t1
        except StoreError as exc:
            await self._unavailable(context, exc)
        return pb.CancelOrderResponse(order=_report(live), cancelled=True,
                                      timing=_timing(t0, store_ns))

    async def _lookup(self, order_id: int, context: grpc.aio.ServicerContext
                      ) -> tuple[OrderRow, list[Fill]]:
        found = None
        try:
            if order_id <= _MAX_ORDER_ID:  # beyond int64 no database row can exist (nor be queried)
                found = await self.store.get_order(order_id)
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{STORE_UNAVAILABLE}: {exc}")
            raise  # unreachable: abort raises
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"order_id: no order {order_id}")
            raise AssertionError("unreachable")
        return found

    async def GetOrder(self, request: pb.GetOrderRequest,
                       context: grpc.aio.ServicerContext) -> pb.GetOrderResponse:
        # The database is the source of truth: it holds exactly what was acknowledged.
        row, fills = await self._lookup(request.order_id, context)
        return pb.GetOrderResponse(order=_report(row), fills=_fills(fills))

    async def GetBook(self, request: pb.GetBookRequest,
                      context: grpc.aio.ServicerContext) -> pb.BookSnapshot:
        book = self.books.get(request.symbol)
        if book is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"symbol: unknown symbol {request.symbol!r}")
            raise AssertionError("unreachable")
        depth = book.depth(min(request.depth or self.config.default_depth, self.config.max_depth))
        return pb.BookSnapshot(
            symbol=book.symbol, sequence=depth.sequence,
            bids=[pb.PriceLevel(price_ticks=p, quantity=q, order_count=n) for p, q, n in depth.bids],
            asks=[pb.PriceLevel(price_ticks=p, quantity=q, order_count=n) for p, q, n in depth.asks])

    async def Health(self, request: pb.HealthRequest,
                     context: grpc.aio.ServicerContext) -> pb.HealthResponse:
        return pb.HealthResponse(ok=self.store.failed is None, version=__version__,
                                 orders_total=self.orders_total, symbols=self.config.symbols)


class EngineServer:
    """The engine as an object: ``await start()``, ``port``, ``await stop()`` (tests, stack)."""

    def __init__(self, config: EngineConfig) -> None:
        """Prepare (nothing is opened or bound until :meth:`start`)."""
        self.config = config
        self.port: int = config.port
        self.store: Store | None = None
        self.service: _Service | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()

    async def start(self) -> None:
        """Open the store, rebuild the books, bind and start serving."""
        cfg = self.config
        self.store = open_store(cfg.data_dir, cfg.db_dsn, **cfg.store_options)
        state = await self.store.open()
        try:
            self.service = _Service(cfg, self.store, state, self._health)
            # so_reuseport=0: a second engine on a busy port must fail, not share it.
            server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
            add_guarded_servicer(self.service, server)  # undecodable bytes: INVALID_ARGUMENT
            health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
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
