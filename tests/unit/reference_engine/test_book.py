"""Order book matching rules, priority, cancels, restore, and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    LevelView,
    Order,
    OrderStatus,
    RestingOrder,
)


def limit(book: Book, side: int, price: int, qty: int, tif: int = GTC) -> Execution:
    return book.submit(side, LIMIT, price, qty, tif)


def test_resting_orders_and_best_prices() -> None:
    book = Book("BTC-USD")
    assert book.best_bid is None and book.best_ask is None
    a = limit(book, BUY, 100, 5)
    limit(book, BUY, 101, 3)
    limit(book, SELL, 105, 2)
    limit(book, SELL, 103, 4)
    assert a.order.status == OrderStatus.NEW and a.fills == []
    assert (book.best_bid, book.best_ask) == (101, 103)
    depth = book.depth()
    assert depth.bids == [LevelView(101, 3, 1), LevelView(100, 5, 1)]
    assert depth.asks == [LevelView(103, 4, 1), LevelView(105, 2, 1)]
    assert depth.sequence == 4
    book.check_invariants()


def test_price_time_priority_and_partial_fill() -> None:
    book = Book("X")
    first = limit(book, SELL, 100, 5).order
    second = limit(book, SELL, 100, 5).order
    better = limit(book, SELL, 99, 2).order
    ex = limit(book, BUY, 100, 9)
    assert [(f.maker_order_id, f.price_ticks, f.quantity) for f in ex.fills] == [
        (better.order_id, 99, 2), (first.order_id, 100, 5), (second.order_id, 100, 2)]
    assert ex.order.status == OrderStatus.FILLED and ex.order.remaining == 0
    assert second.status == OrderStatus.PARTIALLY_FILLED and second.remaining == 3
    assert first.status == OrderStatus.FILLED and book.get(first.order_id) is None
    assert ex.makers == [better, first, second]
    assert book.depth().asks == [LevelView(100, 3, 1)]
    book.check_invariants()


def test_taker_trades_at_maker_price_and_rests_remainder() -> None:
    book = Book("X")
    limit(book, SELL, 100, 3)
    ex = limit(book, BUY, 102, 10)
    assert ex.fills[0].price_ticks == 100
    assert ex.order.status == OrderStatus.PARTIALLY_FILLED and ex.order.remaining == 7
    assert (book.best_bid, book.best_ask) == (102, None)
    book.check_invariants()


def test_limit_does_not_trade_through_its_price() -> None:
    book = Book("X")
    limit(book, SELL, 101, 3)
    ex = limit(book, BUY, 100, 3)
    assert ex.fills == [] and (book.best_bid, book.best_ask) == (100, 101)


def test_ioc_remainder_is_cancelled() -> None:
    book = Book("X")
    limit(book, SELL, 100, 3)
    ex = limit(book, BUY, 100, 5, IOC)
    assert ex.order.filled == 3 and ex.order.remaining == 0
    assert ex.order.status == OrderStatus.CANCELLED and ex.order.cancelled_quantity == 2
    assert book.best_bid is None
    unfilled = limit(book, SELL, 200, 1, IOC)
    assert unfilled.order.status == OrderStatus.CANCELLED and book.best_ask is None


def test_market_order_sweeps_levels_and_cancels_remainder() -> None:
    book = Book("X")
    limit(book, BUY, 100, 2)
    limit(book, BUY, 98, 2)
    ex = book.submit(SELL, MARKET, 0, 10, GTC)  # market orders are always IOC
    assert [f.price_ticks for f in ex.fills] == [100, 98]
    assert ex.order.time_in_force == IOC and ex.order.status == OrderStatus.CANCELLED
    assert ex.order.filled == 4 and book.best_bid is None
    empty = book.submit(BUY, MARKET, 0, 1, IOC)
    assert empty.fills == [] and empty.order.status == OrderStatus.CANCELLED


def test_cancel_middle_of_level_keeps_fifo() -> None:
    book = Book("X")
    orders = [limit(book, BUY, 100, 1).order for _ in range(3)]
    cancelled = book.cancel(orders[1].order_id)
    assert cancelled is orders[1] and cancelled.status == OrderStatus.CANCELLED
    assert book.cancel(orders[1].order_id) is None
    assert book.depth().bids == [LevelView(100, 2, 2)]
    ex = book.submit(SELL, MARKET, 0, 2, IOC)
    assert [f.maker_order_id for f in ex.fills] == [orders[0].order_id, orders[2].order_id]
    book.check_invariants()


def test_cancel_last_order_drops_level_and_unknown_ids() -> None:
    book = Book("X")
    o = limit(book, SELL, 100, 1).order
    limit(book, SELL, 101, 1)
    book.cancel(o.order_id)
    assert book.best_ask == 101 and book.cancel(999) is None
    other = Book("Y", index=book.index)
    assert other.cancel(o.order_id + 1) is None  # lives in book X, not Y


def test_shared_ids_are_unique_across_books() -> None:
    ids = IdSequence(next_order_id=10, next_fill_id=5)
    index: dict = {}
    a, b = Book("A", ids, index), Book("B", ids, index)
    limit(a, SELL, 10, 1)
    limit(b, SELL, 10, 1)
    fa = limit(a, BUY, 10, 1).fills[0]
    fb = limit(b, BUY, 10, 1).fills[0]
    assert (fa.fill_id, fb.fill_id) == (5, 6) and ids.next_order_id == 14
    assert fa == Fill(5, 10, 12, 10, 1)


def test_restore_rebuilds_priority_and_ids() -> None:
    book = Book("X")
    for qty in (5, 6, 7):
        limit(book, SELL, 100, qty)
    limit(book, BUY, 90, 4)
    limit(book, BUY, 100, 2)  # partially fills the first ask
    rows = [RestingOrder(o.order_id, o.side, o.price_ticks, o.quantity, o.filled)
            for o in book.resting_orders()]
    fresh = Book("X")
    assert fresh.restore(reversed(rows)) == 4
    assert fresh.depth().bids == book.depth().bids and fresh.depth().asks == book.depth().asks
    assert fresh.ids.next_order_id == 5  # the store, not the book, knows ids of gone orders
    fresh.ids.next_order_id = book.ids.next_order_id
    ex1, ex2 = limit(book, BUY, 100, 20), limit(fresh, BUY, 100, 20)
    assert [f[1:] for f in ex1.fills] == [f[1:] for f in ex2.fills]
    restored = fresh.get(rows[0].order_id)
    assert restored is None or restored.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
    fresh.check_invariants()


def test_restore_rejects_inconsistent_state() -> None:
    book = Book("X")
    book.restore([RestingOrder(1, SELL, 100, 5, 0)])
    with pytest.raises(ValueError, match="cross"):
        book.restore([RestingOrder(2, BUY, 100, 5, 0)])
    with pytest.raises(ValueError, match="duplicate"):
        book.restore([RestingOrder(1, SELL, 101, 5, 0)])
    with pytest.raises(ValueError, match="not a resting"):
        book.restore([RestingOrder(3, SELL, 101, 5, 5)])


_op = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from([BUY, SELL]), st.integers(90, 110),
              st.integers(1, 20), st.sampled_from([GTC, IOC])),
    st.tuples(st.just("market"), st.sampled_from([BUY, SELL]), st.integers(1, 40)),
    st.tuples(st.just("cancel"), st.integers(0, 60)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_op, max_size=80))
def test_property_never_crossed_and_quantity_conserved(ops: list[tuple]) -> None:
    book = Book("X")
    orders: list[Order] = []
    traded: dict[int, int] = {}
    for op in ops:
        if op[0] == "limit":
            ex = book.submit(op[1], LIMIT, op[2], op[3], op[4])
        elif op[0] == "market":
            ex = book.submit(op[1], MARKET, 0, op[2], IOC)
        else:
            if orders:
                book.cancel(orders[op[1] % len(orders)].order_id)
            book.check_invariants()
            continue
        orders.append(ex.order)
        for fill in ex.fills:
            traded[fill.maker_order_id] = traded.get(fill.maker_order_id, 0) + fill.quantity
            traded[fill.taker_order_id] = traded.get(fill.taker_order_id, 0) + fill.quantity
            assert fill.quantity > 0
        book.check_invariants()
    resting = {o.order_id: o.remaining for o in book.resting_orders()}
    for o in orders:
        assert o.quantity == o.filled + o.remaining + o.cancelled_quantity
        assert o.filled == traded.get(o.order_id, 0)
        assert o.remaining == resting.get(o.order_id, 0)
        assert o.cancelled_quantity >= 0
    assert sum(o.quantity for o in orders) == (
        sum(traded.values()) + sum(resting.values()) + sum(o.cancelled_quantity for o in orders))
