"""In-process timing of an order book at several depths, for ``book-scaling``.

The book is reached only through :class:`OrderBook` (the bundled stack's ``Book`` is the registered
one, ``BOOK_FACTORIES``). For each depth a seeded book is filled with non-crossing limit orders over
many price levels (about five orders a level, denser near the touch); then insert + cancel pairs
(the depth stays constant), lookups and best-price reads are timed with ``time.perf_counter_ns``,
the sub-µs reads ``BATCH`` at a time. Depths take turns in seeded shuffled rounds of ``CHUNK``
iterations, so a burst of load on a shared machine lands on every depth alike; the garbage collector
is off meanwhile (as ``timeit`` does), as a full collection walks the whole book. The outcome is raw
nanoseconds (:class:`ScalingRun`); ``book_figures`` turns them into figures.
"""

from __future__ import annotations

import gc
import importlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "BATCH",
    "BATCHED_OPERATIONS",
    "BOOK_FACTORIES",
    "CHUNK",
    "MAX_DEPTH",
    "OPERATIONS",
    "BookFactory",
    "Operation",
    "OrderBook",
    "ScalingPlan",
    "ScalingRun",
    "measure_scaling",
    "registered_book",
    "timer_overhead_ns",
]

# -- the book this scenario measures: an interface of its own, implemented by the target's book --

BUY, SELL = 1, 2  # the side codes a measured book takes
LIMIT = 1  # the order-type code of a limit order


class _Order(Protocol):
    order_id: int


class _Execution(Protocol):
    @property
    def order(self) -> _Order: ...


class OrderBook(Protocol):
    """What book-scaling needs of an in-process order book (the bundled stack's ``Book`` is one)."""

    index: Any  # the resting orders by id (its len is the depth)

    @property
    def best_bid(self) -> int | None: ...

    @property
    def best_ask(self) -> int | None: ...

    def submit(self, side: int, order_type: int, price_ticks: int, quantity: int) -> _Execution: ...

    def cancel(self, order_id: int) -> object: ...

    def get(self, order_id: int) -> object: ...


BookFactory = Callable[[str], OrderBook]  # symbol -> an empty book

# Books by name, as "module:attribute" of a BookFactory (imported on use: one line per book).
BOOK_FACTORIES: dict[str, str] = {"reference": "hftperf.reference_engine.book:Book"}


def registered_book(name: str = "reference") -> BookFactory:
    """The registered factory of that name."""
    module, _, attribute = BOOK_FACTORIES[name].partition(":")
    factory: BookFactory = getattr(importlib.import_module(module), attribute)
    return factory


# -- the timing ------------------------------------------------------------------------------

Operation = Literal["insert", "cancel", "lookup", "best"]
OPERATIONS: tuple[Operation, ...] = ("insert", "cancel", "lookup", "best")
BATCH = 16  # lookups / best-price reads per timed sample
BATCHED_OPERATIONS: tuple[Operation, ...] = ("lookup", "best")  # timed BATCH at a time
CHUNK = 50  # iterations per depth before the next depth's turn
MID_TICKS = 1_000_000
ORDERS_PER_LEVEL = 5  # average resting orders per price level
MAX_DEPTH = 1_000_000  # the largest depth a run may ask for
_BEST_PAIRS = range(BATCH // 2)  # each pass reads best_bid and best_ask


class ScalingPlan(Protocol):
    """What :func:`measure_scaling` is asked for (``BookScalingParams`` is one)."""

    @property
    def depths(self) -> tuple[int, ...]: ...

    @property
    def samples_per_depth(self) -> int: ...

    @property
    def operations(self) -> tuple[Operation, ...]: ...


class _DepthState:
    """One book at one depth, the ids of its resting orders, and its price distribution."""

    def __init__(self, depth: int, seed: int, book_factory: BookFactory) -> None:
        self.depth = depth
        self.rng = random.Random(f"book-scaling:{seed}:{depth}")
        self.levels = max(1, math.ceil(depth / (2 * ORDERS_PER_LEVEL)))  # per side
        self.book = book_factory("SCALE")
        self.samples: dict[str, list[int]] = {op: [] for op in OPERATIONS}
        started = time.perf_counter()
        rng, submit = self.rng, self.book.submit
        ids: list[int] = []
        for i in range(depth):
            if i < 2 * self.levels:  # one order on every level first, then the distribution
                side, price = self._price(i % 2 + 1, i // 2)
            else:
                side, price = self.draw()
            ids.append(submit(side, LIMIT, price, rng.randint(1, 100)).order.order_id)
        self.ids = ids
        self.build_s = time.perf_counter() - started

    def _price(self, side: int, level: int) -> tuple[int, int]:
        return side, (MID_TICKS - 1 - level if side == BUY else MID_TICKS + 1 + level)

    def draw(self) -> tuple[int, int]:
        """A random non-crossing (side, price): exponentially fewer orders away from the touch."""
        level = int(self.rng.expovariate(3.0 / self.levels)) % self.levels
        return self._price(BUY if self.rng.random() < 0.5 else SELL, level)

    def run_chunk(self, count: int, operations: frozenset[str], record: bool) -> int:
        """``count`` iterations of the enabled operations; returns the ns spent inside timers."""
        book, ids, rng = self.book, self.ids, self.rng
        submit, cancel, get = book.submit, book.cancel, book.get
        now = time.perf_counter_ns
        churn = "insert" in operations or "cancel" in operations
        lookup, best = "lookup" in operations, "best" in operations
        out = self.samples if record else {op: [] for op in OPERATIONS}
        inserts, cancels, lookups, bests = out["insert"], out["cancel"], out["lookup"], out["best"]
        randrange, size, spent = rng.randrange, len(ids), 0
        for _ in range(count):
            if churn:
                side, price = self.draw()
                quantity, slot = rng.randint(1, 100), randrange(size)
                victim = ids[slot]
                t0 = now()
                execution = submit(side, LIMIT, price, quantity)
                t1 = now()
                cancel(victim)  # a random resting order (never the one just inserted)
                t2 = now()
                ids[slot] = execution.order.order_id
                inserts.append(t1 - t0)
                cancels.append(t2 - t1)
                spent += t2 - t0
            if lookup:
                wanted = [ids[randrange(size)] for _ in range(BATCH)]
                t0 = now()
                for order_id in wanted:
                    get(order_id)
                t1 = now()
                lookups.append(t1 - t0)
                spent += t1 - t0
            if best:
                t0 = now()
                for _ in _BEST_PAIRS:
                    bid, ask = book.best_bid, book.best_ask  # noqa: F841 - the reads are the work
                t1 = now()
                bests.append(t1 - t0)
                spent += t1 - t0
        return spent


@dataclass(frozen=True)
class ScalingRun:
    """Raw outcome of :func:`measure_scaling`: per-op ns samples per depth and bookkeeping."""

    depths: tuple[int, ...]
    operations: tuple[Operation, ...]
    samples_ns: dict[str, dict[int, list[int]]]  # op -> depth -> ns per sample (batch totals)
    price_levels: dict[int, int]  # depth -> levels per side
    build_s: dict[int, float]
    measured_ns: int  # time spent inside the timers
    wall_s: float  # warm-up excluded
    budget_exhausted: bool = False
    interrupted: bool = False
    final_depths: dict[int, int] = field(default_factory=dict)  # resting orders after measuring


def timer_overhead_ns() -> int:
    """The median gap between two ``perf_counter_ns`` calls (what one timed sample includes)."""
    now = time.perf_counter_ns
    gaps = []
    for _ in range(1000):
        t0 = now()
        gaps.append(now() - t0)
    return int(np.median(gaps))


def measure_scaling(
    params: ScalingPlan, *, seed: int, warmup_s: float, budget_s: float,
    stop_requested: Callable[[], bool] = lambda: False, book_factory: BookFactory | None = None,
) -> ScalingRun:
    """Fill a book per depth, warm up for ``warmup_s`` (unrecorded), then time interleaved rounds
    until every depth has ``samples_per_depth`` samples, ``budget_s`` has passed, or a stop."""
    depths = tuple(sorted(params.depths))
    operations = frozenset(params.operations)
    order_rng = random.Random(f"book-scaling:{seed}:order")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # also while filling: gen-2 passes over a growing book would double its cost
    try:
        new_book = book_factory if book_factory is not None else registered_book()
        states = [_DepthState(depth, seed, new_book) for depth in depths]
        warm_until = time.perf_counter() + warmup_s
        while warmup_s > 0 and time.perf_counter() < warm_until and not stop_requested():
            for state in states:
                state.run_chunk(CHUNK, operations, record=False)
        started = time.perf_counter()
        deadline = started + budget_s
        measured_ns, exhausted, interrupted = 0, False, False
        while not interrupted and not exhausted:
            pending = [s for s in states if len(_first(s.samples, params.operations)) < params.samples_per_depth]
            if not pending:
                break
            order_rng.shuffle(pending)
            for state in pending:
                if stop_requested():
                    interrupted = True
                    break
                if time.perf_counter() >= deadline:
                    exhausted = True
                    break
                left = params.samples_per_depth - len(_first(state.samples, params.operations))
                measured_ns += state.run_chunk(min(CHUNK, left), operations, record=True)
        wall_s = time.perf_counter() - started
    finally:
        if gc_was_enabled:
            gc.enable()
    return ScalingRun(
        depths=depths, operations=params.operations,
        samples_ns={op: {s.depth: s.samples[op] for s in states} for op in params.operations},
        price_levels={s.depth: s.levels for s in states}, build_s={s.depth: s.build_s for s in states},
        measured_ns=measured_ns, wall_s=wall_s, budget_exhausted=exhausted, interrupted=interrupted,
        final_depths={s.depth: len(s.book.index) for s in states},
    )


def _first(samples: dict[str, list[int]], operations: tuple[Operation, ...]) -> list[int]:
    """The samples of the first operation timed (every timed operation has as many)."""
    return samples[operations[0]]
