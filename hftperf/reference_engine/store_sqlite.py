"""SQLite backend of the engine store: one file in the data directory, WAL journal.

Two connections: the writer thread's (one transaction per group-commit batch) and the reader
thread's (GetOrder lookups, start-up load, recovery probe); WAL lets them run concurrently.
``synchronous=FULL`` by default fsyncs the WAL on every commit, so an acknowledged order
survives power loss, not only a killed process; group commit amortises that fsync.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from hftperf.reference_engine.book import Fill
from hftperf.reference_engine.store import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    LoadedState,
    OrderRow,
    Store,
    StoreError,
    rows_to_state,
)

__all__ = ["DB_FILENAME", "SqliteStore"]

DB_FILENAME = "engine.sqlite3"
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id INTEGER PRIMARY KEY,
    symbol TEXT NOT NULL,
    side INTEGER NOT NULL,
    order_type INTEGER NOT NULL,
    time_in_force INTEGER NOT NULL,
    price_ticks INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    filled INTEGER NOT NULL,
    status INTEGER NOT NULL,
    client_order_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_open ON orders(order_id) WHERE status IN (1, 2);
CREATE TABLE IF NOT EXISTS fills (
    fill_id INTEGER PRIMARY KEY,
    maker_order_id INTEGER NOT NULL,
    taker_order_id INTEGER NOT NULL,
    price_ticks INTEGER NOT NULL,
    quantity INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_maker ON fills(maker_order_id);
CREATE INDEX IF NOT EXISTS fills_taker ON fills(taker_order_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_ROWS_PER_STATEMENT = 128  # x 10 columns stays far below SQLite's 32766 parameters
_UPSERT_SUFFIX = " ON CONFLICT (order_id) DO UPDATE SET filled = excluded.filled, status = excluded.status"


@functools.lru_cache(maxsize=2 * _ROWS_PER_STATEMENT)
def _multi_row_sql(table: str, columns: tuple[str, ...], rows: int, suffix: str = "") -> str:
    one = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)}{suffix}"
_SELECT_ORDER = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE order_id = ?"
_SELECT_FILLS = (
    f"SELECT {', '.join(FILL_COLUMNS)} FROM fills WHERE maker_order_id = ? "
    f"UNION ALL SELECT {', '.join(FILL_COLUMNS)} FROM fills WHERE taker_order_id = ? "
    "ORDER BY fill_id"
)
_SELECT_OPEN = (
    "SELECT order_id, symbol, side, price_ticks, quantity, filled, client_order_id "
    "FROM orders WHERE status IN (1, 2) ORDER BY order_id"
)
_HINTS = {
    "SQLITE_FULL": "the disk or database is full",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_CANTOPEN": "cannot open the file (does the directory exist and is it writable?)",
    "SQLITE_IOERR": "disk I/O error",
    "SQLITE_BUSY": "the database is locked by another process",
}


def _insert_rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...],
                 rows: Sequence[Sequence[object]], suffix: str = "") -> None:
    """Insert rows with multi-row statements.

    Why not ``executemany``: the sqlite3 module releases and re-takes the GIL around every
    row it steps, and under load each re-take waits for the event loop thread, which made
    commits several times slower; one statement per 128 rows needs one GIL round trip.
    """
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        conn.execute(_multi_row_sql(table, columns, len(chunk), suffix),
                     [value for row in chunk for value in row])


class SqliteStore(Store):
    """Group-committing store in ``<data_dir>/engine.sqlite3`` (WAL mode)."""

    def __init__(self, data_dir: str | Path, *, synchronous: str = "FULL",
                 pragmas: Sequence[str] = ()) -> None:
        """``pragmas`` are extra ``PRAGMA`` statements for both connections (tuning, tests)."""
        super().__init__()
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILENAME
        self.description = f"SQLite database {self.path}"
        self._synchronous = synchronous.upper()
        self._pragmas = tuple(pragmas)
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): transactions are explicit BEGIN/COMMIT.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL journal mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            for pragma in self._pragmas:
                conn.execute(f"PRAGMA {pragma}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _db_open(self) -> None:
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise NotADirectoryError(f"data directory {self.data_dir} is not a directory")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._check_writable()
        self._wconn = self._connect()
        version = self._wconn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"unknown schema version {version} (expected {_SCHEMA_VERSION})")
        self._wconn.executescript(_SCHEMA)
        self._wconn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        self._rconn = self._connect()

    def _check_writable(self) -> None:
        # SQLite would only say "unable to open database file" (WAL needs the directory too).
        if os.statvfs(self.data_dir).f_flag & os.ST_RDONLY:
            raise StoreError(f"{self.description}: cannot open the database: the data directory "
                             f"{self.data_dir} is on a read-only file system")
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise StoreError(f"{self.description}: cannot open the database: the data directory "
                             f"{self.data_dir} is not writable")

    def _db_write(self, orders: Iterable[OrderRow], fills: Sequence[Fill]) -> None:
        conn = self._wconn
        assert conn is not None
        conn.execute("BEGIN")
        try:
            _insert_rows(conn, "orders", ORDER_COLUMNS, list(orders), _UPSERT_SUFFIX)
            if fills:
                _insert_rows(conn, "fills", FILL_COLUMNS, fills)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # SQLite may already have rolled back by itself (e.g. after SQLITE_FULL).
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def _db_load(self) -> LoadedState:
        conn = self._rconn
        assert conn is not None
        max_order_id, count = conn.execute(
            "SELECT coalesce(max(order_id), 0), count(*) FROM orders").fetchone()
        max_fill_id = conn.execute("SELECT coalesce(max(fill_id), 0) FROM fills").fetchone()[0]
        return rows_to_state(max_order_id, max_fill_id, count, conn.execute(_SELECT_OPEN))

    def _db_read_order(self, order_id: int) -> tuple[OrderRow, list[Fill]] | None:
        conn = self._rconn
        assert conn is not None
        row = conn.execute(_SELECT_ORDER, (order_id,)).fetchone()
        if row is None:
            return None
        fills = [Fill(*f) for f in conn.execute(_SELECT_FILLS, (order_id, order_id))]
        return OrderRow(*row), fills

    def _db_probe(self) -> None:
        conn = self._rconn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 1) "
                         "ON CONFLICT (key) DO UPDATE SET value = value + 1")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _db_close(self) -> None:
        for conn in (self._wconn, self._rconn):
            if conn is not None:
                conn.close()
        self._wconn = self._rconn = None

    def _describe(self, exc: BaseException) -> str:
        name = getattr(exc, "sqlite_errorname", "")
        hint = next((h for prefix, h in _HINTS.items() if name.startswith(prefix)), None)
        text = super()._describe(exc)
        return f"{hint} ({text})" if hint else text
