"""Fit measured cost against problem size and name its growth class (O(1) … O(n^2)).

Pure and IO-free. Given sizes ``n`` and the median cost per operation at each size (µs, with an
optional spread), every candidate model ``cost = a·f(n) + b`` with ``f`` in ``1, log n, n,
n log n, n^2`` is fitted by weighted least squares with ``a, b >= 0`` (a fixed cost and a growth
term cannot be negative). The weights are ``1/cost²``, so residuals are *relative*: each size
counts alike whether it costs 0.1 µs or 100 µs, and the shape across decades decides.

The classification rule (thresholds are keyword arguments with the defaults below):

1. **Flat is O(1).** When ``growth_ratio`` (cost at the largest size / cost at the smallest)
   is at most ``constant_ratio`` (1.5), the class is ``O(1)``: on a shared machine, medians
   move by tens of percent between runs, and a 50 % rise over several decades of size is not
   evidence of an algorithm that grows.
2. **A growth term must be work.** ``O(n)``, ``O(n log n)`` and ``O(n^2)`` mean work per
   element (per element pair). Such a model is admissible only if its fitted ``a``, the cost
   of one step, is at least ``min_step_cost_us`` (5e-5 µs = 50 ps: the cheapest honest step
   is a memmove of one pointer, and CPython's ``list.insert`` into a 100,000-element list
   costs about 200 ps per element moved) *and* the growth it stands for over the measured
   range, ``a·(f(n_max) - f(n_min))``, is at least ``min_growth_us`` (3 µs). Anything less is
   the memory hierarchy, not an algorithm: once a structure outgrows the caches every random
   access costs more, a bounded rise (a few dozen misses to DRAM at most, ~0.1 µs each) that
   a straight line fits well over a few decades. Measured on the reference book: cancel, an
   O(1) unlink, rises 0.2-0.3 µs from 10 to 1,000 orders (a line through it needs 150-300 ps
   per order) and 0.9-1.4 µs from 10 to 100,000 (~10 ps per order). Inadmissible models stay in
   ``models`` with their residuals. Caches slow an operation by a bounded factor, so when
   ``growth_ratio`` exceeds ``memory_ratio`` (10) the step floor is lifted (the growth floor
   stays). Both floors are absolute: costs must be in µs.
3. **The slowest-growing model that explains the data wins.** Among the admissible growing
   models (O(log n) always is), take the one with the smallest relative RMS residual; the
   answer is the slowest-growing admissible model whose residual is within ``tolerance`` of
   it. ``tolerance`` is ``rel_tolerance`` (0.05, i.e. 5 % of the cost) or the median relative
   spread of the inputs, whichever is larger, so noisy data needs a clearly better fit before
   a faster-growing class is named.

The class describes growth over the measured range of sizes; ``best_fit`` (the smallest
residual, before the rules) and every model's figures are kept so a reader can disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CONSTANT_RATIO",
    "MEMORY_RATIO",
    "MIN_GROWTH_US",
    "MIN_STEP_COST_US",
    "MODELS",
    "REL_TOLERANCE",
    "ComplexityFit",
    "ModelFit",
    "fit_complexity",
]

CONSTANT_RATIO = 1.5  # growth_ratio at or below this is O(1)
MIN_STEP_COST_US = 5e-5  # 0.05 ns: the cheapest per-element step a growth term can stand for
REL_TOLERANCE = 0.05  # residuals within 5 % of the best fit count as explaining the data
MIN_GROWTH_US = 3.0  # a per-element term must add at least this much over the range
MEMORY_RATIO = 10.0  # growth up to this factor may be cache effects (rule 2 applies)

FloatArray = npt.NDArray[np.float64]

# Growth terms f(n), slowest first; names are the classes thresholds compare.
MODELS: dict[str, Callable[[FloatArray], FloatArray]] = {
    "O(1)": np.zeros_like,
    "O(log n)": np.log,
    "O(n)": lambda n: n,
    "O(n log n)": lambda n: n * np.log(n),
    "O(n^2)": lambda n: n * n,
}
_PER_ELEMENT = frozenset({"O(n)", "O(n log n)", "O(n^2)"})


@dataclass(frozen=True)
class ModelFit:
    """One fitted model ``cost_us = a·f(n) + b`` (a in µs per unit of f, b in µs)."""

    a: float
    b: float
    r2: float  # 1 - residual / residual of the constant model (relative residuals)
    rel_rmse: float  # RMS of (fitted - measured) / measured
    admissible: bool  # False: a per-element term too small to be real work (rule 2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"a": self.a, "b": self.b, "r2": self.r2, "rel_rmse": self.rel_rmse, "admissible": self.admissible}


@dataclass(frozen=True)
class ComplexityFit:
    """The fits of every model, the growth figures, and the chosen class with the reason."""

    best: str  # the chosen class, e.g. "O(log n)" (what a ``complexity`` threshold compares)
    models: Mapping[str, ModelFit]
    growth_ratio: float  # cost at the largest size / cost at the smallest
    slope_loglog: float  # least-squares slope of ln(cost) against ln(n)
    best_fit: str  # the model with the smallest residual, before rules 1-3
    tolerance: float  # residual margin used by rule 3
    reason: str  # one line: which rule decided
    sizes: tuple[int, ...]
    costs_us: tuple[float, ...]
    spread_us: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for result figures."""
        return {
            "best": self.best,
            "models": {name: fit.to_dict() for name, fit in self.models.items()},
            "growth_ratio": self.growth_ratio,
            "slope_loglog": self.slope_loglog,
            "best_fit": self.best_fit,
            "tolerance": self.tolerance,
            "reason": self.reason,
            "sizes": list(self.sizes),
            "costs_us": list(self.costs_us),
            "spread_us": None if self.spread_us is None else list(self.spread_us),
        }


def _nnls_line(x: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float]:
    """Weighted least squares ``y ≈ a·x + b`` with a, b >= 0 (x >= 0, y > 0).

    The objective is a convex quadratic, so the optimum is the unconstrained one when that is
    feasible, else the better of the two edges a = 0 and b = 0.
    """
    sw, sx, sy = w.sum(), (w * x).sum(), (w * y).sum()
    sxx, sxy = (w * x * x).sum(), (w * x * y).sum()
    det = sw * sxx - sx * sx
    if det > 1e-12 * sw * sxx:
        a = (sw * sxy - sx * sy) / det
        b = (sy - a * sx) / sw
        if a >= 0 and b >= 0:
            return float(a), float(b)
    edges = [(0.0, float(sy / sw))]
    if sxx > 0:
        edges.append((float(sxy / sxx), 0.0))
    return min(edges, key=lambda ab: float((w * (ab[0] * x + ab[1] - y) ** 2).sum()))


def _validated(sizes: Sequence[int], costs_us: Sequence[float],
               spread_us: Sequence[float] | None) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Arrays sorted by size; ValueError for inputs that cannot be fitted."""
    if len(sizes) != len(costs_us) or (spread_us is not None and len(spread_us) != len(sizes)):
        raise ValueError("sizes, costs_us and spread_us must have the same length")
    if len(sizes) < 2:
        raise ValueError(f"need at least 2 sizes to fit growth, got {len(sizes)}")
    n = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(costs_us, dtype=np.float64)
    if not np.all(np.isfinite(n)) or np.any(n < 1):
        raise ValueError(f"sizes must be >= 1, got {list(sizes)}")
    if len(np.unique(n)) != len(n):
        raise ValueError(f"sizes must be distinct, got {list(sizes)}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError(f"costs must be positive and finite, got {list(costs_us)}")
    order = np.argsort(n)
    spread = None
    if spread_us is not None:
        spread = np.asarray(spread_us, dtype=np.float64)
        if not np.all(np.isfinite(spread)) or np.any(spread < 0):
            raise ValueError(f"spreads must be >= 0 and finite, got {list(spread_us)}")
        spread = spread[order]
    return n[order], y[order], spread


def _fit_models(n: FloatArray, y: FloatArray, min_step_cost_us: float, min_growth_us: float) -> dict[str, ModelFit]:
    """Every model's NNLS fit; a per-element model below either floor of rule 2 is inadmissible."""
    w = 1.0 / (y * y)
    mean = float((w * y).sum() / w.sum())
    ss_const = float(((mean - y) / y) @ ((mean - y) / y))
    fits: dict[str, ModelFit] = {}
    for name, f in MODELS.items():
        x = f(n)
        top = float(x.max())
        if top > 0:  # fit on x / max(x): keeps n^2 at 1e5 well conditioned
            a_scaled, b = _nnls_line(x / top, y, w)
            a = a_scaled / top
        else:
            a, b = 0.0, mean
        rel = (a * x + b - y) / y
        ss = float(rel @ rel)
        r2 = 1.0 - ss / ss_const if ss_const > 0 else 1.0
        growth_us = a * float(x[-1] - x[0])
        admissible = name not in _PER_ELEMENT or (a > 0 and a >= min_step_cost_us and growth_us >= min_growth_us)
        fits[name] = ModelFit(a=a, b=b, r2=r2, rel_rmse=math.sqrt(ss / len(y)), admissible=admissible)
    return fits


def _choose(fits: Mapping[str, ModelFit], growth_ratio: float, tolerance: float,
            constant_ratio: float) -> tuple[str, str]:
    """Rules 1 and 3: the chosen class and the reason, in words."""
    if growth_ratio <= constant_ratio:
        return "O(1)", f"growth ratio {growth_ratio:.3g} <= {constant_ratio:g}"
    candidates = [name for name, fit in fits.items() if fit.admissible and name != "O(1)"]
    floor = min(fits[name].rel_rmse for name in candidates)
    best = next(name for name in candidates if fits[name].rel_rmse <= floor + tolerance)
    reason = (f"growth ratio {growth_ratio:.3g}; slowest admissible model within {tolerance:.3g} of the best "
              f"relative residual ({fits[best].rel_rmse:.3g} vs {floor:.3g})")
    rejected = [name for name, fit in fits.items()
                if not fit.admissible and fit.a > 0 and fit.rel_rmse < fits[best].rel_rmse - tolerance]
    if rejected:
        reason += (f"; {', '.join(rejected)} fit better but stand for too little work "
                   f"({fits[rejected[0]].a * 1e6:.3g} ps per step): the memory hierarchy")
    return best, reason


def fit_complexity(
    sizes: Sequence[int],
    costs_us: Sequence[float],
    spread_us: Sequence[float] | None = None,
    *,
    constant_ratio: float = CONSTANT_RATIO,
    rel_tolerance: float = REL_TOLERANCE,
    min_step_cost_us: float = MIN_STEP_COST_US,
    min_growth_us: float = MIN_GROWTH_US,
    memory_ratio: float = MEMORY_RATIO,
) -> ComplexityFit:
    """Fit every model to ``costs_us`` (median µs per operation at each size) and classify.

    ``spread_us`` is the uncertainty of each median (e.g. the half-width of its confidence
    interval); it widens the tolerance of rule 3 when larger than ``rel_tolerance``. Sizes
    must be distinct and >= 1, costs positive; at least two sizes. See the module docstring.
    """
    n, y, spread = _validated(sizes, costs_us, spread_us)
    growth_ratio = float(y[-1] / y[0])
    bounded = growth_ratio <= memory_ratio
    fits = _fit_models(n, y, min_step_cost_us if bounded else 0.0, min_growth_us)
    slope = float(np.polyfit(np.log(n), np.log(y), 1)[0])
    tolerance = rel_tolerance
    if spread is not None:
        tolerance = max(rel_tolerance, float(np.median(spread / y)))
    best_fit = min(fits, key=lambda name: fits[name].rel_rmse)  # dict order: ties go to the slower
    best, reason = _choose(fits, growth_ratio, tolerance, constant_ratio)
    return ComplexityFit(
        best=best, models=fits, growth_ratio=growth_ratio, slope_loglog=slope, best_fit=best_fit,
        tolerance=tolerance, reason=reason, sizes=tuple(int(v) for v in n), costs_us=tuple(float(v) for v in y),
        spread_us=None if spread is None else tuple(float(v) for v in spread),
    )
