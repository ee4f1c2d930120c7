"""Engine store: group commit, restart rebuild, failures (real SQLite files; PostgreSQL opt-in).

PostgreSQL cases run only when ``HFTPERF_TEST_POSTGRES_DSN`` names a database the tests may
create schemas in (each test uses and drops its own schema).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hftperf.reference_engine.book import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    Book,
    Fill,
    IdSequence,
    Order,
    OrderStatus,
)
from hftperf.reference_engine.store import OrderRow, Store, StoreError, open_store
from hftperf.reference_engine.store_sqlite import SqliteStore

PG_DSN = os.environ.get("HFTPERF_TEST_POSTGRES_DSN")
needs_postgres = pytest.mark.skipif(
    not PG_DSN, reason="set HFTPERF_TEST_POSTGRES_DSN=postgresql://... to run PostgreSQL tests")

StoreFactory = Callable[[], Store]


def _row(o: Order) -> OrderRow:
    return OrderRow(o.order_id, o.symbol, o.side, o.order_type, o.time_in_force,
                    o.price_ticks, o.quantity, o.filled, o.status, o.client_order_id)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_postgres)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of stores that all open the same database (so restarts can be tested)."""
    if request.param == "sqlite":
        yield lambda: open_store(tmp_path)
        return
    from hftperf.reference_engine.store_postgres import PostgresStore
    schema = f"hftperf_test_{uuid.uuid4().hex[:12]}"
    assert PG_DSN is not None
    yield lambda: PostgresStore(PG_DSN, schema=schema)
    import psycopg
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _row_of(order_id: int, status: int = 1, filled: int = 0) -> OrderRow:
    return OrderRow(order_id, "X", BUY, LIMIT, GTC, 100, 10, filled, status, f"c{order_id}")


def test_group_commit_batches_concurrent_writes(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        assert (await store.open()).next_order_id == 1
        futures = [store.write([_row_of(i)], [Fill(i, i, i + 1000, 100, 1)]) for i in range(1, 201)]
        await asyncio.gather(*futures)
        # All 200 requests arrived before the writer could take them: far fewer commits.
        assert store.requests_committed == 200 and store.batches_committed < 20
        for i in range(201, 211):  # one at a time: each request is its own batch
            await store.write([_row_of(i)])
        assert store.batches_committed >= 10
        found = await store.get_order(7)
        assert found is not None and found[0] == _row_of(7)
        assert found[1] == [Fill(7, 7, 1007, 100, 1)]
        assert await store.get_order(999) is None
        await store.close()
    asyncio.run(scenario())


def test_updates_in_one_batch_coalesce_and_commit_in_order(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        first = store.write([_row_of(1)])
        second = store.write([_row_of(1, OrderStatus.PARTIALLY_FILLED, 4)])
        third = store.write([_row_of(1, OrderStatus.CANCELLED, 4), _row_of(2)])
        await asyncio.gather(first, second, third)
        found = await store.get_order(1)
        assert found is not None and (found[0].status, found[0].filled) == (4, 4)
        await store.close()
        store = make_store()
        state = await store.open()
        assert (state.next_order_id, state.orders_total) == (3, 2)
        assert [r.order_id for r in state.resting["X"]] == [2]
        await store.close()
    asyncio.run(scenario())


def test_close_flushes_pending_writes(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        await store.open()
        pending = [store.write([_row_of(i)]) for i in range(1, 51)]
        await store.close()
        assert all(f.done() and f.exception() is None for f in pending)
        store = make_store()
        assert (await store.open()).orders_total == 50
        await store.close()
    asyncio.run(scenario())


def _trade(books: dict[str, Book], store: Store, rng: random.Random,
           live: list[int]) -> asyncio.Future[int]:
    """One random book command, its rows queued in the store."""
    book = books[rng.choice(sorted(books))]
    r = rng.random()
    if r < 0.25 and live:
        order = book.index.get(live.pop(rng.randrange(len(live))))
        if order is not None:
            books[order.symbol].cancel(order.order_id)
            return store.write([_row(order)])
    side = rng.choice((BUY, SELL))
    if r < 0.4:
        ex = book.submit(side, MARKET, 0, rng.randint(1, 30), IOC)
    else:
        ex = book.submit(side, LIMIT, rng.randint(95, 105), rng.randint(1, 20),
                         rng.choice((GTC, GTC, IOC)), f"cl-{rng.randint(0, 999)}")
        live.append(ex.order.order_id)
    return store.write([_row(ex.order), *map(_row, ex.makers)], ex.fills)


def test_restart_rebuilds_books_exactly(make_store: StoreFactory) -> None:
    async def scenario() -> None:
        store = make_store()
        state = await store.open()
        ids, index = IdSequence(state.next_order_id, state.next_fill_id), dict[int, Order]()
        books = {s: Book(s, ids, index) for s in ("A", "B")}
        rng, live = random.Random(7), list[int]()
        futures = []
        for step in range(600):
            futures.append(_trade(books, store, rng, live))
            if step % 50 == 0:
                await asyncio.sleep(0)
        await asyncio.gather(*futures)
        await store.close()

        store = make_store()
        state = await store.open()
        assert (state.next_order_id, state.next_fill_id) == (ids.next_order_id, ids.next_fill_id)
        fresh_ids = IdSequence(state.next_order_id, state.next_fill_id)
        fresh_index: dict[int, Order] = {}
        for symbol, book in books.items():
            fresh = Book(symbol, fresh_ids, fresh_index)
            fresh.restore(state.resting.get(symbol, []))
            fresh.check_invariants()
            assert fresh.depth(1000)[:2] == book.depth(1000)[:2]
            assert [(o.order_id, o.remaining, o.filled, o.client_order_id)
                    for o in fresh.resting_orders()] == [
                (o.order_id, o.remaining, o.filled, o.client_order_id)
                for o in book.resting_orders()]
        # Every order, finished ones included, is readable with its fills.
        some_fill = next(o for o in range(1, ids.next_order_id) if o not in index)
        found = await store.get_order(some_fill)
        assert found is not None
        row, fills = found
        assert sum(f.quantity for f in fills) == row.filled
        await store.close()
    asyncio.run(scenario())


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    with pytest.raises(StoreError, match=r"not-a-dir.*not a directory"):
        asyncio.run(SqliteStore(target).open())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_directory_is_a_clear_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match=r"cannot open|read-only"):
            asyncio.run(SqliteStore(ro).open())
    finally:
        ro.chmod(0o755)


def test_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the database: the database is read-only"):
        asyncio.run(SqliteStore(tmp_path, pragmas=["query_only = ON"]).open())

    async def scenario() -> None:
        store = SqliteStore(tmp_path)
        await store.open()
        assert store._wconn is not None
        store._wconn.execute("PRAGMA query_only = ON")  # becomes read-only while running
        with pytest.raises(StoreError, match="cannot write: the database is read-only"):
            await store.write([_row_of(1)])
        await store.close()
    asyncio.run(scenario())


def test_disk_full_poisons_store_until_recovered(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path, pragmas=["max_page_count = 40"])  # ~160 KB database
        await store.open()
        await store.write([_row_of(1)])
        big = [OrderRow(i, "X", BUY, LIMIT, GTC, 100, 10, 0, 1, "x" * 60) for i in range(2, 5000)]
        with pytest.raises(StoreError, match="full"):
            await store.write(big)
        assert store.failed is not None
        with pytest.raises(StoreError, match="full"):  # later writes fail too, even small ones
            await store.write([_row_of(6000)])
        await store.close()
    asyncio.run(scenario())


def test_recover_after_space_is_freed(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SqliteStore(tmp_path, pragmas=["max_page_count = 40"])
        await store.open()
        await store.write([_row_of(1)])
        big = [OrderRow(i, "X", BUY, LIMIT, GTC, 100, 10, 0, 1, "x" * 60) for i in range(2, 5000)]
        with pytest.raises(StoreError):
            await store.write(big)
        for conn in (store._wconn, store._rconn):  # "free disk space"
            assert conn is not None
            conn.execute("PRAGMA max_page_count = 1000000")
        state = await store.recover()
        assert store.failed is None and state.orders_total == 1 and state.next_order_id == 2
        await store.write([_row_of(2)])
        await store.close()
    asyncio.run(scenario())


def test_unsupported_dsn_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="postgresql://"):
        open_store(tmp_path, "mysql://x")


@needs_postgres
def test_postgres_bad_password_is_a_clear_error() -> None:
    from hftperf.reference_engine.store_postgres import PostgresStore
    assert PG_DSN is not None
    bad = PG_DSN.replace("://", "://nosuchuser:wrong@", 1) if "@" not in PG_DSN else (
        PG_DSN.split("://", 1)[0] + "://nosuchuser:wrong@" + PG_DSN.split("@", 1)[1])
    with pytest.raises(StoreError, match=r"PostgreSQL.*cannot open") as info:
        asyncio.run(PostgresStore(bad, connect_timeout_s=3).open())
    assert "wrong" not in str(info.value)
