"""complexity: every class recovered from noisy synthetic data; cache-like growth stays sub-linear; edges."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hftperf.complexity import (
    CONSTANT_RATIO,
    MODELS,
    ComplexityFit,
    fit_complexity,
)
from hftperf.thresholds import COMPLEXITY_CLASSES, evaluate, parse_threshold

SIZES = [10, 100, 1_000, 10_000, 100_000]
N = np.array(SIZES, dtype=np.float64)

# Physically plausible costs in µs: a fixed cost plus per-step work of a realistic size.
SYNTHETIC = {
    "O(1)": 0.5 + 0 * N,
    "O(log n)": 0.2 + 0.08 * np.log(N),  # ~80 ns per level of a tree or heap
    "O(n)": 0.5 + 2e-4 * N,  # 0.2 ns per element: a memmove (list.insert)
    "O(n log n)": 1.0 + 1e-3 * N * np.log(N),  # 1 ns per comparison: a sort
    "O(n^2)": 1.0 + 1e-3 * N * N,
}
# Medians measured on the reference book (EPYC, 2 MiB L2): O(1) operations whose cost rises
# as the book outgrows the caches.
CACHE_BOUND = {
    "insert": [1.101, 1.111, 1.142, 1.402, 1.803],
    "cancel": [0.470, 0.470, 0.500, 0.800, 1.370],
    "lookup": [0.111, 0.111, 0.118, 0.185, 0.438],
}


def noisy(costs: np.ndarray, sigma: float, seed: int) -> list[float]:
    return list(costs * np.random.default_rng(seed).lognormal(0.0, sigma, costs.size))


def test_models_are_the_threshold_classes_in_order() -> None:
    assert tuple(MODELS) == COMPLEXITY_CLASSES


@pytest.mark.parametrize("expected", list(SYNTHETIC))
def test_exact_data_recovers_its_class_with_a_perfect_fit(expected: str) -> None:
    fit = fit_complexity(SIZES, list(SYNTHETIC[expected]))
    assert fit.best == expected
    assert fit.best_fit == expected
    if expected != "O(1)":
        assert fit.models[expected].r2 == pytest.approx(1.0)
        assert fit.models[expected].rel_rmse < 1e-9


@pytest.mark.parametrize("expected", list(SYNTHETIC))
def test_noisy_data_recovers_its_class(expected: str) -> None:
    for seed in range(30):
        fit = fit_complexity(SIZES, noisy(SYNTHETIC[expected], 0.05, seed))
        assert fit.best == expected, (seed, fit.reason)


def test_fitted_coefficients_are_the_generating_ones() -> None:
    fit = fit_complexity(SIZES, list(SYNTHETIC["O(n)"]))
    assert fit.models["O(n)"].a == pytest.approx(2e-4)
    assert fit.models["O(n)"].b == pytest.approx(0.5)
    log = fit_complexity(SIZES, list(SYNTHETIC["O(log n)"])).models["O(log n)"]
    assert log.a == pytest.approx(0.08)
    assert log.b == pytest.approx(0.2)


def test_coefficients_are_never_negative() -> None:
    falling = [2.0, 1.5, 1.2, 1.1, 1.0]
    fit = fit_complexity(SIZES, falling)
    assert fit.best == "O(1)"
    assert all(m.a >= 0 and m.b >= 0 for m in fit.models.values())
    assert fit.models["O(n)"].a == 0.0  # a falling cost is not a negative slope


@pytest.mark.parametrize("operation", list(CACHE_BOUND))
def test_cache_bound_growth_is_not_called_linear(operation: str) -> None:
    for seed in range(30):
        fit = fit_complexity(SIZES, noisy(np.array(CACHE_BOUND[operation]), 0.05, seed))
        assert fit.best in ("O(1)", "O(log n)"), (seed, fit.reason)
    fit = fit_complexity(SIZES, CACHE_BOUND["cancel"])
    assert fit.best_fit == "O(n)"  # a straight line fits best ...
    assert not fit.models["O(n)"].admissible  # ... but at ~9 ps per order no work explains it
    assert fit.models["O(n)"].a < 1e-5
    assert "memory hierarchy" in fit.reason


def test_floors_are_parameters() -> None:
    assert fit_complexity(SIZES, CACHE_BOUND["cancel"], min_step_cost_us=0.0).best == "O(log n)"
    assert fit_complexity(SIZES, CACHE_BOUND["cancel"], min_growth_us=0.0).best == "O(log n)"
    assert fit_complexity(SIZES, CACHE_BOUND["cancel"], min_step_cost_us=0.0, min_growth_us=0.0).best == "O(n)"


# Cancel on books of 10, 100 and 1,000 orders: a line needs ~250 ps per order, but only 0.3 µs in all.
SMALL = [10, 100, 1_000]
SMALL_CACHE_BOUND = [0.431, 0.470, 0.731]


def test_small_cache_bound_rise_is_not_linear() -> None:
    fit = fit_complexity(SMALL, SMALL_CACHE_BOUND)
    assert fit.best_fit == "O(n)"
    assert fit.models["O(n)"].a > 1e-4  # above the step floor ...
    assert not fit.models["O(n)"].admissible  # ... but 0.3 µs of growth is no work
    for seed in range(30):
        assert fit_complexity(SMALL, noisy(np.array(SMALL_CACHE_BOUND), 0.05, seed)).best != "O(n)"


def test_small_linear_scan_is_at_least_linear() -> None:
    scan = 0.45 + 0.01 * np.array(SMALL, dtype=np.float64)  # 10 ns per order visited
    assert fit_complexity(SMALL, list(scan)).best == "O(n)"
    for seed in range(30):  # three sizes and noise cannot always tell n from n log n
        assert fit_complexity(SMALL, noisy(scan, 0.05, seed)).best in ("O(n)", "O(n log n)")


def test_growth_beyond_memory_ratio_lifts_the_step_floor() -> None:
    # ns passed as µs: 0.01 ps per pair is absurd, but a 10,000x rise is no cache effect either.
    costs = list(1e-3 * (1.0 + 1e-5 * N * N))
    fit = fit_complexity(SIZES, costs)
    assert fit.growth_ratio > 1000
    assert fit.best == "O(n^2)"


def test_large_ratio_with_little_growth_is_still_no_work() -> None:
    fit = fit_complexity(SIZES, [0.05, 0.05, 0.1, 0.3, 0.7])  # 14x, but 0.65 µs: a cache-bound lookup
    assert fit.growth_ratio > 10
    assert fit.best == "O(log n)"


def test_constant_when_growth_within_ratio() -> None:
    costs = [1.0, 1.3, 0.9, 1.2, CONSTANT_RATIO]
    fit = fit_complexity(SIZES, costs)
    assert fit.growth_ratio == pytest.approx(CONSTANT_RATIO)
    assert fit.best == "O(1)"
    assert "growth ratio" in fit.reason
    assert fit_complexity(SIZES, [*costs[:-1], CONSTANT_RATIO * 1.01]).best != "O(1)"


def test_flat_data_has_perfect_r2_everywhere() -> None:
    fit = fit_complexity(SIZES, [0.25] * 5)
    assert fit.best == "O(1)"
    assert fit.slope_loglog == pytest.approx(0.0, abs=1e-12)
    assert all(m.r2 == 1.0 and m.rel_rmse == pytest.approx(0.0, abs=1e-12) for m in fit.models.values())


def test_spread_widens_the_tolerance() -> None:
    costs = list(SYNTHETIC["O(log n)"])
    assert fit_complexity(SIZES, costs).tolerance == 0.05
    wide = fit_complexity(SIZES, costs, [0.3 * c for c in costs])
    assert wide.tolerance == pytest.approx(0.3)
    assert wide.spread_us == pytest.approx(tuple(0.3 * c for c in costs))


def test_noise_prefers_the_slower_class() -> None:
    # O(n log n) data with a large fixed cost: O(n) fits within a wide tolerance.
    costs = list(5.0 + 1e-3 * N * np.log(N))
    assert fit_complexity(SIZES, costs).best == "O(n log n)"
    assert fit_complexity(SIZES, costs, rel_tolerance=0.5).best == "O(n)"


def test_loglog_slope_and_growth_ratio() -> None:
    fit = fit_complexity(SIZES, list(3e-3 * N))
    assert fit.slope_loglog == pytest.approx(1.0)
    assert fit.growth_ratio == pytest.approx(1e4)
    assert fit.best == "O(n)"


def test_unsorted_input_is_sorted_by_size() -> None:
    order = [3, 0, 4, 1, 2]
    fit = fit_complexity([SIZES[i] for i in order], [float(SYNTHETIC["O(n)"][i]) for i in order])
    assert fit.sizes == tuple(SIZES)
    assert fit.best == "O(n)"


def test_two_sizes_are_enough() -> None:
    assert fit_complexity([100, 100_000], [1.0, 1.1]).best == "O(1)"
    assert fit_complexity([100, 100_000], [1.0, 2.5]).best == "O(log n)"
    assert fit_complexity([100, 100_000], [1.0, 1000.0]).best == "O(n)"


def test_size_one_is_allowed() -> None:
    fit = fit_complexity([1, 10, 100], [1.0, 1.0 + 0.5 * math.log(10), 1.0 + 0.5 * math.log(100)])
    assert fit.best == "O(log n)"


@pytest.mark.parametrize(
    ("sizes", "costs", "spread", "message"),
    [
        ([10], [1.0], None, "at least 2 sizes"),
        ([10, 100], [1.0], None, "same length"),
        ([10, 100], [1.0, 2.0], [0.1], "same length"),
        ([0, 100], [1.0, 2.0], None, "sizes must be >= 1"),
        ([10, 10], [1.0, 2.0], None, "distinct"),
        ([10, 100], [1.0, 0.0], None, "positive"),
        ([10, 100], [1.0, math.nan], None, "positive"),
        ([10, 100], [1.0, math.inf], None, "positive"),
        ([10, 100], [1.0, 2.0], [0.1, -0.1], "spreads"),
    ],
)
def test_invalid_input_raises(sizes: list[int], costs: list[float], spread: list[float] | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_complexity(sizes, costs, spread)


def test_to_dict_is_json_and_judged_by_thresholds() -> None:
    fit = fit_complexity(SIZES, CACHE_BOUND["insert"], [0.01] * 5)
    data = json.loads(json.dumps(fit.to_dict()))
    assert data["best"] == fit.best
    assert set(data["models"]) == set(COMPLEXITY_CLASSES)
    assert set(data["models"]["O(n)"]) == {"a", "b", "r2", "rel_rmse", "admissible"}
    assert data["sizes"] == SIZES
    assert isinstance(fit, ComplexityFit)
    gate = parse_threshold("complexity <= O(log n)")
    assert evaluate(gate, fit.best).passed
    assert not evaluate(gate, fit_complexity(SIZES, list(SYNTHETIC["O(n)"])).best).passed
