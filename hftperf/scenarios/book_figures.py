"""From ``book-scaling``'s raw timings to its figures: the depth table, the growth fits, histograms.

Each operation's per-op cost at each depth (a batch's total divided by ``BATCH`` for the sub-µs
reads) gives p50/p99/mean and a distribution-free 95 % confidence interval of the median; the
medians against depth go to :func:`hftperf.complexity.fit_complexity`. The ``complexity`` figure,
which thresholds such as ``complexity <= O(log n)`` judge, is the worst class among
``GATED_OPERATIONS`` (insert and cancel: the order entry path the platform claims is O(1)/O(log n));
every operation's class is in ``complexity_by_operation``. The shape's figures are typed
(:class:`hftperf.shapes.ComplexityFigures`), the measurement's own bookkeeping is :class:`RunFigures`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hftperf.complexity import ComplexityFit, fit_complexity
from hftperf.histogram import LatencyHistogram
from hftperf.scenarios.book_timing import BATCH, BATCHED_OPERATIONS, Operation, ScalingRun
from hftperf.shapes import ComplexityFigures, DepthRow, FittedModel, OperationFit, OperationStats
from hftperf.thresholds import COMPLEXITY_CLASSES

__all__ = [
    "GATED_OPERATIONS",
    "HISTOGRAM_ROUNDING",
    "RunFigures",
    "operation_count",
    "operation_fit",
    "summarise",
]

GATED_OPERATIONS: tuple[Operation, ...] = ("insert", "cancel")
HISTOGRAM_ROUNDING = "per-op µs rounded up (sub-µs operations record as 1 µs)"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunFigures:
    """The measurement's own figures, written after the shape's (``samples_per_depth`` … ``budget_exhausted``)."""

    samples_per_depth: int  # asked for
    batched_operations: Mapping[str, int]  # op -> operations per timed sample (the batched ones measured)
    timer_overhead_ns: int  # median gap between two timer reads
    build_s: Mapping[int, float]  # depth -> seconds to fill its book
    wall_s: float  # measuring, warm-up excluded
    budget_exhausted: bool  # the time ran out before every depth had its samples

    def to_figures(self) -> dict[str, Any]:
        """The JSON-ready figures (``build_s`` keyed by the depth as text)."""
        return {
            "samples_per_depth": self.samples_per_depth,
            "batched_operations": dict(self.batched_operations),
            "timer_overhead_ns": self.timer_overhead_ns,
            "histogram_rounding": HISTOGRAM_ROUNDING,
            "build_s": {str(depth): seconds for depth, seconds in self.build_s.items()},
            "wall_s": self.wall_s,
            "budget_exhausted": self.budget_exhausted,
        }

    @classmethod
    def of(cls, run: ScalingRun, samples_per_depth: int, timer_overhead_ns: int) -> RunFigures:
        """The figures of ``run``."""
        return cls(samples_per_depth=samples_per_depth,
                   batched_operations={op: BATCH for op in BATCHED_OPERATIONS if op in run.operations},
                   timer_overhead_ns=timer_overhead_ns, build_s=dict(run.build_s), wall_s=run.wall_s,
                   budget_exhausted=run.budget_exhausted)


def operation_count(run: ScalingRun) -> int:
    """Book operations timed (a batched sample counts ``BATCH``)."""
    return sum(len(run.samples_ns[op][d]) * (BATCH if op in BATCHED_OPERATIONS else 1)
               for op in run.operations for d in run.depths)


def _per_op_ns(run: ScalingRun, op: str, depth: int) -> FloatArray:
    values = np.asarray(run.samples_ns[op][depth], dtype=np.float64)
    return values / BATCH if op in BATCHED_OPERATIONS else values


def _stats(per_op_ns: FloatArray) -> OperationStats:
    """Samples, p50/p99/mean in µs and the half-width of a distribution-free 95 % CI of the median."""
    ordered = np.sort(per_op_ns) / 1000.0
    m = ordered.size
    half = 1.96 * math.sqrt(m) / 2
    lo, hi = max(0, math.floor(m / 2 - half)), min(m - 1, math.ceil(m / 2 + half))
    return OperationStats(
        samples=m,
        p50_us=float(np.median(ordered)),
        p99_us=float(np.percentile(ordered, 99)),
        mean_us=float(ordered.mean()),
        median_ci_us=float(ordered[hi] - ordered[lo]) / 2,
    )


def _histogram(per_op_ns: FloatArray) -> LatencyHistogram:
    """µs histogram, values rounded *up* to whole µs so that it never understates a latency."""
    histogram = LatencyHistogram()
    histogram.record_many(np.ceil(per_op_ns / 1000.0).astype(np.int64))
    return histogram


def _worst(classes: list[str]) -> str | None:
    return max(classes, key=COMPLEXITY_CLASSES.index) if classes else None


def operation_fit(fit: ComplexityFit) -> OperationFit:
    """``fit`` as the shape's figures hold it."""
    return OperationFit(
        best=fit.best,
        models={name: FittedModel(m.a, m.b, m.r2, m.rel_rmse, m.admissible) for name, m in fit.models.items()},
        growth_ratio=fit.growth_ratio, slope_loglog=fit.slope_loglog, best_fit=fit.best_fit,
        tolerance=fit.tolerance, reason=fit.reason, sizes=fit.sizes, costs_us=fit.costs_us, spread_us=fit.spread_us,
    )


def summarise(run: ScalingRun) -> tuple[ComplexityFigures, dict[str, LatencyHistogram]]:
    """The shape's figures (table, fits, complexity) and the per-op histograms at the largest depth."""
    measured = [d for d in run.depths if all(run.samples_ns[op][d] for op in run.operations)]
    table = tuple(
        DepthRow(depth=depth, price_levels=2 * run.price_levels[depth],
                 operations={op: _stats(_per_op_ns(run, op, depth)) for op in run.operations})
        for depth in measured
    )
    fits: dict[str, ComplexityFit] = {}
    if len(measured) >= 2:
        for op in run.operations:
            medians = [row.operations[op].p50_us or 0.0 for row in table]
            if all(m > 0 for m in medians):
                spreads = [row.operations[op].median_ci_us or 0.0 for row in table]
                fits[op] = fit_complexity(measured, medians, spreads)
    gated: list[str] = [op for op in GATED_OPERATIONS if op in fits] or list(fits)
    figures = ComplexityFigures(complexity=_worst([fits[op].best for op in gated]), operations=tuple(gated),
                                table=table, fits={op: operation_fit(fit) for op, fit in fits.items()})
    if not measured:
        return figures, {}
    return figures, {op: _histogram(_per_op_ns(run, op, measured[-1])) for op in run.operations}
