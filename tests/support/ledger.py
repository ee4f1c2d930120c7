"""Read the engine's SQLite database directly: the ground truth the stack's fault tests check against.

Opened read-only (``mode=ro``) next to a live engine: WAL lets readers in while it writes.
"""

from __future__ import annotations

import collections
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftperf.reference_engine.store_sqlite import DB_FILENAME

__all__ = ["Ledger", "book_is_crossed", "read_ledger"]

_BUY, _SELL = 1, 2
_OPEN = (1, 2)  # NEW, PARTIALLY_FILLED
_FILLED = 3


@dataclass(frozen=True)
class Ledger:
    """Every order row and fill row in the database."""

    orders: dict[int, dict[str, Any]]  # order_id -> row
    fills: list[dict[str, Any]]

    def by_client_id(self, prefix: str) -> collections.Counter[str]:
        """How many rows carry each client order id starting with ``prefix``."""
        return collections.Counter(
            o["client_order_id"] for o in self.orders.values() if o["client_order_id"].startswith(prefix)
        )

    def book(self, symbol: str) -> dict[str, list[dict[str, int]]]:
        """The book the open orders make, in the gateway's ``GET /book`` shape (best first)."""
        levels: dict[int, dict[int, list[int]]] = {_BUY: {}, _SELL: {}}
        for o in self.orders.values():
            if o["symbol"] == symbol and o["status"] in _OPEN:
                level = levels[o["side"]].setdefault(o["price_ticks"], [0, 0])
                level[0] += o["quantity"] - o["filled"]
                level[1] += 1
        return {
            side: [
                {"price": price, "quantity": q, "order_count": n}
                for price, (q, n) in sorted(levels[code].items(), reverse=code == _BUY)
            ]
            for side, code in (("bids", _BUY), ("asks", _SELL))
        }

    def problems(self) -> list[str]:
        """Internal inconsistencies: fills not matching filled quantities, bad statuses, crossed books."""
        filled: collections.Counter[int] = collections.Counter()
        found: list[str] = []
        for f in self.fills:
            for role in ("maker_order_id", "taker_order_id"):
                if f[role] not in self.orders:
                    found.append(f"fill {f['fill_id']}: {role} {f[role]} has no order row")
                filled[f[role]] += f["quantity"]
        for oid, o in self.orders.items():
            if o["filled"] != filled[oid]:
                found.append(f"order {oid}: filled {o['filled']} but its fills sum to {filled[oid]}")
            if not 0 <= o["filled"] <= o["quantity"]:
                found.append(f"order {oid}: filled {o['filled']} outside 0..{o['quantity']}")
            if (o["status"] == _FILLED) != (o["filled"] == o["quantity"]):
                found.append(f"order {oid}: status {o['status']} with {o['filled']}/{o['quantity']} filled")
        for symbol in {o["symbol"] for o in self.orders.values()}:
            if book_is_crossed(self.book(symbol)):
                found.append(f"{symbol}: the open orders in the database cross")
        return found


def book_is_crossed(book: dict[str, Any]) -> bool:
    """True when the best bid is at or above the best ask (a matching engine never rests that)."""
    return bool(book["bids"] and book["asks"] and book["bids"][0]["price"] >= book["asks"][0]["price"])


def read_ledger(data_dir: Path) -> Ledger:
    """Every order and fill in ``data_dir``'s engine database (read-only connection)."""
    conn = sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        orders = {row["order_id"]: dict(row) for row in conn.execute("SELECT * FROM orders")}
        fills = [dict(row) for row in conn.execute("SELECT * FROM fills ORDER BY fill_id")]
    finally:
        conn.close()
    return Ledger(orders, fills)
