"""The gRPC matching engine against real clients on a loopback port (SQLite in tmp_path)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hftperf.reference_engine.engine import SERVICE_NAME, EngineConfig, EngineServer
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc

Scenario = Callable[[pb_grpc.MatchingEngineStub, EngineServer], Awaitable[None]]


def run_engine(data_dir: Path, scenario: Scenario, **config: Any) -> None:
    """Start an engine on a free port, run ``scenario`` with a stub, stop the engine."""
    async def main() -> None:
        async with (EngineServer(EngineConfig(port=0, data_dir=data_dir, **config)) as server,
                    grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel):
            await scenario(pb_grpc.MatchingEngineStub(channel), server)
    asyncio.run(main())


def order(symbol: str = "BTC-USD", side: int = pb.BUY, type_: int = pb.LIMIT, price: int = 100,
          qty: int = 1, tif: int = pb.TIME_IN_FORCE_UNSPECIFIED, cid: str = "") -> pb.OrderRequest:
    make: Any = pb.OrderRequest  # plain ints for enum fields, out-of-range ones included
    return make(symbol=symbol, side=side, type=type_, price_ticks=price, quantity=qty,
                           time_in_force=tif, client_order_id=cid)


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


def test_submit_match_get_cancel_book_health(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        ask = await stub.SubmitOrder(order(side=pb.SELL, price=101, qty=5, cid="a1"))
        assert ask.order.status == pb.NEW and ask.order.client_order_id == "a1"
        assert ask.order.time_in_force == pb.GTC and ask.timing.engine_us >= ask.timing.store_us > 0
        bid = await stub.SubmitOrder(order(side=pb.BUY, price=99, qty=2))
        take = await stub.SubmitOrder(order(side=pb.BUY, type_=pb.MARKET, price=0, qty=3))
        assert take.order.status == pb.FILLED and take.order.time_in_force == pb.IOC
        assert [(f.maker_order_id, f.taker_order_id, f.price_ticks, f.quantity)
                for f in take.fills] == [(ask.order.order_id, take.order.order_id, 101, 3)]

        got = await stub.GetOrder(pb.GetOrderRequest(order_id=ask.order.order_id))
        assert got.order.status == pb.PARTIALLY_FILLED and got.order.remaining_quantity == 2
        assert [f.fill_id for f in got.fills] == [take.fills[0].fill_id]

        book = await stub.GetBook(pb.GetBookRequest(symbol="BTC-USD"))
        assert [(lv.price_ticks, lv.quantity, lv.order_count) for lv in book.bids] == [(99, 2, 1)]
        assert [(lv.price_ticks, lv.quantity) for lv in book.asks] == [(101, 2)]

        cancel = await stub.CancelOrder(pb.CancelOrderRequest(order_id=bid.order.order_id))
        assert cancel.cancelled and cancel.order.status == pb.CANCELLED
        assert cancel.order.remaining_quantity == 0 and cancel.timing.store_us > 0
        again = await stub.CancelOrder(pb.CancelOrderRequest(order_id=bid.order.order_id))
        assert not again.cancelled and again.order.status == pb.CANCELLED
        filled = await stub.CancelOrder(pb.CancelOrderRequest(order_id=take.order.order_id))
        assert not filled.cancelled and filled.order.status == pb.FILLED
        assert not (await stub.GetBook(pb.GetBookRequest(symbol="BTC-USD"))).bids

        health = await stub.Health(pb.HealthRequest())
        assert health.ok and health.orders_total == 3 and "SOL-USD" in health.symbols
    run_engine(tmp_path, scenario)


@pytest.mark.parametrize(("request_", "field"), [
    (order(symbol="DOGE-USD"), "symbol"),
    (order(side=pb.SIDE_UNSPECIFIED), "side"),
    (order(type_=pb.ORDER_TYPE_UNSPECIFIED), "type"),
    (order(qty=0), "quantity"),
    (order(qty=-5), "quantity"),
    (order(qty=10**12 + 1), "quantity"),
    (order(price=10**15 + 1), "price_ticks"),
    (order(price=0), "price_ticks"),
    (order(price=-1), "price_ticks"),
    (order(tif=7), "time_in_force"),
    (order(cid="x" * 65), "client_order_id"),
])
def test_invalid_orders_name_the_field(tmp_path: Path, request_: pb.OrderRequest,
                                       field: str) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        err = await rpc_error(stub.SubmitOrder(request_))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith(f"{field}:")
    run_engine(tmp_path, scenario)


def test_unknown_ids_and_symbols_are_not_found(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        for call in (stub.GetOrder(pb.GetOrderRequest(order_id=42)),
                     stub.CancelOrder(pb.CancelOrderRequest(order_id=42))):
            err = await rpc_error(call)
            assert err.code() == grpc.StatusCode.NOT_FOUND and "order_id" in (err.details() or "")
        err = await rpc_error(stub.GetBook(pb.GetBookRequest(symbol="NOPE")))
        assert err.code() == grpc.StatusCode.NOT_FOUND and "symbol" in (err.details() or "")
        # a market order ignores its price
        ok = await stub.SubmitOrder(order(type_=pb.MARKET, price=-3, qty=1))
        assert ok.order.status == pb.CANCELLED and ok.order.price_ticks == 0
    run_engine(tmp_path, scenario)


def test_streaming_submissions_answer_in_order(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        requests = [order(symbol="ETH-USD", side=pb.SELL if i % 2 else pb.BUY,
                          price=100 + i % 3, qty=1 + i % 4, cid=f"s{i}") for i in range(300)]
        requests[150] = order(qty=0, cid="bad")
        call = stub.SubmitOrders(iter(requests))
        replies = [reply async for reply in call]
        assert [r.order.client_order_id for r in replies] == [r.client_order_id for r in requests]
        assert replies[150].order.status == pb.REJECTED
        assert replies[150].order.reject_reason.startswith("quantity:")
        ids = [r.order.order_id for i, r in enumerate(replies) if i != 150]
        assert ids == sorted(ids) and len(set(ids)) == 299
        assert server.store is not None and server.store.batches_committed < 299  # grouped
        got = await stub.GetOrder(pb.GetOrderRequest(order_id=ids[-1]))
        assert got.order.client_order_id == "s299"
        assert all(r.timing.engine_us >= r.timing.store_us for r in replies)
    run_engine(tmp_path, scenario, stream_window=8)  # small window: backpressure path


def test_order_batch_matches_in_order_with_one_commit(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        store = server.store
        assert store is not None
        requests = [order(side=pb.SELL, price=101, qty=5, cid="ask"),
                    order(qty=0, cid="bad"),
                    order(side=pb.BUY, price=101, qty=3, cid="take"),
                    order(symbol="DOGE-USD", cid="nosym"),
                    order(side=pb.BUY, type_=pb.MARKET, price=0, qty=4, cid="mkt")]
        before = store.batches_committed
        reply = await stub.SubmitOrderBatch(pb.OrderBatch(orders=requests))
        assert store.batches_committed == before + 1  # the whole batch: one durable write
        assert [r.order.client_order_id for r in reply.results] == ["ask", "bad", "take", "nosym", "mkt"]
        invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert list(reply.codes) == [0, invalid, 0, invalid, 0]
        ask, bad, take, nosym, mkt = reply.results
        assert bad.order.status == pb.REJECTED and bad.order.reject_reason.startswith("quantity:")
        assert nosym.order.reject_reason.startswith("symbol:")
        assert take.order.status == pb.FILLED
        assert [(f.maker_order_id, f.price_ticks, f.quantity) for f in take.fills] == [
            (ask.order.order_id, 101, 3)]
        assert mkt.order.status == pb.CANCELLED and mkt.order.filled_quantity == 2  # IOC remainder
        # Each result is the order as its own submission left it (later fills come later).
        assert ask.order.status == pb.NEW and ask.order.filled_quantity == 0
        assert ask.order.order_id < take.order.order_id < mkt.order.order_id
        assert reply.timing.engine_us >= reply.timing.store_us > 0
        # Durable, and the same as the unary path would report.
        got = await stub.GetOrder(pb.GetOrderRequest(order_id=ask.order.order_id))
        assert got.order.status == pb.FILLED and len(got.fills) == 2
        assert (await stub.Health(pb.HealthRequest())).orders_total == 3
        empty = await stub.SubmitOrderBatch(pb.OrderBatch())
        assert not empty.results and not empty.codes
    run_engine(tmp_path, scenario)


def test_order_batch_after_store_failure_is_unavailable(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        big = "x" * 64
        acked: list[int] = []
        err: grpc.aio.AioRpcError | None = None
        for i in range(300):  # fill the (tiny) database until a batch commit fails
            batch = pb.OrderBatch(orders=[order(price=10 + (i * 10 + j) % 50, cid=big) for j in range(10)])
            try:
                reply = await stub.SubmitOrderBatch(batch)
            except grpc.aio.AioRpcError as exc:
                err = exc
                break
            acked += [r.order.order_id for r in reply.results]
        assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
        again = await rpc_error(stub.SubmitOrderBatch(pb.OrderBatch(orders=[order(price=1)])))
        assert again.code() == grpc.StatusCode.UNAVAILABLE
        store = server.store
        assert store is not None
        for conn in (store._wconn, store._rconn):  # type: ignore[attr-defined]  # "free space"
            conn.execute("PRAGMA max_page_count = 1000000")
        deadline = time.monotonic() + 10
        while not (await stub.Health(pb.HealthRequest())).ok:
            assert time.monotonic() < deadline, "engine did not recover"
            await asyncio.sleep(0.05)
        book = await stub.GetBook(pb.GetBookRequest(symbol="BTC-USD", depth=1000))
        assert sum(lv.quantity for lv in book.bids) == len(acked) > 0  # none of the failed batch
    run_engine(tmp_path, scenario, recovery_interval_s=0.05,
               store_options={"pragmas": ["max_page_count = 60"]})


def test_acknowledgements_never_run_ahead_of_their_write(tmp_path: Path) -> None:
    # A resting order acknowledged while a later order has already filled it in memory (but
    # not yet on disk) must be reported as its own write left it: an ack never claims more
    # than the database holds (a kill -9 would otherwise lose an acknowledged fill).
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        requests = []
        for i in range(200):
            requests.append(order(side=pb.SELL, price=100, qty=2, cid=f"m{i}"))
            requests.append(order(side=pb.BUY, price=100, qty=2, cid=f"t{i}"))
        replies = [reply async for reply in stub.SubmitOrders(iter(requests))]
        makers = [r.order for r in replies if r.order.client_order_id.startswith("m")]
        assert all(m.status == pb.NEW and m.filled_quantity == 0 for m in makers)
        takers = [r.order for r in replies if r.order.client_order_id.startswith("t")]
        assert all(t.status == pb.FILLED for t in takers)
    run_engine(tmp_path, scenario)


def test_stream_cancelled_by_client_leaves_engine_healthy(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        call = stub.SubmitOrders()
        for i in range(50):
            await call.write(order(price=50 + i % 5, cid=f"c{i}"))
        first = await call.read()
        assert first.order.client_order_id == "c0"
        call.cancel()
        await asyncio.sleep(0.1)
        assert (await stub.Health(pb.HealthRequest())).ok
        reply = await stub.SubmitOrder(order(price=1))
        assert reply.order.status == pb.NEW and reply.order.order_id > 1
    run_engine(tmp_path, scenario, stream_window=4)


def test_grpc_health_service(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE_NAME):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    run_engine(tmp_path, scenario)


async def _snapshot(stub: pb_grpc.MatchingEngineStub, max_id: int) -> tuple[list[bytes], list[bytes]]:
    books = [(await stub.GetBook(pb.GetBookRequest(symbol=s, depth=1000))).SerializeToString()
             for s in ("BTC-USD", "ETH-USD", "SOL-USD")]
    orders = [(await stub.GetOrder(pb.GetOrderRequest(order_id=i))).SerializeToString()
              for i in range(1, max_id + 1)]
    return books, orders


def test_restart_rebuilds_books_and_orders(tmp_path: Path) -> None:
    before: dict[str, Any] = {}

    async def trade(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        rng = random.Random(3)
        live: list[int] = []
        for _ in range(250):
            r = rng.random()
            if r < 0.2 and live:
                await stub.CancelOrder(pb.CancelOrderRequest(order_id=live.pop(rng.randrange(len(live)))))
                continue
            req = order(symbol=rng.choice(("BTC-USD", "ETH-USD", "SOL-USD")),
                        side=rng.choice((pb.BUY, pb.SELL)),
                        type_=pb.MARKET if r < 0.35 else pb.LIMIT, price=rng.randint(95, 105),
                        qty=rng.randint(1, 10), cid=f"r{rng.randint(0, 99)}")
            reply = await stub.SubmitOrder(req)
            live.append(reply.order.order_id)
            before["max_id"] = reply.order.order_id
        before["snapshot"] = await _snapshot(stub, before["max_id"])
        before["orders_total"] = (await stub.Health(pb.HealthRequest())).orders_total

    async def check(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        books, orders = await _snapshot(stub, before["max_id"])
        old_books, old_orders = before["snapshot"]
        strip = [pb.BookSnapshot.FromString(b) for b in books]
        old = [pb.BookSnapshot.FromString(b) for b in old_books]
        assert [(s.bids, s.asks) for s in strip] == [(s.bids, s.asks) for s in old]
        assert orders == old_orders
        assert (await stub.Health(pb.HealthRequest())).orders_total == before["orders_total"]
        fresh = await stub.SubmitOrder(order(price=1))
        assert fresh.order.order_id == before["max_id"] + 1  # ids continue, never reused

    run_engine(tmp_path, trade)
    run_engine(tmp_path, check)


def test_store_failure_is_unavailable_then_recovers(tmp_path: Path) -> None:
    async def scenario(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        resting = await stub.SubmitOrder(order(side=pb.SELL, price=200, qty=3))
        big = "x" * 64
        err: grpc.aio.AioRpcError | None = None
        acked = 0
        for i in range(3000):  # fill the (tiny) database until a commit fails
            try:
                await stub.SubmitOrder(order(price=10 + i % 50, qty=1, cid=big))
            except grpc.aio.AioRpcError as exc:
                err = exc
                break
            acked += 1
        assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
        assert "full" in (err.details() or "")
        again = await rpc_error(stub.SubmitOrder(order(price=1)))
        assert again.code() == grpc.StatusCode.UNAVAILABLE
        assert not (await stub.Health(pb.HealthRequest())).ok
        store = server.store
        assert store is not None
        for conn in (store._wconn, store._rconn):  # type: ignore[attr-defined]  # "free space"
            conn.execute("PRAGMA max_page_count = 1000000")
        deadline = time.monotonic() + 10
        while not (await stub.Health(pb.HealthRequest())).ok:
            assert time.monotonic() < deadline, "engine did not recover"
            await asyncio.sleep(0.05)
        book = await stub.GetBook(pb.GetBookRequest(symbol="BTC-USD", depth=1000))
        assert book.asks[0].price_ticks == 200 and book.asks[0].quantity == 3
        # Rebuilt from the database: exactly the acknowledged bids, not the failed one.
        assert sum(lv.quantity for lv in book.bids) == acked > 0
        ok = await stub.SubmitOrder(order(side=pb.BUY, price=200, qty=1))
        assert ok.fills[0].maker_order_id == resting.order.order_id
    run_engine(tmp_path, scenario, recovery_interval_s=0.05,
               store_options={"pragmas": ["max_page_count = 60"]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _engine_process(port: int, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hftperf.reference_engine.engine", "--host", "127.0.0.1",
         "--port", str(port), "--data-dir", str(data_dir), "--symbols", "AAA,BBB"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_process_entry_point_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    proc = _engine_process(port, tmp_path)
    try:
        async def use() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await asyncio.wait_for(channel.channel_ready(), 20)
                stub = pb_grpc.MatchingEngineStub(channel)
                reply = await stub.SubmitOrder(order(symbol="AAA", qty=4))
                assert reply.order.order_id == 1
                assert list((await stub.Health(pb.HealthRequest())).symbols) == ["AAA", "BBB"]
        asyncio.run(use())
        busy = _engine_process(port, tmp_path / "other")
        out, _ = busy.communicate(timeout=30)
        assert busy.returncode == 2 and "port" in out, out
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    async def check(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        got = await stub.GetOrder(pb.GetOrderRequest(order_id=1))
        assert got.order.symbol == "AAA" and got.order.status == pb.NEW
        book = await stub.GetBook(pb.GetBookRequest(symbol="AAA"))
        assert book.bids[0].quantity == 4
    run_engine(tmp_path, check, symbols=("AAA", "BBB"))


def test_kill_9_mid_load_keeps_every_acknowledged_order(tmp_path: Path) -> None:
    port = _free_port()
    proc = _engine_process(port, tmp_path)
    acked: dict[str, tuple[int, int]] = {}  # client_order_id -> (order_id, filled at ack)

    async def load() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 20)
            stub = pb_grpc.MatchingEngineStub(channel)

            async def unary(worker: int) -> None:
                rng = random.Random(worker)
                for i in range(100_000):
                    cid = f"u{worker}-{i}"
                    reply = await stub.SubmitOrder(order(
                        symbol=rng.choice(("AAA", "BBB")), side=rng.choice((pb.BUY, pb.SELL)),
                        price=rng.randint(95, 105), qty=rng.randint(1, 5), cid=cid))
                    acked[cid] = (reply.order.order_id, reply.order.filled_quantity)

            async def stream() -> None:
                requests = (order(symbol="AAA", side=pb.SELL if i % 2 else pb.BUY,
                                  price=100 + i % 7 - 3, qty=1 + i % 3, cid=f"s{i}")
                            for i in range(1_000_000))
                async for reply in stub.SubmitOrders(requests):
                    acked[reply.order.client_order_id] = (reply.order.order_id,
                                                          reply.order.filled_quantity)

            async def killer() -> None:
                while len(acked) < 1500:
                    await asyncio.sleep(0.01)
                proc.kill()  # SIGKILL: no flush, no goodbye

            results = await asyncio.gather(stream(), *(unary(w) for w in range(4)), killer(),
                                           return_exceptions=True)
            assert all(isinstance(r, grpc.aio.AioRpcError) for r in results[:5]), results

    try:
        asyncio.run(load())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    async def check(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        ids = [order_id for order_id, _ in acked.values()]
        assert len(set(ids)) == len(ids)  # no order id handed out twice
        for cid, (order_id, filled) in acked.items():
            got = (await stub.GetOrder(pb.GetOrderRequest(order_id=order_id))).order
            assert got.client_order_id == cid and got.filled_quantity >= filled
        health = await stub.Health(pb.HealthRequest())
        assert health.orders_total >= len(acked)
        for symbol in ("AAA", "BBB"):
            book = await stub.GetBook(pb.GetBookRequest(symbol=symbol))
            assert not book.bids or not book.asks or book.bids[0].price_ticks < book.asks[0].price_ticks
        fresh = await stub.SubmitOrder(order(symbol="AAA", price=1))
        assert fresh.order.order_id > max(ids)
    run_engine(tmp_path, check, symbols=("AAA", "BBB"))


@pytest.mark.skipif(not os.environ.get("HFTPERF_TEST_POSTGRES_DSN"),
                    reason="set HFTPERF_TEST_POSTGRES_DSN=postgresql://... to run PostgreSQL tests")
def test_postgres_store_survives_restart(tmp_path: Path) -> None:
    dsn = os.environ["HFTPERF_TEST_POSTGRES_DSN"]
    schema = f"hftperf_engine_{os.getpid()}_{int(time.time())}"
    options: dict[str, object] = {"schema": schema}
    ids: list[int] = []

    async def trade(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        ids.append((await stub.SubmitOrder(order(side=pb.SELL, price=105, qty=4))).order.order_id)
        replies = [r async for r in stub.SubmitOrders(iter([order(price=101 + i) for i in range(5)]))]
        ids.extend(r.order.order_id for r in replies)
        assert replies[-1].fills[0].maker_order_id == ids[0]

    async def check(stub: pb_grpc.MatchingEngineStub, server: EngineServer) -> None:
        book = await stub.GetBook(pb.GetBookRequest(symbol="BTC-USD"))
        assert [(lv.price_ticks, lv.quantity) for lv in book.asks] == [(105, 3)]
        assert [lv.price_ticks for lv in book.bids] == [104, 103, 102, 101]
        got = await stub.GetOrder(pb.GetOrderRequest(order_id=ids[0]))
        assert got.order.status == pb.PARTIALLY_FILLED and len(got.fills) == 1
        assert (await stub.SubmitOrder(order(price=1))).order.order_id == max(ids) + 1

    try:
        run_engine(tmp_path, trade, db_dsn=dsn, store_options=options)
        run_engine(tmp_path, check, db_dsn=dsn, store_options=options)
    finally:
        import psycopg
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
