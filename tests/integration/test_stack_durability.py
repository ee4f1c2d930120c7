"""kill -9 of the engine, the gateway or both under load: no acknowledged order is lost or duplicated.

Two loads run at once against a real stack (SQLite file in a tmp dir): client threads that
record every acknowledged (201) order id, and hftperf's own load generator. After the kill
and the restart the database itself is read and must hold every acknowledged order exactly
once, the books the engine rebuilt must equal the books the database's open orders make, and
the load generator's accounting must agree with the rows it left: acknowledged <= stored, and
stored - acknowledged (persisted, but the answer died with a process) is bounded by the
requests that can have been in flight at the kill.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any, Self

import httpx
import pytest
from support.ledger import Ledger, book_is_crossed, read_ledger
from support.servers import free_port

from hftperf.loadgen import LoadPlan, LoadResult, RequestSpec, run_load
from hftperf.loadgen.request import render_head
from hftperf.reference_engine.backends import LocalStack, StackConfig

pytestmark = pytest.mark.slow

SYMBOL = "DUR-1"
LOAD_THREADS = 3
LOADGEN_CONNECTIONS = 8


class OrderLoad:
    """A few threads submitting orders in a loop; records every acknowledged (201) reply."""

    def __init__(self, url: str, tag: str) -> None:
        self.url, self.tag = url, tag
        self.acked: dict[str, dict[str, Any]] = {}  # client_order_id -> 201 body
        self.failures = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(LOAD_THREADS)]

    def __enter__(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=self.url, timeout=3.0) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                buy = rng.random() < 0.5
                client_id = f"{self.tag}-{index}-{n}"
                body: dict[str, Any] = {
                    "symbol": SYMBOL,
                    "side": "buy" if buy else "sell",
                    "type": "limit",
                    "price": 1000 - rng.randint(-2, 8) if buy else 1000 + rng.randint(-2, 8),
                    "quantity": rng.randint(1, 9),
                    "client_order_id": client_id,
                }
                try:
                    r = client.post("/orders", json=body)
                except httpx.HTTPError:
                    r = None
                if r is not None and r.status_code == 201:
                    with self._lock:
                        self.acked[client_id] = {**r.json(), "request": body}
                else:
                    with self._lock:
                        self.failures += 1
                    time.sleep(0.02)

    def wait_for_acks(self, count: int, timeout_s: float = 20.0) -> None:
        """Block until at least ``count`` orders were acknowledged."""
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} orders acknowledged"
            time.sleep(0.05)


class RecordingOrders:
    """Request source for the load generator: order ``lg-<index>``; records each answer's status and id."""

    wants_response_body = True

    def __init__(self, spec: RequestSpec) -> None:
        self.spec = spec
        self.rng = random.Random(7)
        self.answers: dict[str, tuple[int, int | None]] = {}  # client id -> (status, order id)

    def create(self, spec: RequestSpec, worker_index: int, workers: int) -> RecordingOrders:
        """This object itself (one worker, in this process)."""
        return self

    def build(self, index: int) -> bytes:
        """The complete request for order number ``index``."""
        side = self.rng.choice(("buy", "sell"))
        body = (
            f'{{"symbol":"{SYMBOL}","side":"{side}","type":"limit","price":{self.rng.randint(995, 1005)},'
            f'"quantity":{self.rng.randint(1, 9)},"client_order_id":"lg-{index}"}}'
        ).encode()
        return render_head(self.spec, len(body)) + body

    def observe(self, index: int, status: int, body: bytes) -> None:
        """Remember what the gateway answered to order ``index``."""
        order_id = json.loads(body).get("order_id") if status == 201 else None
        assert f"lg-{index}" not in self.answers, f"two answers for lg-{index}"
        self.answers[f"lg-{index}"] = (status, order_id)


class LoadgenRun:
    """hftperf's load generator posting orders (``lg-<seq>`` client ids) in a thread."""

    def __init__(self, url: str, duration_s: float, rate_per_s: float) -> None:
        spec = RequestSpec(url=f"{url}/orders", method="POST", headers=(("Content-Type", "application/json"),))
        self.source = RecordingOrders(spec)
        spec = dataclasses.replace(spec, source=self.source)
        self.plan = LoadPlan(spec, connections=LOADGEN_CONNECTIONS, duration_s=duration_s, rate_per_s=rate_per_s,
                             warmup_s=0.0, timeout_s=3.0, workers=1)  # fmt: skip
        self.result: LoadResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.result = run_load(self.plan)
        except BaseException as exc:  # handed to the test thread
            self.error = exc

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(timeout=self.plan.duration_s + 30)

    def finished(self) -> LoadResult:
        """The run's result (fails the test if the load generator raised or hung)."""
        self._thread.join(timeout=self.plan.duration_s + 30)
        assert not self._thread.is_alive(), "the load generator outlived its deadline"
        assert self.error is None, f"the load generator failed: {self.error!r}"
        assert self.result is not None
        return self.result


@pytest.fixture()
def stack(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """A stack on free ports with its own SQLite data dir."""
    monkeypatch.setenv("HFTPERF_STATE_DIR", str(tmp_path / "state"))
    config = StackConfig(
        name="durability",
        gateway_port=free_port(),
        engine_port=free_port(),
        data_dir=tmp_path / "data",
        symbols=(SYMBOL,),
    )
    local = LocalStack(config)
    with local:
        yield local


def wait_ready(client: httpx.Client, timeout_s: float = 15.0) -> None:
    """Until the gateway says the engine is up."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "stack did not come back"
        time.sleep(0.1)


def book(client: httpx.Client) -> dict[str, Any]:
    """The engine's whole book, levels only (the sequence number restarts with the engine)."""
    r = client.get(f"/book/{SYMBOL}", params={"depth": 1000})
    assert r.status_code == 200, r.text
    snapshot = r.json()
    return {"bids": snapshot["bids"], "asks": snapshot["asks"]}


def check_acked_via_api(client: httpx.Client, acked: dict[str, dict[str, Any]]) -> None:
    """Every acknowledged order is served by the engine with what was acknowledged."""
    ids = [a["order_id"] for a in acked.values()]
    assert len(ids) == len(set(ids)), "two acknowledgements share an order id"
    for client_id, ack in acked.items():
        r = client.get(f"/orders/{ack['order_id']}")
        assert r.status_code == 200, f"acknowledged order {ack['order_id']} lost: {r.text}"
        got = r.json()
        sent = ack["request"]
        assert got["client_order_id"] == client_id
        assert (got["symbol"], got["side"], got["price"], got["quantity"]) == (
            sent["symbol"], sent["side"], sent["price"], sent["quantity"],
        )  # fmt: skip
        assert got["filled_quantity"] >= ack["filled_quantity"], "fills went backwards"
        assert got["filled_quantity"] + got["remaining_quantity"] <= got["quantity"]


def check_acked_in_database(ledger: Ledger, load: OrderLoad) -> None:
    """Each acknowledged order is one row with its id and fields; at most the failures are extra."""
    copies = ledger.by_client_id(f"{load.tag}-")
    assert all(n == 1 for n in copies.values()), f"orders stored twice: {[c for c, n in copies.items() if n > 1]}"
    for client_id, ack in load.acked.items():
        row = ledger.orders.get(ack["order_id"])
        assert row is not None, f"acknowledged order {ack['order_id']} ({client_id}) is not in the database"
        sent = ack["request"]
        assert (row["client_order_id"], row["symbol"], row["price_ticks"], row["quantity"]) == (
            client_id, sent["symbol"], sent["price"], sent["quantity"],
        )  # fmt: skip
        assert row["filled"] >= ack["filled_quantity"], f"order {ack['order_id']}: acknowledged fill not stored"
    unacknowledged = set(copies) - set(load.acked)
    assert len(unacknowledged) <= load.failures, "rows stored for requests that were never sent"


def check_loadgen_accounting(ledger: Ledger, run: LoadgenRun, result: LoadResult, kills: int) -> None:
    """acknowledged <= stored <= sent, and stored - acknowledged is bounded by what was in flight."""
    assert result.accounted, "load generator: sent != ok + failed + in flight"
    assert result.warmup_requests == 0
    copies = ledger.by_client_id("lg-")
    assert all(n == 1 for n in copies.values()), f"orders stored twice: {[c for c, n in copies.items() if n > 1]}"
    acked = {c: oid for c, (status, oid) in run.source.answers.items() if status == 201}
    lost = [c for c in acked if c not in copies]
    assert not lost, f"orders acknowledged to the load generator are not in the database: {lost}"
    assert all(ledger.orders[oid]["client_order_id"] == c for c, oid in acked.items())
    stored = len(copies)
    assert len(acked) <= stored <= result.requests, (len(acked), stored, result.requests)
    # A row without a 201: its answer died with a killed process (at most one request per
    # connection at each kill), was given up by the client (timeout) or was still on its way.
    in_flight_at_kills = kills * LOADGEN_CONNECTIONS
    bound = in_flight_at_kills + result.errors.get("timeout", 0) + result.in_flight
    assert stored - len(acked) <= bound, (stored, len(acked), result.errors, result.in_flight)
    # The load generator's own ``ok`` counter is exact: a keep-alive connection closed by a killed
    # gateway under an in-flight request is an error, not the previous response's status again.
    assert result.ok == len(acked), (result.ok, len(acked))


def check_book_matches_database(client: httpx.Client, stack: LocalStack) -> tuple[dict[str, Any], Ledger]:
    """The engine's book equals the book of the open orders in the database, uncrossed."""
    ledger = read_ledger(stack.data_dir)
    assert ledger.problems() == []
    engine_book = book(client)
    assert engine_book == ledger.book(SYMBOL)
    assert not book_is_crossed(engine_book)
    return engine_book, ledger


def kill9(stack: LocalStack, component: str) -> None:
    """SIGKILL the whole process group of ``component`` (uvicorn workers too)."""
    os.killpg(stack.pid(component), signal.SIGKILL)


def restart(stack: LocalStack, victims: tuple[str, ...]) -> None:
    """Start the killed components again, engine first (the gateway waits for it to be healthy)."""
    for component in ("engine", "gateway"):
        if component in victims:
            stack.restart(component)


VICTIMS = {"engine": ("engine",), "gateway": ("gateway",), "both": ("engine", "gateway")}


@pytest.mark.parametrize("victim", list(VICTIMS))
def test_kill9_under_load_loses_no_acknowledged_order(stack: LocalStack, victim: str) -> None:
    victims = VICTIMS[victim]
    url = stack.endpoints().gateway_url
    with httpx.Client(base_url=url, timeout=5.0) as client:
        with LoadgenRun(url, duration_s=3.0, rate_per_s=150) as loadgen, OrderLoad(url, tag=victim) as load:
            load.wait_for_acks(40)
            for component in victims:
                kill9(stack, component)
            time.sleep(0.3)  # both loads keep going against the dead process
            restart(stack, victims)
            result = loadgen.finished()  # the load generator runs on through the restart
        assert load.failures > 0, "the kill should have hit requests in flight"
        assert result.failed > 0, "the load generator should have seen the kill"
        assert result.ok > 0
        wait_ready(client)

        # The database holds every acknowledged order exactly once; the rebuilt book is its book.
        engine_book, ledger = check_book_matches_database(client, stack)
        check_acked_in_database(ledger, load)
        check_loadgen_accounting(ledger, loadgen, result, kills=1)
        check_acked_via_api(client, load.acked)

        # Quiescent now: kill both again; the book rebuilt from storage equals the one before.
        assert engine_book["bids"] or engine_book["asks"], "the load should leave resting orders"
        for component in ("gateway", "engine"):
            kill9(stack, component)
        restart(stack, ("engine", "gateway"))
        wait_ready(client)
        assert book(client) == engine_book
        assert read_ledger(stack.data_dir) == ledger
        check_acked_via_api(client, load.acked)

        # And the stack keeps working after the restarts.
        r = client.post("/orders", json={"symbol": SYMBOL, "side": "buy", "type": "limit", "price": 1, "quantity": 1})
        assert r.status_code == 201, r.text
        assert r.json()["order_id"] > max(ledger.orders), "order ids must never be reused"
