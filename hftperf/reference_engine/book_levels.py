"""The book's queue structures: orders as nodes of a price level's FIFO, and one side's levels.

Each side keeps its price levels in a dict keyed by a *sort key* (the price for asks, minus
the price for bids) plus a binary heap of those keys with lazy deletion, so the best level is
``heap[0]`` (O(1)), a new level costs one ``heappush`` (O(log n)) and an emptied level is
simply dropped from the dict; stale heap keys are popped when they surface. Orders at a level
form an intrusive doubly linked FIFO, so a cancel anywhere in the queue is O(1).
:class:`~hftperf.reference_engine.book.Book` links and matches them.
"""

from __future__ import annotations

import heapq

from hftperf.reference_engine.book_types import NEW, LevelView

__all__ = ["Level", "Order", "SideLevels"]

_MAX_STALE_FACTOR = 2  # compact a heap once it holds this many times more keys than levels


class Order:
    """One order; while resting it is also a node of its price level's FIFO."""

    __slots__ = (
        "client_order_id",
        "filled",
        "level",
        "next",
        "order_id",
        "order_type",
        "prev",
        "price_ticks",
        "quantity",
        "remaining",
        "side",
        "status",
        "symbol",
        "time_in_force",
    )

    def __init__(
        self, order_id: int, symbol: str, side: int, order_type: int, time_in_force: int,
        price_ticks: int, quantity: int, client_order_id: str = "",
    ) -> None:
        self.order_id = order_id
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.price_ticks = price_ticks
        self.quantity = quantity
        self.filled = 0
        self.remaining = quantity  # open quantity; 0 once filled or cancelled
        self.status = NEW
        self.client_order_id = client_order_id
        self.prev: Order | None = None
        self.next: Order | None = None
        self.level: Level | None = None

    @property
    def cancelled_quantity(self) -> int:
        """Quantity that will never trade (cancelled, or an IOC/market remainder)."""
        return self.quantity - self.filled - self.remaining

    def __repr__(self) -> str:
        return (f"Order(id={self.order_id}, {self.symbol}, side={self.side}, "
                f"px={self.price_ticks}, qty={self.quantity}, filled={self.filled}, "
                f"remaining={self.remaining}, status={self.status})")


class Level:
    """One price level: FIFO of resting orders with the aggregated open quantity."""

    __slots__ = ("count", "head", "price_ticks", "quantity", "tail")

    def __init__(self, price_ticks: int) -> None:
        self.price_ticks = price_ticks
        self.head: Order | None = None
        self.tail: Order | None = None
        self.quantity = 0
        self.count = 0


class SideLevels:
    """Levels of one side keyed by sort key (best = smallest key) and the key heap."""

    __slots__ = ("heap", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.levels: dict[int, Level] = {}
        self.heap: list[int] = []
        self.sign = sign  # key = sign * price: +1 for asks, -1 for bids

    def best(self) -> Level | None:
        heap = self.heap
        return self.levels[heap[0]] if heap else None

    def drop(self, key: int) -> None:
        """Forget an emptied level; keep the invariant 'heap empty or heap[0] is live'."""
        levels = self.levels
        del levels[key]
        heap = self.heap
        if heap[0] == key:
            while heap and heap[0] not in levels:
                heapq.heappop(heap)
        elif len(heap) > _MAX_STALE_FACTOR * len(levels) + 64:
            self.heap = list(levels)
            heapq.heapify(self.heap)

    def top(self, n: int) -> list[LevelView]:
        levels = self.levels
        return [LevelView(levels[k].price_ticks, levels[k].quantity, levels[k].count)
                for k in heapq.nsmallest(n, levels)]
