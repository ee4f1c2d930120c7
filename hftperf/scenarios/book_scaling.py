"""``book-scaling``: time the pure order book's operations at growing depths and fit the growth.

In process, no network: for each depth (10 … 100,000 resting orders) a seeded book is filled with
non-crossing limit orders, then four operations are timed (``book_timing``):

- ``insert``: a resting limit order that does not cross (mostly onto existing levels, now and
  then a new one), one op per sample;
- ``cancel``: a random resting order, one op per sample; each insert is paired with a cancel,
  so the depth stays constant while measuring;
- ``lookup``: order by id; ``best``: best bid / best ask. These take ~0.1 µs, which one timer
  call pair (~0.05 µs) would dominate, so they are timed in batches of ``BATCH`` and each
  sample is the batch's mean (their p99 is a p99 of 16-op means).

Each operation's median µs against depth is fitted (``book_figures``). The ``complexity`` figure,
which thresholds such as ``complexity <= O(log n)`` judge, is the worst class among
``GATED_OPERATIONS`` (insert and cancel: the order entry path the platform claims is O(1)/O(log n));
every operation's class is in ``complexity_by_operation``. The figures are the complexity shape's
(:class:`hftperf.shapes.ComplexityFigures`) followed by the measurement's own (``RunFigures``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hftperf.config import ScenarioConfig, param
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.scenarios.book_figures import GATED_OPERATIONS, RunFigures, operation_count, summarise
from hftperf.scenarios.book_timing import (
    BATCH,
    BOOK_FACTORIES,
    CHUNK,
    MAX_DEPTH,
    OPERATIONS,
    BookFactory,
    Operation,
    OrderBook,
    ScalingRun,
    measure_scaling,
    registered_book,
    timer_overhead_ns,
)
from hftperf.shapes import COMPLEXITY

__all__ = [
    "BATCH",
    "BOOK_FACTORIES",
    "CHUNK",
    "GATED_OPERATIONS",
    "OPERATIONS",
    "BookFactory",
    "BookScaling",
    "BookScalingParams",
    "Operation",
    "OrderBook",
    "ScalingRun",
    "measure_scaling",
    "registered_book",
]


def _check_depths(depths: tuple[int, ...]) -> None:
    if len(set(depths)) < 2:
        raise ValueError(f"expected at least 2 distinct depths, got {list(depths)}")
    if len(set(depths)) != len(depths) or any(not 1 <= d <= MAX_DEPTH for d in depths):
        raise ValueError(f"expected distinct depths from 1 to {MAX_DEPTH:,}, got {list(depths)}")


def _check_operations(operations: tuple[str, ...]) -> None:
    if not operations or len(set(operations)) != len(operations):
        raise ValueError(f"expected a non-empty list of distinct operations, got {list(operations)}")


@dataclass(frozen=True)
class BookScalingParams:
    """``book-scaling`` keys: the depths, samples per operation and depth, operations timed."""

    depths: tuple[int, ...] = param(default=(10, 100, 1_000, 10_000, 100_000), check=_check_depths)
    samples_per_depth: int = param(default=2000, min=1)
    operations: tuple[Operation, ...] = param(default=OPERATIONS, check=_check_operations)


class BookScaling:
    """Complexity check of the pure order book: per-op latency at growing depths, fitted."""

    kind = "book-scaling"
    summary = "time insert/cancel/lookup/best on the in-process book at growing depths; fit O(1)..O(n^2)"
    params_type = BookScalingParams
    protocols: frozenset[str] = frozenset()  # in process: no target
    ab_refusal = "measures the order book in process, not a target"
    shape = COMPLEXITY

    def planned_s(self, config: ScenarioConfig, params: BookScalingParams) -> float:
        """Warm-up, then the duration bounds each depth."""
        return config.warmup_s + len(params.depths) * config.duration_s

    def __init__(self, book_factory: BookFactory | None = None) -> None:
        """``book_factory(symbol)`` makes the books measured (default: the registered reference book;
        tests pass a deliberately slow one)."""
        self.book_factory = book_factory

    def run(self, config: ScenarioConfig, params: BookScalingParams, context: RunContext) -> ScenarioOutcome:
        """Measure every depth within ``duration`` per depth, after an unrecorded warm-up."""
        overhead_ns = timer_overhead_ns()
        run = measure_scaling(params, seed=config.seed, warmup_s=config.warmup_s,
                              budget_s=config.duration_s * len(params.depths),
                              stop_requested=context.stop_requested, book_factory=self.book_factory)
        shape_figures, histograms = summarise(run)
        figures = {**shape_figures.to_figures(),
                   **RunFigures.of(run, params.samples_per_depth, overhead_ns).to_figures()}
        headline = "insert" if "insert" in histograms else next(iter(histograms), None)
        return ScenarioOutcome(
            kind=COMPLEXITY,
            figures=figures,
            extra_histograms=histograms,
            operations=operation_count(run),
            duration_s=run.measured_ns / 1e9,  # time inside the timers: throughput = book ops/s
            latency=histograms[headline] if headline else None,
            interrupted=run.interrupted,
        )
