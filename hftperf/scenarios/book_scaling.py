"""``book-scaling``: time the pure order book's operations at growing depths and fit the growth.

In process, no network: for each depth (10 … 100,000 resting orders) a seeded book is filled
with non-crossing limit orders over many price levels (about five orders a level, denser near
the touch), then four operations are timed with ``time.perf_counter_ns``:

- ``insert``: a resting limit order that does not cross (mostly onto existing levels, now and
  then a new one), one op per sample;
- ``cancel``: a random resting order, one op per sample; each insert is paired with a cancel,
  so the depth stays constant while measuring;
- ``lookup``: order by id; ``best``: best bid / best ask. These take ~0.1 µs, which one timer
  call pair (~0.05 µs) would dominate, so they are timed in batches of ``BATCH`` and each
  sample is the batch's mean (their p99 is a p99 of 16-op means).

Depths are measured in interleaved rounds (``CHUNK`` iterations per depth, depths in seeded
shuffled order) so a burst of load on a shared machine lands on every depth alike instead of
inflating one. The garbage collector is off while timing (as ``timeit`` does): a full
collection walks the whole 100,000-order book and would land in a single sample.

Each operation's median µs against depth goes to :func:`hftperf.complexity.fit_complexity`.
The ``complexity`` figure, which thresholds such as ``complexity <= O(log n)`` judge, is the
worst class among ``GATED_OPERATIONS`` (insert and cancel: the order entry path the platform
claims is O(1)/O(log n)); every operation's class is in ``complexity_by_operation``.
"""

from __future__ import annotations

import gc
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from hftperf.complexity import ComplexityFit, fit_complexity
from hftperf.config import ScenarioConfig, param
from hftperf.histogram import LatencyHistogram
from hftperf.reference_engine.book import BUY, LIMIT, SELL, Book
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.thresholds import COMPLEXITY_CLASSES

__all__ = [
    "BATCH",
    "CHUNK",
    "GATED_OPERATIONS",
    "OPERATIONS",
    "BookScaling",
    "BookScalingParams",
    "Operation",
    "ScalingRun",
    "measure_scaling",
]

Operation = Literal["insert", "cancel", "lookup", "best"]
OPERATIONS: tuple[Operation, ...] = ("insert", "cancel", "lookup", "best")
GATED_OPERATIONS: tuple[Operation, ...] = ("insert", "cancel")
BATCH = 16  # lookups / best-price reads per timed sample
CHUNK = 50  # iterations per depth before the next depth's turn
MID_TICKS = 1_000_000
ORDERS_PER_LEVEL = 5  # average resting orders per price level
_MAX_DEPTH = 1_000_000
_BEST_PAIRS = range(BATCH // 2)  # each pass reads best_bid and best_ask


def _check_depths(depths: tuple[int, ...]) -> None:
    if len(set(depths)) < 2:
        raise ValueError(f"expected at least 2 distinct depths, got {list(depths)}")
    if len(set(depths)) != len(depths) or any(not 1 <= d <= _MAX_DEPTH for d in depths):
        raise ValueError(f"expected distinct depths from 1 to {_MAX_DEPTH:,}, got {list(depths)}")


def _check_operations(operations: tuple[str, ...]) -> None:
    if not operations or len(set(operations)) != len(operations):
        raise ValueError(f"expected a non-empty list of distinct operations, got {list(operations)}")


@dataclass(frozen=True)
class BookScalingParams:
    """``book-scaling`` keys: the depths, samples per operation and depth, operations timed."""

    depths: tuple[int, ...] = param(default=(10, 100, 1_000, 10_000, 100_000), check=_check_depths)
    samples_per_depth: int = param(default=2000, min=1)
    operations: tuple[Operation, ...] = param(default=OPERATIONS, check=_check_operations)


class _DepthState:
    """One book at one depth, the ids of its resting orders, and its price distribution."""

    def __init__(self, depth: int, seed: int, book_factory: Callable[[str], Book]) -> None:
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


def _timer_overhead_ns() -> int:
    now = time.perf_counter_ns
    gaps = []
    for _ in range(1000):
        t0 = now()
        gaps.append(now() - t0)
    return int(np.median(gaps))


def measure_scaling(
    params: BookScalingParams, *, seed: int, warmup_s: float, budget_s: float,
    stop_requested: Callable[[], bool] = lambda: False, book_factory: Callable[[str], Book] = Book,
) -> ScalingRun:
    """Fill a book per depth, warm up for ``warmup_s`` (unrecorded), then time interleaved rounds
    until every depth has ``samples_per_depth`` samples, ``budget_s`` has passed, or a stop."""
    depths = tuple(sorted(params.depths))
    operations = frozenset(params.operations)
    order_rng = random.Random(f"book-scaling:{seed}:order")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # also while filling: gen-2 passes over a growing book would double its cost
    try:
        states = [_DepthState(depth, seed, book_factory) for depth in depths]
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
    return samples[operations[0]]


def _per_op_ns(run: ScalingRun, op: str, depth: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = np.asarray(run.samples_ns[op][depth], dtype=np.float64)
    return values / BATCH if op in ("lookup", "best") else values


def _stats_us(per_op_ns: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    """p50/p99/mean in µs and the half-width of a distribution-free 95 % CI of the median."""
    ordered = np.sort(per_op_ns) / 1000.0
    m = ordered.size
    half = 1.96 * math.sqrt(m) / 2
    lo, hi = max(0, math.floor(m / 2 - half)), min(m - 1, math.ceil(m / 2 + half))
    return {
        "p50_us": float(np.median(ordered)),
        "p99_us": float(np.percentile(ordered, 99)),
        "mean_us": float(ordered.mean()),
        "median_ci_us": float(ordered[hi] - ordered[lo]) / 2,
    }


def _histogram(per_op_ns: np.ndarray[Any, np.dtype[np.float64]]) -> LatencyHistogram:
    """µs histogram, values rounded *up* to whole µs so that it never understates a latency."""
    histogram = LatencyHistogram()
    histogram.record_many(np.ceil(per_op_ns / 1000.0).astype(np.int64))
    return histogram


def _worst(classes: list[str]) -> str | None:
    return max(classes, key=COMPLEXITY_CLASSES.index) if classes else None


def _summarise(run: ScalingRun) -> tuple[dict[str, Any], dict[str, LatencyHistogram]]:
    """Figures (table, fits, complexity) and the per-op histograms at the largest depth."""
    measured = [d for d in run.depths if all(run.samples_ns[op][d] for op in run.operations)]
    table: list[dict[str, Any]] = []
    stats: dict[str, dict[int, dict[str, float]]] = {op: {} for op in run.operations}
    for depth in measured:
        row: dict[str, Any] = {"depth": depth, "price_levels": 2 * run.price_levels[depth]}
        for op in run.operations:
            stats[op][depth] = _stats_us(_per_op_ns(run, op, depth))
            row[f"{op}_samples"] = len(run.samples_ns[op][depth])
            row.update({f"{op}_{key}": value for key, value in stats[op][depth].items()})
        table.append(row)
    fits: dict[str, ComplexityFit] = {}
    if len(measured) >= 2:
        for op in run.operations:
            medians = [stats[op][d]["p50_us"] for d in measured]
            if all(m > 0 for m in medians):
                fits[op] = fit_complexity(measured, medians, [stats[op][d]["median_ci_us"] for d in measured])
    gated: list[str] = [op for op in GATED_OPERATIONS if op in fits] or list(fits)
    figures: dict[str, Any] = {
        "complexity": _worst([fits[op].best for op in gated]),
        "complexity_operations": gated,
        "complexity_by_operation": {op: fit.best for op, fit in fits.items()},
        "table": table,
        "fits": {op: fit.to_dict() for op, fit in fits.items()},
    }
    if not measured:
        return figures, {}
    return figures, {op: _histogram(_per_op_ns(run, op, measured[-1])) for op in run.operations}


class BookScaling:
    """Complexity check of the pure order book: per-op latency at growing depths, fitted."""

    kind = "book-scaling"
    summary = "time insert/cancel/lookup/best on the in-process book at growing depths; fit O(1)..O(n^2)"
    params_type = BookScalingParams

    def __init__(self, book_factory: Callable[[str], Book] = Book) -> None:
        """``book_factory(symbol)`` makes the books measured (tests pass a deliberately slow one)."""
        self.book_factory = book_factory

    def run(self, config: ScenarioConfig, params: BookScalingParams, context: RunContext) -> ScenarioOutcome:
        """Measure every depth within ``duration`` per depth, after an unrecorded warm-up."""
        overhead_ns = _timer_overhead_ns()
        run = measure_scaling(params, seed=config.seed, warmup_s=config.warmup_s,
                              budget_s=config.duration_s * len(params.depths),
                              stop_requested=context.stop_requested, book_factory=self.book_factory)
        figures, histograms = _summarise(run)
        figures |= {
            "samples_per_depth": params.samples_per_depth,
            "batched_operations": {op: BATCH for op in ("lookup", "best") if op in params.operations},
            "timer_overhead_ns": overhead_ns,
            "histogram_rounding": "per-op µs rounded up (sub-µs operations record as 1 µs)",
            "build_s": {str(depth): seconds for depth, seconds in run.build_s.items()},
            "wall_s": run.wall_s,
            "budget_exhausted": run.budget_exhausted,
        }
        operations = sum(len(run.samples_ns[op][d]) * (BATCH if op in ("lookup", "best") else 1)
                         for op in run.operations for d in run.depths)
        headline = "insert" if "insert" in histograms else next(iter(histograms), None)
        return ScenarioOutcome(
            kind="complexity",
            figures=figures,
            extra_histograms=histograms,
            operations=operations,
            duration_s=run.measured_ns / 1e9,  # time inside the timers: throughput = book ops/s
            latency=histograms[headline] if headline else None,
            interrupted=run.interrupted,
        )
