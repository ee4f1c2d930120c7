"""PostgreSQL backend of the engine store: psycopg 3 with a ``psycopg_pool`` connection pool.

The writer thread takes a pooled connection per group-commit batch (``executemany`` runs in
pipeline mode, so a batch costs about one round trip plus the commit); the reader thread
takes another for GetOrder lookups, start-up load and recovery probes. Connections are
checked when taken from the pool, so a restarted server is reconnected transparently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from hftperf.redact import redact_text
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

__all__ = ["PostgresStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id BIGINT PRIMARY KEY,
    symbol TEXT NOT NULL,
    side SMALLINT NOT NULL,
    order_type SMALLINT NOT NULL,
    time_in_force SMALLINT NOT NULL,
    price_ticks BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    filled BIGINT NOT NULL,
    status SMALLINT NOT NULL,
    client_order_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_open ON orders(order_id) WHERE status IN (1, 2);
CREATE TABLE IF NOT EXISTS fills (
    fill_id BIGINT PRIMARY KEY,
    maker_order_id BIGINT NOT NULL,
    taker_order_id BIGINT NOT NULL,
    price_ticks BIGINT NOT NULL,
    quantity BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_maker ON fills(maker_order_id);
CREATE INDEX IF NOT EXISTS fills_taker ON fills(taker_order_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
"""
_UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(ORDER_COLUMNS))}) "
    "ON CONFLICT (order_id) DO UPDATE SET filled = EXCLUDED.filled, status = EXCLUDED.status"
)
_INSERT_FILL = f"INSERT INTO fills ({', '.join(FILL_COLUMNS)}) VALUES (%s, %s, %s, %s, %s)"
_SELECT_ORDER = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE order_id = %s"
_SELECT_FILLS = (
    f"SELECT {', '.join(FILL_COLUMNS)} FROM fills WHERE maker_order_id = %s "
    f"UNION ALL SELECT {', '.join(FILL_COLUMNS)} FROM fills WHERE taker_order_id = %s "
    "ORDER BY fill_id"
)
_SELECT_OPEN = (
    "SELECT order_id, symbol, side, price_ticks, quantity, filled, client_order_id "
    "FROM orders WHERE status IN (1, 2) ORDER BY order_id"
)
class PostgresStore(Store):
    """Group-committing store in a PostgreSQL database given by a ``postgresql://`` DSN."""

    def __init__(self, dsn: str, *, schema: str | None = None, pool_size: int = 4,
                 connect_timeout_s: float = 10.0) -> None:
        """``schema`` (optional) is created if needed and used as the search path."""
        super().__init__()
        if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
            raise ValueError(f"schema must be a plain identifier, not {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self.description = f"PostgreSQL {redact_text(dsn)}"
        self._pool_size = max(2, pool_size)
        self._connect_timeout_s = connect_timeout_s
        self._pool: Any = None

    def _db_open(self) -> None:
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise StoreError("PostgreSQL support needs: pip install 'hftperf[postgres]'") from exc
        kwargs: dict[str, Any] = {"connect_timeout": max(1, int(self._connect_timeout_s))}
        # One direct connection first: a bad DSN, password or schema fails with the server's
        # own message instead of the pool's generic timeout.
        with psycopg.connect(self.dsn, autocommit=True, **kwargs) as conn:
            if self.schema is not None:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET search_path TO "{self.schema}"')
            conn.execute(_SCHEMA)
        if self.schema is not None:
            kwargs["options"] = f"-c search_path={self.schema}"
        self._pool = ConnectionPool(
            self.dsn, min_size=2, max_size=self._pool_size, kwargs=kwargs, open=False,
            check=ConnectionPool.check_connection, timeout=self._connect_timeout_s,
            name="hftperf-engine")
        try:
            self._pool.open(wait=True, timeout=self._connect_timeout_s)
        except BaseException:
            self._pool.close()
            self._pool = None
            raise

    def _db_write(self, orders: Iterable[OrderRow], fills: Sequence[Fill]) -> None:
        # The pool's context manager commits on success and rolls back on an exception.
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(_UPSERT_ORDER, list(orders))
            if fills:
                cur.executemany(_INSERT_FILL, fills)

    def _db_load(self) -> LoadedState:
        with self._pool.connection() as conn:
            max_order_id, count = conn.execute(
                "SELECT coalesce(max(order_id), 0), count(*) FROM orders").fetchone()
            max_fill_id = conn.execute("SELECT coalesce(max(fill_id), 0) FROM fills").fetchone()[0]
            rows = conn.execute(_SELECT_OPEN).fetchall()
        return rows_to_state(int(max_order_id), int(max_fill_id), int(count), rows)

    def _db_read_order(self, order_id: int) -> tuple[OrderRow, list[Fill]] | None:
        with self._pool.connection() as conn:
            row = conn.execute(_SELECT_ORDER, (order_id,)).fetchone()
            if row is None:
                return None
            fills = [Fill(*f) for f in conn.execute(_SELECT_FILLS, (order_id, order_id))]
        return OrderRow(*row), fills

    def _db_probe(self) -> None:
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 1) "
                         "ON CONFLICT (key) DO UPDATE SET value = meta.value + 1")

    def _db_close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _describe(self, exc: BaseException) -> str:
        text = redact_text(super()._describe(exc))
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate == "53100":
            return f"the database server's disk is full ({text})"
        if sqlstate == "25006":
            return f"the database is read-only ({text})"
        if type(exc).__name__ == "PoolTimeout":
            return f"cannot connect within {self._connect_timeout_s:g}s ({text})"
        return text
