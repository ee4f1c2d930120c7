"""The engine's trading state: one book per symbol, the order index and ids; validation and matching.

No gRPC and no store here: :mod:`engine_service` turns RPCs into calls on this state and makes
the results durable. All access happens on the event loop thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from hftperf.errors import InfrastructureError
from hftperf.reference_engine.book import (
    BUY,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    Book,
    Execution,
    Fill,
    IdSequence,
    Order,
)
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.store import LoadedState, OrderRow

__all__ = ["MAX_CLIENT_ORDER_ID", "MAX_ORDER_ID", "MAX_PRICE_TICKS", "MAX_QUANTITY", "Exchange", "fills_pb",
           "report", "row", "timing"]

MAX_CLIENT_ORDER_ID = 64
MAX_QUANTITY = 10**12  # bounds keep every aggregate inside int64 (proto and database)
MAX_PRICE_TICKS = 10**15
MAX_ORDER_ID = 2**63 - 1  # ids are SQLite INTEGER / PostgreSQL BIGINT
_OPEN = (1, 2)  # NEW, PARTIALLY_FILLED
_OrderReport: Any = pb.OrderReport  # the book's enum ints are the proto's enum numbers


def row(o: Order) -> OrderRow:
    """The store row of an order."""
    return OrderRow(o.order_id, o.symbol, o.side, o.order_type, o.time_in_force,
                    o.price_ticks, o.quantity, o.filled, o.status, o.client_order_id)


def report(o: Order | OrderRow) -> pb.OrderReport:
    """The order as the API reports it."""
    remaining = o.quantity - o.filled if o.status in _OPEN else 0
    return _OrderReport(
        order_id=o.order_id, client_order_id=o.client_order_id, symbol=o.symbol, side=o.side,
        type=o.order_type, time_in_force=o.time_in_force, price_ticks=o.price_ticks,
        quantity=o.quantity, filled_quantity=o.filled, remaining_quantity=remaining,
        status=o.status)


def fills_pb(fills: Sequence[Fill]) -> list[pb.Fill]:
    """Fills as protobuf messages."""
    return [pb.Fill(fill_id=f[0], maker_order_id=f[1], taker_order_id=f[2], price_ticks=f[3],
                    quantity=f[4]) for f in fills]


def timing(t0_ns: int, store_ns: int) -> pb.EngineTiming:
    """The engine and store time of a call started at ``t0_ns``."""
    return pb.EngineTiming(engine_us=(time.perf_counter_ns() - t0_ns) // 1000,
                           store_us=store_ns // 1000)


class Exchange:
    """Every book, the index of resting orders and the id sequences of one engine."""

    def __init__(self, symbols: tuple[str, ...], state: LoadedState) -> None:
        self.symbols = symbols
        self.ids = IdSequence()
        self.index: dict[int, Order] = {}
        self.books: dict[str, Book] = {}
        self.orders_total = 0
        self.rebuild(state)

    def rebuild(self, state: LoadedState) -> None:
        """(Re)create every book from durable state; ids never go backwards."""
        unknown = sorted(set(state.resting) - set(self.symbols))
        if unknown:
            raise InfrastructureError(
                f"the database holds open orders for symbols that are not configured: "
                f"{', '.join(unknown)} (add them to --symbols or use another data directory)")
        ids = IdSequence(max(self.ids.next_order_id, state.next_order_id),
                         max(self.ids.next_fill_id, state.next_fill_id))
        index: dict[int, Order] = {}
        books = {}
        for symbol in self.symbols:
            book = Book(symbol, ids, index)
            old = self.books.get(symbol)
            book.restore(state.resting.get(symbol, ()))
            book.sequence += old.sequence if old is not None else 0
            books[symbol] = book
        self.ids, self.index, self.books = ids, index, books
        self.orders_total = state.orders_total

    def invalid(self, r: pb.OrderRequest) -> str | None:
        """The first problem of an order request, naming the field, or None."""
        if r.symbol not in self.books:
            return f"symbol: unknown symbol {r.symbol!r} (known: {', '.join(self.symbols)})"
        if r.side not in (BUY, SELL):
            return "side: must be BUY or SELL"
        if r.type not in (LIMIT, MARKET):
            return "type: must be LIMIT or MARKET"
        if not 0 < r.quantity <= MAX_QUANTITY:
            return f"quantity: must be an integer in 1..{MAX_QUANTITY}, got {r.quantity}"
        if r.type == LIMIT and not 0 < r.price_ticks <= MAX_PRICE_TICKS:
            return (f"price_ticks: must be an integer in 1..{MAX_PRICE_TICKS} for LIMIT orders, "
                    f"got {r.price_ticks}")
        if r.time_in_force not in (0, GTC, IOC):
            return "time_in_force: must be GTC or IOC"
        if len(r.client_order_id) > MAX_CLIENT_ORDER_ID:
            return f"client_order_id: at most {MAX_CLIENT_ORDER_ID} characters"
        return None

    def match(self, r: pb.OrderRequest, rows: list[OrderRow]) -> Execution:
        """Match a valid request in its book; append the changed order rows to ``rows``."""
        order_type = r.type
        tif = r.time_in_force or (GTC if order_type == LIMIT else IOC)
        price = r.price_ticks if order_type == LIMIT else 0
        ex = self.books[r.symbol].submit(r.side, order_type, price, r.quantity, tif,
                                         r.client_order_id)
        rows.append(row(ex.order))
        rows.extend(row(m) for m in ex.makers)
        return ex
