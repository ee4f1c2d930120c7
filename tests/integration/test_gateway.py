"""The HTTP gateway through real HTTP, in front of a real engine (both real processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.servers import gateway_stack_config

from hftperf.reference_engine.backends import LocalStack

SYMBOLS = ("AAA", "BBB")


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_timing(response: httpx.Response) -> dict[str, float]:
    """Parse ``Server-Timing: gateway;dur=1.2, engine;dur=0.3, db;dur=0.1`` into name → ms."""
    metrics = {}
    for part in response.headers["server-timing"].split(","):
        name, _, params = part.strip().partition(";")
        key, _, value = params.partition("=")
        assert key == "dur", part
        metrics[name] = float(value)
    return metrics


@pytest.fixture(scope="module", params=["fast-path", "starlette-only"])
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """One engine + gateway per mode, on free ports, in a temporary data dir.

    Every test runs against the hand-written ASGI fast path for the hot routes and against
    plain FastAPI/Starlette, which must behave the same.
    """
    root = tmp_path_factory.mktemp("gateway")
    config = gateway_stack_config(root, f"gw-test-{request.param}", request.param, SYMBOLS)
    local = LocalStack(config)
    with local:
        yield local


@pytest.fixture()
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    """An HTTP client on the gateway."""
    with httpx.Client(base_url=stack.endpoints().gateway_url, timeout=5.0) as client:
        yield client


def order(**fields: object) -> dict[str, object]:
    """A valid limit order body with ``fields`` overriding the defaults."""
    body: dict[str, object] = {"symbol": "AAA", "side": "buy", "type": "limit", "price": 100, "quantity": 1}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def test_health_is_ok_and_timed(http: httpx.Client) -> None:
    r = http.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    timing = server_timing(r)
    assert set(timing) == {"gateway", "engine", "db"}
    assert timing["gateway"] >= 0.0


def test_submit_resting_limit_order(http: httpx.Client) -> None:
    r = http.post("/orders", json=order(price=150, quantity=7, client_order_id="c-rest"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert isinstance(body["order_id"], int) and body["order_id"] > 0
    assert body["status"] == "new"
    assert (body["filled_quantity"], body["remaining_quantity"]) == (0, 7)
    assert body["fills"] == []
    assert body["client_order_id"] == "c-rest"
    timing = server_timing(r)
    assert timing["db"] > 0.0, "the order must be persisted before the acknowledgement"
    assert timing["engine"] >= timing["db"]
    assert timing["gateway"] >= timing["engine"] * 0.9

    got = http.get(f"/orders/{body['order_id']}")
    assert got.status_code == 200
    assert got.json()["order_id"] == body["order_id"]
    assert got.json()["remaining_quantity"] == 7
    assert set(server_timing(got)) == {"gateway", "engine", "db"}


def test_crossing_orders_fill_at_the_resting_price(http: httpx.Client) -> None:
    sell = http.post("/orders", json=order(side="sell", price=5000, quantity=5)).json()
    r = http.post("/orders", json=order(side="buy", price=5001, quantity=3))
    assert r.status_code == 201, r.text
    buy = r.json()
    assert buy["status"] == "filled"
    assert [(f["price"], f["quantity"], f["maker_order_id"]) for f in buy["fills"]] == [(5000, 3, sell["order_id"])]
    maker = http.get(f"/orders/{sell['order_id']}").json()
    assert (maker["status"], maker["remaining_quantity"]) == ("partially_filled", 2)
    assert http.delete(f"/orders/{sell['order_id']}").json()["cancelled"] is True


def test_market_order_takes_liquidity_and_cancels_the_rest(http: httpx.Client) -> None:
    http.post("/orders", json=order(symbol="BBB", side="sell", price=300, quantity=4))
    r = http.post("/orders", json=order(symbol="BBB", type="market", price=None, quantity=10))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["filled_quantity"] == 4
    assert body["status"] == "cancelled"
    assert sum(f["quantity"] for f in body["fills"]) == 4


def test_ioc_limit_that_cannot_fill_is_cancelled(http: httpx.Client) -> None:
    r = http.post("/orders", json=order(price=101, quantity=2, time_in_force="ioc"))
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["filled_quantity"]) == ("cancelled", 0)


def test_cancel_then_cancel_again(http: httpx.Client) -> None:
    oid = http.post("/orders", json=order(price=120, quantity=3)).json()["order_id"]
    first = http.delete(f"/orders/{oid}")
    assert first.status_code == 200
    assert first.json()["cancelled"] is True
    assert first.json()["status"] == "cancelled"
    assert "db" in server_timing(first)
    second = http.delete(f"/orders/{oid}")
    assert second.status_code == 200
    assert second.json()["cancelled"] is False


def test_book_snapshot(http: httpx.Client) -> None:
    for price in (160, 161, 162):
        assert http.post("/orders", json=order(price=price, quantity=2)).status_code == 201
    assert http.post("/orders", json=order(side="sell", price=9000, quantity=2)).status_code == 201
    r = http.get("/book/AAA", params={"depth": 2})
    assert r.status_code == 200
    book = r.json()
    assert book["symbol"] == "AAA"
    assert [lv["price"] for lv in book["bids"]] == [162, 161]
    assert book["asks"][0]["price"] <= 9000
    assert all(lv["quantity"] > 0 and lv["order_count"] > 0 for lv in book["bids"] + book["asks"])
    assert set(server_timing(r)) == {"gateway", "engine", "db"}


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("GET", "/orders/999999999", 404, "order_id"),
        ("DELETE", "/orders/999999999", 404, "order_id"),
        ("GET", "/orders/abc", 422, "order_id"),
        ("GET", "/book/NOPE", 404, "symbol"),
        ("GET", "/book/AAA?depth=0", 422, "depth"),
        ("GET", "/book/AAA?depth=x", 422, "depth"),
    ],
)
def test_lookup_errors_name_the_field(http: httpx.Client, method: str, path: str, status: int, field: str) -> None:
    r = http.request(method, path)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert "gateway" in server_timing(r)


BAD_ORDERS: list[tuple[str, bytes, int, str]] = [
    ("malformed json", b'{"symbol": "AAA",', 400, "body"),
    ("not an object", b"[1, 2]", 400, "body"),
    ("null body", b"null", 400, "body"),
    ("empty body", b"", 400, "body"),
    ("not utf-8", b"\xff\xfe{", 400, "body"),
    ("deep nesting", b"[" * 60_000, 400, "body"),
    ("huge integer", b'{"symbol":"AAA","quantity":' + b"9" * 5000 + b"}", 400, "body"),
    ("unknown symbol", b'{"symbol":"ZZZ","side":"buy","type":"limit","price":1,"quantity":1}', 422, "symbol"),
    ("missing symbol", b'{"side":"buy","type":"limit","price":1,"quantity":1}', 422, "symbol"),
    ("zero quantity", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":0}', 422, "quantity"),
    ("negative quantity", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":-5}', 422, "quantity"),
    ("string quantity", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":"5"}', 422, "quantity"),
    ("huge quantity", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":1e400}', 422, "quantity"),
    ("missing quantity", b'{"symbol":"AAA","side":"buy","type":"limit","price":1}', 422, "quantity"),
    ("price off tick", b'{"symbol":"AAA","side":"buy","type":"limit","price":100.5,"quantity":1}', 422, "price"),
    ("price as float", b'{"symbol":"AAA","side":"buy","type":"limit","price":100.0,"quantity":1}', 422, "price"),
    ("missing price", b'{"symbol":"AAA","side":"buy","type":"limit","quantity":1}', 422, "price"),
    ("bool price", b'{"symbol":"AAA","side":"buy","type":"limit","price":true,"quantity":1}', 422, "price"),
    ("bad side", b'{"symbol":"AAA","side":"hold","type":"limit","price":1,"quantity":1}', 422, "side"),
    ("missing side", b'{"symbol":"AAA","type":"limit","price":1,"quantity":1}', 422, "side"),
    ("bad type", b'{"symbol":"AAA","side":"buy","type":"stop","price":1,"quantity":1}', 422, "type"),
    ("bad tif", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":1,"time_in_force":"day"}', 422,
     "time_in_force"),
    ("bad client id", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"quantity":1,"client_order_id":7}', 422,
     "client_order_id"),
    ("oversized", b'{"symbol":"AAA","pad":"' + b"x" * 70_000 + b'"}', 413, "body"),
    ("unknown field", b'{"symbol":"AAA","side":"buy","type":"limit","price":1,"qty":1,"quantity":1}', 422, "qty"),
    ("unknown field only", b'{"sym":"AAA"}', 422, "sym"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS])
def test_bad_orders_are_4xx_naming_the_field(
    http: httpx.Client, case: str, body: bytes, status: int, field: str
) -> None:
    r = http.post("/orders", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()
    assert error["field"] == field
    assert error["message"]
    if case.startswith("unknown field"):
        assert error["error"] == "unknown_field" and f"unknown field {field!r}" in error["message"]
    assert "gateway" in server_timing(r)


def test_concurrent_orders_are_batched_and_each_answered_alone(stack: LocalStack) -> None:
    # 40 orders at once go to the engine in few SubmitOrderBatch calls; each client still gets
    # its own order back, durable, timed, and the one the engine refuses names its field.
    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=stack.endpoints().gateway_url, timeout=5.0, limits=limits) as client:
            bodies = [order(symbol="BBB", side="sell" if i % 2 else "buy", price=500 + i % 3,
                            client_order_id=f"batch-{i}") for i in range(40)]
            bodies[17]["quantity"] = 10**13  # valid for the gateway, over the engine's bound
            return list(await asyncio.gather(*(client.post("/orders", json=b) for b in bodies)))

    replies = asyncio.run(main())
    refused = replies.pop(17)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "quantity" and refused.json()["error"] == "invalid_field"
    assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
    ids = [r.json()["order_id"] for r in replies]
    assert len(set(ids)) == 39
    assert [r.json()["client_order_id"] for r in replies] == [f"batch-{i}" for i in range(40) if i != 17]
    for r in replies:
        timing = server_timing(r)
        assert timing["gateway"] >= timing["engine"] >= timing["db"] > 0
    with httpx.Client(base_url=stack.endpoints().gateway_url, timeout=5.0) as http:
        for r in replies:
            got = http.get(f"/orders/{r.json()['order_id']}")
            assert got.status_code == 200 and got.json()["client_order_id"] == r.json()["client_order_id"]


def test_oversized_chunked_body_is_refused(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    r = http.post("/orders", content=chunks())
    assert r.status_code == 413
    assert r.json()["field"] == "body"


def test_unknown_route_and_method_are_json(http: httpx.Client) -> None:
    assert http.get("/nope").status_code == 404
    r = http.put("/health")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert "gateway" in server_timing(r)


def test_engine_down_gives_503_quickly_then_recovers(stack: LocalStack, http: httpx.Client) -> None:
    # Last in the module: it kills the engine and restarts it.
    os.kill(stack.pid("engine"), signal.SIGKILL)
    time.sleep(0.2)
    t0 = time.monotonic()
    r = http.post("/orders", json=order(price=110))
    assert r.status_code == 503, r.text
    assert time.monotonic() - t0 < 1.5
    assert r.json()["error"] == "engine_unavailable"
    deadline = time.monotonic() + 5.0
    while http.get("/health").status_code != 503:
        assert time.monotonic() < deadline, "health flag never went down"
        time.sleep(0.1)

    stack.restart("engine")
    deadline = time.monotonic() + 10.0
    while (r := http.post("/orders", json=order(price=111))).status_code != 201:
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, "gateway did not recover after the engine came back"
        time.sleep(0.1)
    deadline = time.monotonic() + 5.0
    while http.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "health flag never came back"
        time.sleep(0.1)
    assert Path(stack.log_path("gateway")).exists()
