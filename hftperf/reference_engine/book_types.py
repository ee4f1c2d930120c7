"""The order book's values: enumerations, the plain ints the hot path compares, records, id sequence.

Enumerations use the same integer values as ``matching.proto`` so the engine passes them
through unchanged; the records (fills, executions, depth snapshots, persisted resting orders)
are ``NamedTuple``s; :class:`IdSequence` hands out order and fill ids. No gRPC, no generated
code, no IO.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hftperf.reference_engine.book_levels import Order

__all__ = [
    "BUY",
    "CANCELLED",
    "FILLED",
    "GTC",
    "IOC",
    "LIMIT",
    "MARKET",
    "NEW",
    "PARTIALLY_FILLED",
    "SELL",
    "Depth",
    "Execution",
    "Fill",
    "IdSequence",
    "LevelView",
    "OrderStatus",
    "OrderType",
    "RestingOrder",
    "Side",
    "TimeInForce",
]


class Side(enum.IntEnum):
    """Order side (values as in ``matching.proto``)."""

    BUY = 1
    SELL = 2


class OrderType(enum.IntEnum):
    """Order type (values as in ``matching.proto``)."""

    LIMIT = 1
    MARKET = 2


class TimeInForce(enum.IntEnum):
    """Time in force (values as in ``matching.proto``)."""

    GTC = 1
    IOC = 2


class OrderStatus(enum.IntEnum):
    """Order lifecycle status (values as in ``matching.proto``)."""

    NEW = 1
    PARTIALLY_FILLED = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5


# Plain ints on the hot path: comparing against an int is cheaper than an enum attribute load.
BUY, SELL = 1, 2
LIMIT, MARKET = 1, 2
GTC, IOC = 1, 2
NEW, PARTIALLY_FILLED, FILLED, CANCELLED = 1, 2, 3, 4  # the OrderStatus values the book sets


class Fill(NamedTuple):
    """One trade between a resting (maker) and an incoming (taker) order."""

    fill_id: int
    maker_order_id: int
    taker_order_id: int
    price_ticks: int
    quantity: int


class Execution(NamedTuple):
    """What one submission did: the taker, its fills, and the makers it touched (in order)."""

    order: Order
    fills: list[Fill]
    makers: list[Order]


class LevelView(NamedTuple):
    """Aggregated price level of a depth snapshot."""

    price_ticks: int
    quantity: int
    order_count: int


class Depth(NamedTuple):
    """Depth snapshot: both sides best first, and the book's change sequence."""

    bids: list[LevelView]
    asks: list[LevelView]
    sequence: int


class RestingOrder(NamedTuple):
    """Persisted state of a resting order, the input of :meth:`Book.restore`."""

    order_id: int
    side: int
    price_ticks: int
    quantity: int
    filled: int
    client_order_id: str = ""


class IdSequence:
    """Next order and fill ids, shared by all books of an engine so ids are unique."""

    __slots__ = ("next_fill_id", "next_order_id")

    def __init__(self, next_order_id: int = 1, next_fill_id: int = 1) -> None:
        self.next_order_id = next_order_id
        self.next_fill_id = next_fill_id
