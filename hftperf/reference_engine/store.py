"""Durable order/fill persistence for the matching engine, with group commit.

The engine mutates its in-memory books on the event loop, then hands the changed order rows
and the new fills to :meth:`Store.write`, which returns a future resolved once they are
committed. A single writer thread takes *everything that arrived while the previous commit
ran* as one batch and writes it in one transaction (group commit): under load one fsync
acknowledges hundreds of orders, idle a lone order still commits at once.

Rows are upserts of an order's full state (status and filled quantity included), so the
restart path is a plain query of open orders in id order, fed to ``Book.restore``; ids are
assigned in arrival order, so id order is time priority and ids continue after the largest
stored one. After any failed commit the store stays *failed*: every later batch fails with
the same :class:`StoreError` until :meth:`Store.recover` succeeds, because a later batch may
depend on the lost one (a fill against an order that never reached disk). The engine then
rebuilds its books from what is durable.

Backends: :mod:`.store_sqlite` (default, WAL mode in a data directory) and
:mod:`.store_postgres` (``postgresql://`` DSN, psycopg 3 connection pool).
"""

from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hftperf.errors import InfrastructureError
from hftperf.reference_engine.book import Fill, RestingOrder

__all__ = [
    "FILL_COLUMNS",
    "ORDER_COLUMNS",
    "STORE_UNAVAILABLE",
    "LoadedState",
    "OrderRow",
    "Store",
    "StoreError",
    "open_store",
    "rows_to_state",
]


STORE_UNAVAILABLE = "store unavailable"  # how the engine's UNAVAILABLE details start on a store failure


class StoreError(InfrastructureError):
    """The database cannot durably store or read orders (disk full, read-only, down)."""


class OrderRow(NamedTuple):
    """Persisted state of one order (enum fields hold the ``matching.proto`` numbers)."""

    order_id: int
    symbol: str
    side: int
    order_type: int
    time_in_force: int
    price_ticks: int
    quantity: int
    filled: int
    status: int
    client_order_id: str


ORDER_COLUMNS = ("order_id", "symbol", "side", "order_type", "time_in_force", "price_ticks",
                 "quantity", "filled", "status", "client_order_id")
FILL_COLUMNS = ("fill_id", "maker_order_id", "taker_order_id", "price_ticks", "quantity")


@dataclass
class LoadedState:
    """What a (re)start needs: id high-water marks, order count and open orders per symbol."""

    next_order_id: int = 1
    next_fill_id: int = 1
    orders_total: int = 0
    resting: dict[str, list[RestingOrder]] = field(default_factory=dict)


class _Batch:
    """Writes collected while the writer was busy, acknowledged together by one future."""

    __slots__ = ("fills", "future", "orders", "requests")

    def __init__(self, future: asyncio.Future[int]) -> None:
        self.future = future
        self.orders: list[OrderRow] = []
        self.fills: list[Fill] = []
        self.requests = 0


class Store(abc.ABC):
    """Group-committing store; subclasses implement the blocking ``_db_*`` methods.

    ``_db_*`` methods run only on the store's own threads: writes on the writer thread,
    reads (and recovery probes) on one reader thread, never on the event loop.
    """

    description = "store"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cond = threading.Condition(threading.Lock())  # not the default RLock: cheaper
        self._open: _Batch | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._reader: concurrent.futures.ThreadPoolExecutor | None = None
        self.failed: StoreError | None = None  # set by the writer; cleared by recover()
        self.batches_committed = 0
        self.requests_committed = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> LoadedState:
        """Connect, create the schema if needed, start the writer and load the state."""
        self._loop = asyncio.get_running_loop()
        self._reader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store-read")
        try:
            await self._loop.run_in_executor(self._reader, self._db_open_guarded)
            state = await self._loop.run_in_executor(self._reader, self._load_guarded)
        except BaseException:
            self._reader.shutdown(wait=False)
            raise
        self._thread = threading.Thread(target=self._writer_main, name="store-write", daemon=True)
        self._thread.start()
        return state

    async def close(self) -> None:
        """Commit everything already handed to :meth:`write`, then close the database."""
        loop = asyncio.get_running_loop()
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            await loop.run_in_executor(None, self._thread.join)
            self._thread = None
        await asyncio.sleep(0)  # let the last batch's acknowledgement callback run
        if self._reader is not None:
            await loop.run_in_executor(self._reader, self._db_close)
            self._reader.shutdown(wait=True)
            self._reader = None

    async def recover(self) -> LoadedState:
        """Probe the database with a real write; on success clear ``failed`` and reload."""
        assert self._loop is not None and self._reader is not None
        await self._loop.run_in_executor(self._reader, self._probe_guarded)
        state = await self._loop.run_in_executor(self._reader, self._load_guarded)
        with self._cond:
            stale, self._open = self._open, None
            self.failed = None
        if stale is not None:
            # Written after the failure and never committed: it must not reach disk now.
            self._finish(stale, StoreError(f"{self.description}: write abandoned by recovery"))
        return state

    # -- hot path ----------------------------------------------------------------------------
    def write(self, orders: Sequence[OrderRow], fills: Sequence[Fill] = ()) -> asyncio.Future[int]:
        """Queue order rows (upserts) and fills; the future resolves once they are durable.

        Call on the event loop thread. Rows queued by one call are committed atomically and
        after every row queued by earlier calls. The future's result is the
        ``time.perf_counter_ns()`` at which the commit completed (so callers can time the
        store exactly even when they look later); it fails with :class:`StoreError`.
        """
        with self._cond:
            batch = self._open
            if batch is None:
                assert self._loop is not None, "store not opened"
                if self._closing:
                    raise StoreError(f"{self.description}: store is closed")
                batch = self._open = _Batch(self._loop.create_future())
                self._cond.notify()
            batch.orders.extend(orders)
            if fills:
                batch.fills.extend(fills)
            batch.requests += 1
        return batch.future

    async def get_order(self, order_id: int) -> tuple[OrderRow, list[Fill]] | None:
        """Committed state of one order and its fills (as maker or taker), or None."""
        assert self._loop is not None and self._reader is not None
        return await self._loop.run_in_executor(self._reader, self._read_guarded, order_id)

    # -- writer thread ---------------------------------------------------------------------
    def _writer_main(self) -> None:
        while True:
            with self._cond:
                while self._open is None and not self._closing:
                    self._cond.wait()
                batch, self._open = self._open, None
                failed = self.failed
            if batch is None:
                return  # closing, and nothing left to commit
            error, committed_ns = failed, 0
            if error is None:
                # Coalesce: an order changed twice in one batch is written once (last wins).
                orders = {row[0]: row for row in batch.orders}.values()
                try:
                    self._db_write(orders, batch.fills)
                except Exception as exc:
                    error = self._translate(exc, "write")
                    self.failed = error
                else:
                    committed_ns = time.perf_counter_ns()
                    self.batches_committed += 1
                    self.requests_committed += batch.requests
            assert self._loop is not None
            try:
                self._loop.call_soon_threadsafe(self._finish, batch, error, committed_ns)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    @staticmethod
    def _finish(batch: _Batch, error: StoreError | None, committed_ns: int = 0) -> None:
        future = batch.future
        if future.done():
            return
        if error is None:
            future.set_result(committed_ns)
        else:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters may all have gone away

    # -- error translation -----------------------------------------------------------------
    def _translate(self, exc: BaseException, action: str) -> StoreError:
        if isinstance(exc, StoreError):
            return exc
        return StoreError(f"{self.description}: cannot {action}: {self._describe(exc)}")

    def _describe(self, exc: BaseException) -> str:
        """One-line cause of a driver exception; backends add hints (disk full, read-only)."""
        return f"{type(exc).__name__}: {exc}".splitlines()[0]

    def _db_open_guarded(self) -> None:
        try:
            self._db_open()
        except Exception as exc:
            raise self._translate(exc, "open the database") from exc

    def _load_guarded(self) -> LoadedState:
        try:
            return self._db_load()
        except Exception as exc:
            raise self._translate(exc, "load orders") from exc

    def _probe_guarded(self) -> None:
        try:
            self._db_probe()
        except Exception as exc:
            raise self._translate(exc, "write") from exc

    def _read_guarded(self, order_id: int) -> tuple[OrderRow, list[Fill]] | None:
        try:
            return self._db_read_order(order_id)
        except Exception as exc:
            raise self._translate(exc, "read") from exc

    # -- backend hooks (blocking, store threads only) --------------------------------------
    @abc.abstractmethod
    def _db_open(self) -> None:
        """Connect and create the schema if it does not exist (reader thread)."""

    @abc.abstractmethod
    def _db_write(self, orders: Iterable[OrderRow], fills: Sequence[Fill]) -> None:
        """Upsert orders and insert fills in ONE transaction, durably (writer thread)."""

    @abc.abstractmethod
    def _db_load(self) -> LoadedState:
        """Read id high-water marks, order count and open orders (reader thread)."""

    @abc.abstractmethod
    def _db_read_order(self, order_id: int) -> tuple[OrderRow, list[Fill]] | None:
        """Read one order and its fills (reader thread)."""

    @abc.abstractmethod
    def _db_probe(self) -> None:
        """Commit a small real write to check the database accepts writes (reader thread)."""

    @abc.abstractmethod
    def _db_close(self) -> None:
        """Release every connection (reader thread, after the writer has stopped)."""


def rows_to_state(max_order_id: int, max_fill_id: int, orders_total: int,
                  open_rows: Iterable[Sequence[object]]) -> LoadedState:
    """Build a :class:`LoadedState` from query results (open rows ordered by id)."""
    state = LoadedState(max_order_id + 1, max_fill_id + 1, orders_total)
    for order_id, symbol, side, price, qty, filled, client_id in open_rows:
        state.resting.setdefault(str(symbol), []).append(RestingOrder(
            int(order_id), int(side), int(price), int(qty), int(filled), str(client_id)))  # type: ignore[call-overload]
    return state


def open_store(data_dir: str | Path, dsn: str | None = None, **options: object) -> Store:
    """SQLite in ``data_dir`` by default; PostgreSQL when ``dsn`` is ``postgresql://...``."""
    if dsn:
        if not dsn.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"unsupported database DSN {dsn!r}: expected postgresql://...")
        from hftperf.reference_engine.store_postgres import PostgresStore
        return PostgresStore(dsn, **options)  # type: ignore[arg-type]
    from hftperf.reference_engine.store_sqlite import SqliteStore
    return SqliteStore(data_dir, **options)  # type: ignore[arg-type]
