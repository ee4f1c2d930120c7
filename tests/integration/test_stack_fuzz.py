"""Hypothesis against a real stack on loopback: hostile order bodies and malformed gRPC messages.

After every step: no 5xx, an answer that agrees with a reference model of what is valid, and
books that are not crossed (best bid < best ask). At the end both processes are alive and
healthy. The gateway is fuzzed through its hand-written fast path and through plain Starlette.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support.ledger import book_is_crossed, read_ledger
from support.servers import gateway_stack_config

from hftperf.reference_engine.backends import LocalStack
from hftperf.reference_engine.engine import MAX_PRICE_TICKS, MAX_QUANTITY, SERVICE_NAME
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow

SYMBOLS = ("FZ-1", "FZ-2")
FIELDS = ("symbol", "side", "type", "price", "quantity", "time_in_force", "client_order_id")
INT64_MAX = 2**63 - 1
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.fixture(scope="module", params=["fast-path", "starlette-only"])
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    """One stack per gateway mode, on free ports, in a temporary data dir."""
    root = tmp_path_factory.mktemp("fuzz")
    config = gateway_stack_config(root, f"fuzz-{request.param}", request.param, SYMBOLS)
    local = LocalStack(config)
    with local:
        yield local
        status = local.status()
        assert status.running, f"a process died or went unhealthy under fuzzing: {status}"
        assert read_ledger(local.data_dir).problems() == []
        for component in ("engine", "gateway"):  # hostile input is the client's error, never a server trace
            log = local.log_path(component).read_text(errors="replace")
            assert "Traceback" not in log, f"{component} log:\n{log[-3000:]}"


@pytest.fixture(scope="module")
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    """An HTTP client on the gateway."""
    with httpx.Client(base_url=stack.endpoints().gateway_url, timeout=10.0) as client:
        yield client


# -- order bodies ---------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def order_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid order (prices near each other, so books cross and match), then 0-3 mutations."""
    order: dict[str, Any] = {
        "symbol": draw(st.sampled_from(SYMBOLS)),
        "side": draw(st.sampled_from(["buy", "sell", "BUY", "Sell"])),
        "type": draw(st.sampled_from(["limit", "limit", "limit", "market"])),
        "quantity": draw(st.integers(1, 20)),
    }
    if order["type"] == "limit":
        order["price"] = draw(st.integers(95, 105))
    if draw(st.booleans()):
        order["time_in_force"] = draw(st.sampled_from(["gtc", "ioc", "GTC"]))
    if draw(st.booleans()):
        order["client_order_id"] = draw(st.text(max_size=70))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["drop", "junk", "edge", "extra"]))
        name = draw(st.sampled_from(FIELDS))
        if kind == "drop":
            order.pop(name, None)
        elif kind == "junk":
            order[name] = draw(json_values)
        elif kind == "edge":
            order[name] = draw(
                st.sampled_from([0, -1, 1, INT64_MAX, INT64_MAX + 1, 2**64, -(2**63), MAX_QUANTITY + 1, 1.0, ""])
            )
        else:
            order[draw(st.text(min_size=1, max_size=10))] = draw(json_values)
    return order


def valid(order: Any) -> bool:
    """Reference model: would the stack accept this order? (``POST /orders`` rules + engine bounds)."""
    if not isinstance(order, dict) or not set(order) <= set(FIELDS):
        return False

    def is_int(value: Any, low: int, high: int) -> bool:
        return type(value) is int and low <= value <= high

    def one_of(value: Any, choices: tuple[str, ...]) -> bool:
        return isinstance(value, str) and value.lower() in choices

    if order.get("symbol") not in SYMBOLS or not one_of(order.get("side"), ("buy", "sell")):
        return False
    if not one_of(order.get("type"), ("limit", "market")) or not is_int(order.get("quantity"), 1, MAX_QUANTITY):
        return False
    limit = order["type"].lower() == "limit"
    price = order.get("price")
    if (limit or price is not None) and not is_int(price, 1, MAX_PRICE_TICKS if limit else INT64_MAX):
        return False
    tif, client_id = order.get("time_in_force"), order.get("client_order_id")
    if tif is not None and not one_of(tif, ("gtc", "ioc")):
        return False
    return client_id is None or (isinstance(client_id, str) and len(client_id) <= 64)


def assert_books_uncrossed(http: httpx.Client) -> None:
    """Best bid < best ask in every book."""
    for symbol in SYMBOLS:
        r = http.get(f"/book/{symbol}", params={"depth": 1})
        assert r.status_code == 200, r.text
        assert not book_is_crossed(r.json()), f"{symbol} is crossed: {r.json()}"


def post(http: httpx.Client, body: bytes) -> httpx.Response:
    """POST raw bytes as JSON; the answer is never a 5xx and always a JSON object."""
    r = http.post("/orders", content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, f"{r.status_code} for {body[:300]!r}: {r.text}"
    answer = r.json()
    assert isinstance(answer, dict)
    if r.status_code >= 400:
        assert answer["error"] and answer["message"], answer
    return r


@FUZZ
@given(order=order_bodies())
def test_fuzzed_orders_are_answered_as_the_model_says(http: httpx.Client, order: dict[str, Any]) -> None:
    r = post(http, json.dumps(order).encode())
    event(f"status {r.status_code}")  # --hypothesis-show-statistics: the mix must include 201s
    expected = 201 if valid(order) else (400, 413, 422)
    assert r.status_code == expected if expected == 201 else r.status_code in expected, (order, r.text)
    if r.status_code == 201:
        assert r.json()["symbol"] == order["symbol"] and r.json()["quantity"] == order["quantity"]
    assert_books_uncrossed(http)


RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([
        b'{"symbol":"FZ-1","side":"buy","type":"limit","price":NaN,"quantity":1}',
        b'{"symbol":"FZ-1","side":"buy","type":"limit","price":Infinity,"quantity":1}',
        b'{"symbol":"FZ-1","side":"buy","type":"limit","price":100,"quantity":1,"client_order_id":"\\ud800"}',
        b'{"symbol":"\\udfff","side":"buy","type":"limit","price":100,"quantity":1}',
        b'{"symbol":"FZ-1","symbol":"FZ-2","side":"buy","type":"limit","price":100,"quantity":1}',
        b'{"symbol":"FZ-1","side":"buy","type":"limit","price":100,"quantity":1e2}',
        b'{"symbol":"FZ-1","side":"buy","type":"limit","price":100,"quantity":' + b"9" * 4400 + b"}",
        b'{"symbol":"FZ-1","x":' + b"[" * 100_000 + b"}",
        b"\xef\xbb\xbf{}",
        b'{"symbol":"FZ-1"}\x00',
    ]),
)  # fmt: skip


@FUZZ
@given(body=RAW_BODIES)
def test_fuzzed_raw_bodies_never_500(http: httpx.Client, body: bytes) -> None:
    r = post(http, body)
    if r.status_code == 201:  # random bytes can only be accepted if they are a valid order
        assert valid(json.loads(body)), body
    assert_books_uncrossed(http)


paths = st.one_of(
    st.text(max_size=30).filter(lambda p: p not in (".", "..")),
    st.sampled_from([str(2**63 - 1), str(2**63), str(2**64 - 1), str(2**64), "0", "-1", "1e3", "FZ-1", "FZ-2"]),
)


@FUZZ
@given(method=st.sampled_from(["GET", "DELETE"]), kind=st.sampled_from(["orders", "book"]), segment=paths,
       depth=st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5000).map(str)))  # fmt: skip
def test_fuzzed_lookups_never_500(http: httpx.Client, method: str, kind: str, segment: str, depth: str | None) -> None:
    params = {"depth": depth} if depth is not None else {}
    r = http.request(method, f"/{kind}/{quote(segment, safe='')}", params=params)  # the server decodes it
    assert r.status_code < 500, f"{method} /{kind}/{segment!r}: {r.status_code} {r.text}"


# -- gRPC ---------------------------------------------------------------------------------------

METHODS = ("SubmitOrder", "SubmitOrderBatch", "CancelOrder", "GetOrder", "GetBook", "Health")
# What a malformed or hostile call may end with: never UNKNOWN or INTERNAL (a server bug).
ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}

int64s = st.one_of(st.integers(-5, 200), st.sampled_from([0, -1, INT64_MAX, -(2**63), MAX_QUANTITY + 1]))
enum_ints = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(0, 3))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` three times in four: enough valid orders reach the book to cross and match."""
    return st.one_of(good, good, good, bad)


order_requests = st.builds(
    lambda symbol, side, type_, price, qty, tif, cid: pb.OrderRequest(
        symbol=symbol, side=side, type=type_, price_ticks=price, quantity=qty, time_in_force=tif, client_order_id=cid
    ),
    mostly(st.sampled_from(SYMBOLS), st.text(max_size=10)),
    mostly(st.sampled_from([pb.BUY, pb.SELL]), enum_ints),
    mostly(st.just(pb.LIMIT), enum_ints),
    mostly(st.integers(95, 105), int64s),
    mostly(st.integers(1, 20), int64s),
    mostly(st.sampled_from([0, pb.GTC, pb.IOC]), enum_ints),
    st.text(max_size=80),
)
uint64s = mostly(st.integers(1, 300), st.sampled_from([0, 2**63 - 1, 2**63, 2**64 - 1]))
messages = st.one_of(
    st.tuples(st.just("SubmitOrder"), order_requests.map(lambda m: m.SerializeToString())),
    st.tuples(st.just("SubmitOrderBatch"), st.lists(order_requests, max_size=8).map(
        lambda orders: pb.OrderBatch(orders=orders).SerializeToString())),
    st.tuples(st.just("CancelOrder"), uint64s.map(lambda i: pb.CancelOrderRequest(order_id=i).SerializeToString())),
    st.tuples(st.just("GetOrder"), uint64s.map(lambda i: pb.GetOrderRequest(order_id=i).SerializeToString())),
    st.tuples(st.just("GetBook"), st.builds(lambda s, d: pb.GetBookRequest(symbol=s, depth=d).SerializeToString(),
                                            mostly(st.sampled_from(SYMBOLS), st.text(max_size=10)),
                                            mostly(st.integers(0, 50), st.integers(0, 2**32 - 1)))),
    st.tuples(st.sampled_from(METHODS), st.binary(max_size=200)),  # malformed: random bytes
    st.tuples(st.sampled_from(METHODS), st.sampled_from([b"\x00", b"\xff" * 11, b"\x0a\x02\xff\xfe", b"\x08"])),
)  # fmt: skip


async def call_raw(channel: grpc.aio.Channel, method: str, payload: bytes) -> tuple[grpc.StatusCode, str]:
    """Send ``payload`` as the request bytes of ``method``; the status code and details."""
    call = channel.unary_unary(f"/{SERVICE_NAME}/{method}")  # no serializers: bytes in, bytes out
    try:
        await call(payload, timeout=10.0)
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def books_crossed(channel: grpc.aio.Channel) -> list[str]:
    """The symbols whose book is crossed."""
    stub = pb_grpc.MatchingEngineStub(channel)
    crossed = []
    for symbol in SYMBOLS:
        book = await stub.GetBook(pb.GetBookRequest(symbol=symbol, depth=1), timeout=10.0)
        if book.bids and book.asks and book.bids[0].price_ticks >= book.asks[0].price_ticks:
            crossed.append(symbol)
    return crossed


def test_fuzzed_grpc_messages_never_crash_the_engine(stack: LocalStack, tmp_path: Path) -> None:
    target = stack.endpoints().engine_target
    seen: list[tuple[str, grpc.StatusCode, str]] = []

    @FUZZ
    @given(message=messages)
    # the valid calls the coverage check below needs, whatever the draw (150 draws once held 3 GetBooks)
    @example(message=("GetBook", pb.GetBookRequest(symbol=SYMBOLS[0], depth=5).SerializeToString()))
    @example(message=("SubmitOrderBatch", pb.OrderBatch(orders=[pb.OrderRequest(
        symbol=SYMBOLS[0], side=pb.BUY, type=pb.LIMIT, price_ticks=95, quantity=1)]).SerializeToString()))
    def one(message: tuple[str, bytes]) -> None:
        method, payload = message

        async def main() -> tuple[grpc.StatusCode, str, list[str]]:
            async with grpc.aio.insecure_channel(target) as channel:
                code, details = await call_raw(channel, method, payload)
                return code, details, await books_crossed(channel)

        code, details, crossed = asyncio.run(main())
        seen.append((method, code, details))
        event(f"{method} {code.name}")
        assert code == grpc.StatusCode.OK or code in ALLOWED, (
            f"{method}({payload[:200]!r}) ended {code.name}: {details}"
        )
        assert not crossed, f"{crossed} crossed after {method}({payload[:200]!r})"

    one()
    outcomes = collections.Counter((m, c.name) for m, c, _ in seen)
    assert outcomes[("SubmitOrderBatch", "OK")] > 0 and outcomes[("GetBook", "OK")] > 0, outcomes


def test_order_stream_rejects_undecodable_messages_and_goes_on(stack: LocalStack) -> None:
    valid_order = pb.OrderRequest(symbol="FZ-2", side=pb.BUY, type=pb.LIMIT, price_ticks=90, quantity=1)
    frames = [b"\x00", valid_order.SerializeToString(), b"\xff\xff\xff", b"", b"\x0a\x04FZ-2", b"\x0a\x02\xff\xfe"]

    async def main() -> list[pb.SubmitOrderResponse]:
        async with grpc.aio.insecure_channel(stack.endpoints().engine_target) as channel:
            stream = channel.stream_stream(f"/{SERVICE_NAME}/SubmitOrders")  # bytes out, bytes back
            return [pb.SubmitOrderResponse.FromString(raw) async for raw in stream(iter(frames), timeout=10.0)]

    replies = asyncio.run(main())
    assert len(replies) == len(frames), "one answer per message, in order, and the stream ends cleanly"
    statuses = [r.order.status for r in replies]
    assert statuses[1] in (pb.NEW, pb.PARTIALLY_FILLED, pb.FILLED) and replies[1].order.order_id > 0
    for i in (0, 2, 5):  # not an OrderRequest at all (bad tag, truncated varint, invalid UTF-8)
        assert statuses[i] == pb.REJECTED and "not a valid OrderRequest" in replies[i].order.reject_reason
    for i in (3, 4):  # decodable but incomplete: refused by validation, naming the field
        assert statuses[i] == pb.REJECTED and replies[i].order.reject_reason.startswith(("symbol", "side"))
