"""Disk full and read-only data directories, for real: a filled tmpfs and a read-only bind mount.

A full disk under a running stack: the gateway answers 503 ``store_unavailable`` naming the
cause, acknowledges nothing it could not persist, and the stack recovers by itself once space
is freed. A read-only data directory: the engine refuses to start, in one line naming the
database and the cause, and ``hftperf stack up`` says so without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.ledger import read_ledger
from support.mounts import MountUnavailable, fill_up, read_only_bind, tmpfs
from support.servers import free_port

from hftperf.errors import InfrastructureError
from hftperf.reference_engine.backends import LocalStack, StackConfig
from hftperf.reference_engine.store_sqlite import DB_FILENAME

pytestmark = pytest.mark.slow

SYMBOL = "FLT-1"


def order(client_id: str, side: str = "buy", price: int = 100) -> dict[str, Any]:
    """A limit order that rests (buys low, sells high)."""
    return {
        "symbol": SYMBOL,
        "side": side,
        "type": "limit",
        "price": price,
        "quantity": 3,
        "client_order_id": client_id,
    }


def stack_config(tmp_path: Path, data_dir: Path, name: str) -> StackConfig:
    """A stack on free ports with ``data_dir`` for its database and logs."""
    return StackConfig(
        name=name,
        gateway_port=free_port(),
        engine_port=free_port(),
        data_dir=data_dir,
        state_dir=tmp_path / "state",
        symbols=(SYMBOL,),
    )


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs for the data directory (skips when mounting is not permitted)."""
    try:
        with tmpfs(tmp_path / "data", "4m") as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root and mount rights): {exc}")


def wait_for(check: Any, what: str, timeout_s: float = 10.0) -> None:
    """Poll ``check()`` until true."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_disk_full_is_503_and_only_persisted_orders_are_acknowledged(tmp_path: Path, small_disk: Path) -> None:
    acked: dict[str, int] = {}
    refused: list[str] = []
    stack = LocalStack(stack_config(tmp_path, small_disk, "disk-full"))
    with stack, httpx.Client(base_url=stack.endpoints().gateway_url, timeout=5.0) as http:
        for i in range(20):
            r = http.post("/orders", json=order(f"before-{i}", price=100 + i % 5))
            assert r.status_code == 201, r.text
            acked[f"before-{i}"] = r.json()["order_id"]
        filler = fill_up(small_disk)

        first_503: httpx.Response | None = None
        for i in range(3000):  # the WAL has some room left in its last pages; soon it has none
            client_id = f"full-{i}"
            r = http.post("/orders", json=order(client_id, side="sell", price=900 + i % 7))
            if r.status_code == 201:
                acked[client_id] = r.json()["order_id"]
                continue
            assert r.status_code == 503, r.text
            refused.append(client_id)
            first_503 = r
            break
        assert first_503 is not None, "the full disk never stopped a write"
        error = first_503.json()
        assert error["error"] == "store_unavailable", error
        assert "full" in error["message"] and DB_FILENAME in error["message"], error
        assert error["field"] is None

        # The store stays failed: every later write is refused the same way, none acknowledged.
        for i in range(5):
            r = http.post("/orders", json=order(f"refused-{i}"))
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable", r.text
            refused.append(f"refused-{i}")
        wait_for(lambda: http.get("/health").status_code == 503, "the gateway kept reporting healthy")
        assert http.get(f"/orders/{acked['before-0']}").status_code == 200, "reads must keep working"

        # Space comes back: the engine probes, reloads the books from the database, serves again.
        filler.unlink()
        wait_for(lambda: http.get("/health").status_code == 200, "the stack did not recover")
        r = http.post("/orders", json=order("after"))
        assert r.status_code == 201, r.text
        acked["after"] = r.json()["order_id"]

        ledger = read_ledger(small_disk)
        assert ledger.problems() == []
        stored = ledger.by_client_id("")
        assert {c: n for c, n in stored.items() if c in acked} == dict.fromkeys(acked, 1)
        assert not set(refused) & set(stored), "an order answered 503 was persisted"
        assert {ledger.orders[oid]["client_order_id"] for oid in acked.values()} == set(acked)
        book = http.get(f"/book/{SYMBOL}", params={"depth": 1000}).json()
        assert {"bids": book["bids"], "asks": book["asks"]} == ledger.book(SYMBOL)


@pytest.fixture()
def read_only_data(tmp_path: Path) -> Iterator[Path]:
    """A data directory holding a database from an earlier run, then mounted read-only."""
    data = tmp_path / "data"
    with LocalStack(stack_config(tmp_path, data, "ro-seed")) as ends:
        assert httpx.post(f"{ends.gateway_url}/orders", json=order("seed")).status_code == 201
    try:
        with read_only_bind(data) as path:
            yield path
    except MountUnavailable as exc:
        pytest.skip(f"cannot bind-mount the data directory read-only (needs root and mount rights): {exc}")


def test_engine_refuses_a_read_only_data_dir_in_one_line(read_only_data: Path) -> None:
    with pytest.raises(OSError):
        (read_only_data / "probe").write_bytes(b"")  # root ignores chmod, not a read-only mount
    argv = [sys.executable, "-m", "hftperf.reference_engine.engine", "--port", str(free_port()),
            "--data-dir", str(read_only_data), "--symbols", SYMBOL]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("engine: error: "), done.stderr
    assert str(read_only_data / DB_FILENAME) in lines[0] and "read-only" in lines[0], lines[0]


def test_stack_up_on_a_read_only_data_dir_is_a_clear_error(tmp_path: Path, read_only_data: Path) -> None:
    stack = LocalStack(stack_config(tmp_path, read_only_data, "ro-up"))
    with pytest.raises(InfrastructureError, match=r"read-only") as info:
        stack.start()
    assert str(read_only_data) in str(info.value)
    assert "Traceback" not in str(info.value)
