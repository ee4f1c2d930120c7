"""The statistics of a comparison, all from scipy.stats; this module only chooses and combines them.

- Independent samples (two runs, or their intervals): Mann-Whitney U (two-sided) for "is there a
  shift", and a bootstrap confidence interval of the ratio of medians for "how large".
- Paired samples (``ab`` rounds, A and B measured back to back): the Wilcoxon signed-rank test
  on the per-round relative changes, and a bootstrap interval of their median.
- Counts (error rates of single runs): Fisher's exact test on the 2x2 table of failed / ok.
- Several metrics of one scenario are tested at once, so p-values are adjusted with
  Benjamini-Hochberg (``scipy.stats.false_discovery_control``): when nothing changed, the chance
  that *any* metric is called significant stays at alpha, not alpha times the number of metrics.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hftperf.compare.metrics import Metric

__all__ = [
    "MIN_SAMPLES",
    "Estimate",
    "Verdict",
    "adjust_p_values",
    "independent",
    "paired",
    "proportions",
    "smallest_p_value",
    "verdict",
]

def _stats() -> Any:
    """scipy.stats, imported on first use: every other command starts without scipy's ~40 MB."""
    from scipy import stats

    return stats


MIN_SAMPLES = 3  # per side; below this no test can reach significance at any usual alpha
_RESAMPLES = 2000
_SEED = 20261124  # the bootstrap is seeded: the same inputs give the same interval


class Verdict(enum.StrEnum):
    """What a comparison says about one metric."""

    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "no significant change"
    INSUFFICIENT = "insufficient data"
    INCONCLUSIVE = "inconclusive"  # a side's load generator fell behind: its samples do not measure the target


@dataclass(frozen=True)
class Estimate:
    """A change between base and head with its uncertainty.

    ``change`` and the interval are in percent of the base value, or in absolute units for
    absolute metrics (the error rate: percentage points). None: not computable (no samples,
    a zero base). ``p_value`` is the raw two-sided p-value.
    """

    base: float | None  # the base side's median (or rate)
    head: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_base: int
    n_head: int


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def _bootstrap_ci(data: tuple[np.ndarray, ...], statistic, confidence: float) -> tuple[float | None, float | None]:  # type: ignore[no-untyped-def]
    """Percentile bootstrap interval of ``statistic``; the point itself when the data are constant."""
    if all(np.ptp(sample) == 0 for sample in data):
        point = float(statistic(*data, axis=-1))
        return point, point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = _stats().bootstrap(data, statistic, n_resamples=_RESAMPLES, confidence_level=confidence,
                                 method="percentile", vectorized=True, rng=np.random.default_rng(_SEED))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (low, high) if np.isfinite(low) and np.isfinite(high) else (None, None)


def _relative(value: float | None, base: float) -> float | None:
    return None if value is None else (value / base - 1.0) * 100.0


def independent(base: Sequence[float], head: Sequence[float], *, absolute: bool = False,
                confidence: float = 0.95) -> Estimate:
    """Compare two independent samples: Mann-Whitney U and the bootstrap ratio of medians."""
    a, b = _clean(base), _clean(head)
    base_median = float(np.median(a)) if a.size else None
    head_median = float(np.median(b)) if b.size else None
    if a.size < MIN_SAMPLES or b.size < MIN_SAMPLES or base_median is None or head_median is None:
        change = None
        if base_median is not None and head_median is not None:
            change = (head_median - base_median) * 100 if absolute else (
                _relative(head_median, base_median) if base_median else None)
        return Estimate(base_median, head_median, change, None, None, None, int(a.size), int(b.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_value = float(_stats().mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if not np.isfinite(p_value):
        p_value = 1.0  # every value tied: no evidence of a shift
    if absolute:
        def diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
            return (np.median(y, axis=axis) - np.median(x, axis=axis)) * 100

        low, high = _bootstrap_ci((a, b), diff, confidence)
        return Estimate(base_median, head_median, (head_median - base_median) * 100, low, high, p_value,
                        int(a.size), int(b.size))
    if base_median <= 0 or np.any(a <= 0):
        change = 0.0 if head_median == base_median else None
        return Estimate(base_median, head_median, change, None, None, p_value, int(a.size), int(b.size))

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    low, high = _bootstrap_ci((a, b), ratio, confidence)
    return Estimate(base_median, head_median, _relative(head_median, base_median), _relative(low, 1.0),
                    _relative(high, 1.0), p_value, int(a.size), int(b.size))


def paired(base: Sequence[float], head: Sequence[float], *, absolute: bool = False,
           confidence: float = 0.95) -> Estimate:
    """Compare paired rounds: per-round change head/base, Wilcoxon signed-rank, bootstrap median.

    Rounds where the base value is zero (or either is missing) are left out of a relative change.
    """
    a, b = np.asarray(base, dtype=float), np.asarray(head, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b) & (True if absolute else a > 0)
    a, b = a[keep], b[keep]
    n = int(a.size)
    base_median = float(np.median(a)) if n else None
    head_median = float(np.median(b)) if n else None
    changes = (b - a) * 100 if absolute else (b / a - 1.0) * 100 if n else np.array([])
    point = float(np.median(changes)) if n else None
    if n < MIN_SAMPLES:
        return Estimate(base_median, head_median, point, None, None, None, n, n)
    if np.all(changes == 0):
        p_value = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_value = float(_stats().wilcoxon(changes, alternative="two-sided").pvalue)
        p_value = p_value if np.isfinite(p_value) else 1.0

    def median(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(x, axis=axis)

    low, high = _bootstrap_ci((changes,), median, confidence)
    return Estimate(base_median, head_median, point, low, high, p_value, n, n)


def proportions(failed_base: int, total_base: int, failed_head: int, total_head: int) -> Estimate:
    """Error rates of two single runs: Fisher's exact test; change in percentage points."""
    if total_base <= 0 or total_head <= 0:
        return Estimate(None, None, None, None, None, None, total_base, total_head)
    rate_a, rate_b = failed_base / total_base, failed_head / total_head
    if failed_base == failed_head == 0:
        p_value = 1.0
    else:
        table = [[failed_base, total_base - failed_base], [failed_head, total_head - failed_head]]
        p_value = float(_stats().fisher_exact(table).pvalue)
    return Estimate(rate_a, rate_b, (rate_b - rate_a) * 100, None, None, p_value, total_base, total_head)


def smallest_p_value(n_base: int, n_head: int, is_paired: bool) -> float:
    """The smallest two-sided p-value the test can give with these sample sizes (exact, no ties).

    Paired: Wilcoxon signed-rank, every round moving the same way, 2 / 2**n. Independent:
    Mann-Whitney U, the two samples fully separated, 2 / C(n_base + n_head, n_base).
    """
    if is_paired:
        return min(1.0, 2.0 / 2.0 ** n_base)
    return min(1.0, 2.0 / math.comb(n_base + n_head, n_base))


def adjust_p_values(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values; None stays None."""
    present = [p for p in p_values if p is not None]
    if not present:
        return list(p_values)
    adjusted = iter(_stats().false_discovery_control(np.asarray(present, dtype=float), method="bh"))
    return [None if p is None else float(next(adjusted)) for p in p_values]


def verdict(metric: Metric, estimate: Estimate, p_value: float | None, tolerance: float, alpha: float) -> Verdict:
    """Regression / improvement only when significant at ``alpha`` *and* clearly beyond ``tolerance``.

    "Clearly": the whole confidence interval of the change lies beyond the tolerance, not just
    its point estimate (where there is no interval, as for error-rate counts, the point decides).
    A change of exactly the tolerance is then called about never, not half of the time, and a
    noisy metric whose interval straddles the tolerance is not called at all.
    """
    change = estimate.change
    if change is None or p_value is None:
        return Verdict.INSUFFICIENT
    if p_value >= alpha:
        return Verdict.UNCHANGED
    sign = 1.0 if metric.higher_is_worse else -1.0
    if estimate.ci_low is None or estimate.ci_high is None:
        nearest_worse = nearest_better = sign * change
    else:
        bounds = (sign * estimate.ci_low, sign * estimate.ci_high)
        nearest_worse, nearest_better = min(bounds), max(bounds)
    if nearest_worse > tolerance:
        return Verdict.REGRESSION
    if nearest_better < -tolerance:
        return Verdict.IMPROVEMENT
    return Verdict.UNCHANGED
