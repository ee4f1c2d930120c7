"""The comparison statistics on synthetic samples from known distributions."""

from __future__ import annotations

import numpy as np
import pytest

from hftperf.compare.metrics import METRICS
from hftperf.compare.stats import (
    Estimate,
    Verdict,
    adjust_p_values,
    independent,
    paired,
    proportions,
    smallest_p_value,
    verdict,
)

P50 = METRICS["p50"]
THROUGHPUT = METRICS["throughput_rps"]


def lognormal(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    """Latency-like samples: median 2000 µs times ``scale``, 10% spread."""
    return np.random.default_rng(seed).lognormal(np.log(2000 * scale), 0.1, n)


def test_independent_finds_a_known_shift_and_its_size() -> None:
    estimate = independent(lognormal(1, 30), lognormal(2, 30, scale=1.20))
    assert estimate.p_value is not None and estimate.p_value < 1e-6
    assert estimate.ci_low is not None and estimate.ci_high is not None
    assert estimate.ci_low < 20 < estimate.ci_high  # the true change is inside the interval
    assert 15 < estimate.change < 25
    assert verdict(P50, estimate, estimate.p_value, 5.0, 0.05) is Verdict.REGRESSION


def test_independent_on_identical_distributions_rarely_flags() -> None:
    flagged = 0
    for seed in range(40):
        estimate = independent(lognormal(seed, 20), lognormal(1000 + seed, 20))
        flagged += verdict(P50, estimate, estimate.p_value, 0.0, 0.05) is not Verdict.UNCHANGED
    assert flagged <= 5  # alpha 0.05 over 40 trials: about 2 expected; the tolerance is 0 here


def test_paired_rounds_detect_five_percent_under_drift() -> None:
    # The machine drifts by up to ±30% between rounds; B is always 5% slower than A in the same round.
    rng = np.random.default_rng(7)
    drift = rng.uniform(0.7, 1.3, 10)
    a = 2000 * drift * rng.normal(1, 0.005, 10)
    b = 2000 * 1.05 * drift * rng.normal(1, 0.005, 10)
    estimate = paired(a, b)
    assert estimate.p_value is not None and estimate.p_value < 0.01
    assert estimate.ci_low is not None and 2.5 < estimate.ci_low < 5 < estimate.ci_high < 7.5
    assert verdict(P50, estimate, estimate.p_value, 2.5, 0.05) is Verdict.REGRESSION
    # the same data seen as independent samples drown in the drift
    unpaired = independent(a, b)
    assert verdict(P50, unpaired, unpaired.p_value, 2.5, 0.05) is Verdict.UNCHANGED


def test_lower_throughput_is_the_regression() -> None:
    estimate = independent([1000.0, 1010, 990, 1005, 995], [800.0, 805, 795, 810, 790])
    assert estimate.change is not None and estimate.change < -15
    assert verdict(THROUGHPUT, estimate, estimate.p_value, 5.0, 0.05) is Verdict.REGRESSION
    assert verdict(P50, estimate, estimate.p_value, 5.0, 0.05) is Verdict.IMPROVEMENT


def test_verdict_needs_the_whole_interval_beyond_the_tolerance() -> None:
    straddling = Estimate(1.0, 1.06, 6.0, 2.0, 10.0, 0.001, 10, 10)
    assert verdict(P50, straddling, 0.001, 5.0, 0.05) is Verdict.UNCHANGED
    clear = Estimate(1.0, 1.08, 8.0, 6.0, 10.0, 0.001, 10, 10)
    assert verdict(P50, clear, 0.001, 5.0, 0.05) is Verdict.REGRESSION
    assert verdict(P50, clear, 0.2, 5.0, 0.05) is Verdict.UNCHANGED  # not significant
    missing = Estimate(1.0, 1.08, 8.0, None, None, None, 1, 1)
    assert verdict(P50, missing, None, 5.0, 0.05) is Verdict.INSUFFICIENT


def test_too_few_samples_give_no_p_value() -> None:
    estimate = independent([1.0, 2.0], [3.0, 4.0])
    assert estimate.p_value is None and estimate.change == pytest.approx(133.333, rel=1e-3)


def test_constant_samples_do_not_break_the_bootstrap() -> None:
    estimate = independent([5.0] * 6, [5.0] * 6)
    assert estimate.p_value == 1.0 and estimate.change == 0.0 and estimate.ci_low == estimate.ci_high == 0.0
    same = paired([5.0] * 6, [5.0] * 6)
    assert same.p_value == 1.0 and same.change == 0.0


def test_error_rate_counts_use_fishers_exact_test() -> None:
    worse = proportions(10, 100_000, 400, 100_000)
    assert worse.p_value is not None and worse.p_value < 1e-50
    assert worse.change == pytest.approx(0.39)  # percentage points
    error_rate = METRICS["error_rate"]
    assert verdict(error_rate, worse, worse.p_value, 0.1, 0.05) is Verdict.REGRESSION
    tiny = proportions(0, 100_000, 3, 100_000)
    assert verdict(error_rate, tiny, tiny.p_value, 0.1, 0.05) is Verdict.UNCHANGED


def test_smallest_p_values_match_the_exact_tests() -> None:
    assert smallest_p_value(5, 5, is_paired=True) == pytest.approx(2 / 32)
    assert smallest_p_value(3, 3, is_paired=False) == pytest.approx(0.1)
    assert paired(list(range(1, 6)), [x * 2 for x in range(1, 6)]).p_value == pytest.approx(2 / 32)
    assert independent([1.0, 2, 3], [4.0, 5, 6]).p_value == pytest.approx(0.1)


def test_adjusted_p_values_keep_missing_ones() -> None:
    adjusted = adjust_p_values([0.01, None, 0.04])
    assert adjusted[1] is None and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
