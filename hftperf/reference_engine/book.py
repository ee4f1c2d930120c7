"""Pure, IO-free limit order book for one symbol: price-time priority, integer ticks only.

Live orders are found by id through a dict (O(1)); the levels of each side and their FIFOs are
the structures of :mod:`~hftperf.reference_engine.book_levels` (best level O(1), a new level
O(log n), a cancel anywhere in a queue O(1)).

Order ids are assigned in arrival order, so within a level the id order *is* the time
priority: :meth:`Book.restore` rebuilds a book exactly from persisted resting orders sorted
by id, without re-running any matching.

The enumerations and records (:mod:`~hftperf.reference_engine.book_types`, integer values as
in ``matching.proto``) and ``Order`` are re-exported here: import them from this module. None
of the three modules imports gRPC or the generated code.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from hftperf.reference_engine.book_levels import Level, Order, SideLevels
from hftperf.reference_engine.book_types import (
    BUY,
    CANCELLED,
    FILLED,
    GTC,
    IOC,
    LIMIT,
    MARKET,
    NEW,
    PARTIALLY_FILLED,
    SELL,
    Depth,
    Execution,
    Fill,
    IdSequence,
    LevelView,
    OrderStatus,
    OrderType,
    RestingOrder,
    Side,
    TimeInForce,
)

__all__ = [
    "BUY",
    "GTC",
    "IOC",
    "LIMIT",
    "MARKET",
    "SELL",
    "Book",
    "Depth",
    "Execution",
    "Fill",
    "IdSequence",
    "LevelView",
    "Order",
    "OrderStatus",
    "OrderType",
    "RestingOrder",
    "Side",
    "TimeInForce",
]

_NO_LIMIT_KEY = 1 << 62  # crosses every level: used as the limit key of market orders


class Book:
    """Order book of one symbol with price-time priority matching."""

    __slots__ = ("_asks", "_bids", "ids", "index", "sequence", "symbol")

    def __init__(self, symbol: str, ids: IdSequence | None = None,
                 index: dict[int, Order] | None = None) -> None:
        """Create an empty book; ``ids``/``index`` may be shared by several books."""
        self.symbol = symbol
        self.ids = ids if ids is not None else IdSequence()
        self.index: dict[int, Order] = index if index is not None else {}
        self.sequence = 0  # increases with every change of this book
        self._bids = SideLevels(-1)
        self._asks = SideLevels(1)

    # -- queries ---------------------------------------------------------------------------
    @property
    def best_bid(self) -> int | None:
        """Highest resting bid price in ticks, or None."""
        level = self._bids.best()
        return None if level is None else level.price_ticks

    @property
    def best_ask(self) -> int | None:
        """Lowest resting ask price in ticks, or None."""
        level = self._asks.best()
        return None if level is None else level.price_ticks

    def get(self, order_id: int) -> Order | None:
        """The live (resting) order with this id in this book, or None."""
        order = self.index.get(order_id)
        return order if order is not None and order.symbol == self.symbol else None

    def depth(self, levels: int = 10) -> Depth:
        """Aggregated top ``levels`` price levels of each side, best first."""
        return Depth(self._bids.top(levels), self._asks.top(levels), self.sequence)

    def resting_orders(self) -> Iterator[Order]:
        """Every resting order, bids then asks, best level first, FIFO within a level."""
        for side in (self._bids, self._asks):
            for key in sorted(side.levels):
                order = side.levels[key].head
                while order is not None:
                    yield order
                    order = order.next

    # -- commands --------------------------------------------------------------------------
    def submit(
        self, side: int, order_type: int, price_ticks: int, quantity: int,
        time_in_force: int = GTC, client_order_id: str = "", order_id: int | None = None,
    ) -> Execution:
        """Match an incoming order; rest a GTC limit remainder, cancel any other remainder.

        Inputs are assumed valid (side, type and TIF known, quantity > 0, limit price > 0):
        validation belongs to the caller. Market orders are always immediate-or-cancel.
        """
        ids = self.ids
        if order_id is None:
            order_id = ids.next_order_id
            ids.next_order_id = order_id + 1
        elif order_id >= ids.next_order_id:
            ids.next_order_id = order_id + 1
        if order_type == MARKET:
            time_in_force = IOC
        taker = Order(order_id, self.symbol, side, order_type, time_in_force,
                      price_ticks, quantity, client_order_id)
        self.sequence += 1
        if side == BUY:
            contra, limit_key = self._asks, price_ticks
        else:
            contra, limit_key = self._bids, -price_ticks
        if order_type == MARKET:
            limit_key = _NO_LIMIT_KEY
        fills: list[Fill] = []
        makers: list[Order] = []
        heap = contra.heap
        if heap and heap[0] <= limit_key:
            self._match(taker, contra, limit_key, fills, makers)
        if taker.remaining:
            if time_in_force == GTC:
                self._rest(taker)
            else:
                taker.remaining = 0
                taker.status = CANCELLED
        return Execution(taker, fills, makers)

    def cancel(self, order_id: int) -> Order | None:
        """Cancel a resting order of this book; None when it is not live here."""
        order = self.index.get(order_id)
        if order is None or order.symbol != self.symbol:
            return None
        self._unlink(order)
        order.remaining = 0
        order.status = CANCELLED
        self.sequence += 1
        return order

    def restore(self, orders: Iterable[RestingOrder]) -> int:
        """Rebuild resting orders from persisted state in id (= time priority) order.

        No matching happens: a restored order that would cross the book, a duplicate id or
        a non-positive open quantity raises ``ValueError``. Returns the number restored.
        """
        count = 0
        ids = self.ids
        for row in sorted(orders, key=lambda r: r.order_id):
            open_qty = row.quantity - row.filled
            if open_qty <= 0 or row.filled < 0 or row.price_ticks <= 0:
                raise ValueError(f"order {row.order_id}: not a resting order: {row}")
            if row.order_id in self.index:
                raise ValueError(f"order {row.order_id}: duplicate id")
            if row.side == BUY:
                best = self.best_ask
                crosses = best is not None and row.price_ticks >= best
            else:
                best = self.best_bid
                crosses = best is not None and row.price_ticks <= best
            if crosses:
                raise ValueError(f"order {row.order_id}: would cross the book at {best}")
            order = Order(row.order_id, self.symbol, row.side, LIMIT, GTC, row.price_ticks,
                          row.quantity, row.client_order_id)
            order.filled = row.filled
            order.remaining = open_qty
            order.status = PARTIALLY_FILLED if row.filled else NEW
            self._rest(order)
            if row.order_id >= ids.next_order_id:
                ids.next_order_id = row.order_id + 1
            count += 1
        self.sequence += count
        return count

    # -- internals -------------------------------------------------------------------------
    def _match(self, taker: Order, contra: SideLevels, limit_key: int,
               fills: list[Fill], makers: list[Order]) -> None:
        """Trade the taker against the contra side while prices cross (the hot loop)."""
        levels = contra.levels
        heap = contra.heap
        index = self.index
        ids = self.ids
        fill_id = ids.next_fill_id
        taker_id = taker.order_id
        remaining = taker.remaining
        while remaining and heap and heap[0] <= limit_key:
            key = heap[0]
            level = levels[key]
            price = level.price_ticks
            maker = level.head
            while maker is not None and remaining:
                qty = maker.remaining
                if qty > remaining:
                    qty = remaining
                remaining -= qty
                maker.remaining -= qty
                maker.filled += qty
                level.quantity -= qty
                fills.append(Fill(fill_id, maker.order_id, taker_id, price, qty))
                fill_id += 1
                makers.append(maker)
                if maker.remaining:
                    maker.status = PARTIALLY_FILLED
                    break
                maker.status = FILLED
                nxt = maker.next
                del index[maker.order_id]
                maker.next = maker.level = None
                level.count -= 1
                maker = nxt
            level.head = maker
            if maker is None:
                level.tail = None
                contra.drop(key)
            else:
                maker.prev = None
        ids.next_fill_id = fill_id
        taker.filled = taker.quantity - remaining
        taker.remaining = remaining
        taker.status = FILLED if remaining == 0 else PARTIALLY_FILLED

    def _rest(self, order: Order) -> None:
        """Append an order to the tail of its price level, creating the level if needed."""
        if order.side == BUY:
            side, key = self._bids, -order.price_ticks
        else:
            side, key = self._asks, order.price_ticks
        level = side.levels.get(key)
        if level is None:
            level = side.levels[key] = Level(order.price_ticks)
            heapq.heappush(side.heap, key)
        tail = level.tail
        if tail is None:
            level.head = order
        else:
            tail.next = order
            order.prev = tail
        level.tail = order
        level.quantity += order.remaining
        level.count += 1
        order.level = level
        self.index[order.order_id] = order

    def _unlink(self, order: Order) -> None:
        """Remove a resting order from its level in O(1); drop the level when empty."""
        level = order.level
        assert level is not None
        prev, nxt = order.prev, order.next
        if prev is None:
            level.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            level.tail = prev
        else:
            nxt.prev = prev
        order.prev = order.next = order.level = None
        level.quantity -= order.remaining
        level.count -= 1
        del self.index[order.order_id]
        if level.count == 0:
            if order.side == BUY:
                self._bids.drop(-level.price_ticks)
            else:
                self._asks.drop(level.price_ticks)

    def check_invariants(self) -> None:
        """Assert internal consistency (for tests): uncrossed, aggregates and index agree."""
        bid, ask = self.best_bid, self.best_ask
        assert bid is None or ask is None or bid < ask, f"crossed book {bid} >= {ask}"
        live = 0
        for side in (self._bids, self._asks):
            assert set(side.heap) >= set(side.levels), "level missing from heap"
            assert not side.heap or side.heap[0] == min(side.levels), "stale heap top"
            for key, level in side.levels.items():
                assert key == side.sign * level.price_ticks
                qty = count = 0
                order, prev = level.head, None
                while order is not None:
                    assert order.prev is prev and order.level is level
                    assert order.remaining > 0 and self.index[order.order_id] is order
                    assert prev is None or prev.order_id < order.order_id, "FIFO broken"
                    qty += order.remaining
                    count += 1
                    prev, order = order, order.next
                assert level.tail is prev and count == level.count > 0
                assert qty == level.quantity
                live += count
        mine = sum(1 for o in self.index.values() if o.symbol == self.symbol)
        assert live == mine, "index and levels disagree"
