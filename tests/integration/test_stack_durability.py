"""kill -9 of the engine or the gateway under load: no acknowledged order is lost or duplicated.

Every order answered 201 must afterwards be found exactly once with GET /orders/{id}, and the
book rebuilt from storage must equal the book the engine had before it was killed.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Self

import httpx
import pytest

from hftperf.reference_engine.backends import LocalStack, StackConfig

pytestmark = pytest.mark.slow

SYMBOL = "DUR-1"
LOAD_THREADS = 4


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
                    self.failures += 1
                    time.sleep(0.02)

    def wait_for_acks(self, count: int, timeout_s: float = 20.0) -> None:
        """Block until at least ``count`` orders were acknowledged."""
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} orders acknowledged"
            time.sleep(0.05)


@pytest.fixture()
def stack(tmp_path: Any) -> Iterator[LocalStack]:
    """A stack on free ports with its own SQLite data dir."""
    config = StackConfig(
        name="durability",
        gateway_port=free_port(),
        engine_port=free_port(),
        data_dir=tmp_path / "data",
        state_dir=tmp_path / "state",
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
    """The whole book (levels only: the sequence number may restart)."""
    r = client.get(f"/book/{SYMBOL}", params={"depth": 1000})
    assert r.status_code == 200, r.text
    snapshot = r.json()
    return {"bids": snapshot["bids"], "asks": snapshot["asks"]}


def check_acked(client: httpx.Client, acked: dict[str, dict[str, Any]]) -> None:
    """Every acknowledged order is found, once, with what was acknowledged."""
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


def kill9(stack: LocalStack, component: str) -> None:
    """SIGKILL the whole process group of ``component`` (uvicorn workers too)."""
    os.killpg(stack.pid(component), signal.SIGKILL)


@pytest.mark.parametrize("victim", ["engine", "gateway"])
def test_kill9_under_load_loses_no_acknowledged_order(stack: LocalStack, victim: str) -> None:
    url = stack.endpoints().gateway_url
    with httpx.Client(base_url=url, timeout=5.0) as client:
        with OrderLoad(url, tag=victim) as load:
            load.wait_for_acks(150)
            kill9(stack, victim)
            time.sleep(0.3)  # the load keeps going against the dead process
        acked = dict(load.acked)
        assert load.failures > 0, "the kill should have hit requests in flight"
        stack.restart(victim)
        wait_ready(client)
        check_acked(client, acked)

        # Quiescent now: the book rebuilt from storage must equal the book before the kill.
        before = book(client)
        assert before["bids"] or before["asks"], "the load should leave resting orders"
        kill9(stack, "engine")
        stack.restart("engine")
        wait_ready(client)
        assert book(client) == before
        check_acked(client, acked)

        # And the stack keeps working after the restarts.
        r = client.post("/orders", json={"symbol": SYMBOL, "side": "buy", "type": "limit", "price": 1, "quantity": 1})
        assert r.status_code == 201, r.text
