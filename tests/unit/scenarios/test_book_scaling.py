"""book-scaling: params from the shipped configs, a small real run, O(n) detection, budget and stop."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest

from hftperf.config import ScenarioConfig, load_config
from hftperf.errors import ConfigError
from hftperf.reference_engine.book import Book, Order
from hftperf.scenarios.base import RunContext, ScenarioOutcome
from hftperf.scenarios.book_scaling import (
    BATCH,
    CHUNK,
    OPERATIONS,
    BookScaling,
    BookScalingParams,
    measure_scaling,
)
from hftperf.thresholds import evaluate, parse_threshold

REPO = Path(__file__).resolve().parents[3]
DEPTHS = [10, 100, 1000]
GATE = parse_threshold("complexity <= O(log n)")


def scenario(duration_s: float = 5.0, warmup_s: float = 0.02, **params: Any) -> ScenarioConfig:
    params = {"depths": DEPTHS, "samples_per_depth": 200, "operations": list(OPERATIONS), **params}
    return ScenarioConfig(name="book-scaling", kind="book-scaling", warmup_s=warmup_s, duration_s=duration_s,
                          seed=7, thresholds=(GATE,), params=params)


def run(config: ScenarioConfig, book_factory: Any = Book, **context: Any) -> ScenarioOutcome:
    params = config.parse_params(BookScalingParams)
    return BookScaling(book_factory).run(config, params, RunContext(target_url="http://127.0.0.1:1", **context))


@pytest.fixture(scope="module")
def outcome() -> ScenarioOutcome:
    return run(scenario())


@pytest.mark.parametrize("name", ["default.toml", "ci.toml"])
def test_shipped_configs_parse(name: str) -> None:
    config = load_config(REPO / "configs" / name)
    [book] = [s for s in config.scenarios if s.kind == "book-scaling"]
    params = book.parse_params(BookScalingParams)
    assert params.depths == (10, 100, 1_000, 10_000, 100_000)
    assert set(params.operations) <= set(OPERATIONS)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"depths": [100]}, "at least 2 distinct depths"),
        ({"depths": [10, 10, 100]}, "distinct depths"),
        ({"depths": [0, 100]}, "from 1 to"),
        ({"operations": ["insert", "match"]}, "operations"),
        ({"operations": []}, "non-empty"),
        ({"samples_per_depth": 0}, "at least 1"),
        ({"sample_per_depth": 10}, "did you mean 'samples_per_depth'"),
    ],
)
def test_bad_params_are_config_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        scenario(**params).parse_params(BookScalingParams)


def test_table_has_every_depth_and_operation(outcome: ScenarioOutcome) -> None:
    table = outcome.figures["table"]
    assert [row["depth"] for row in table] == DEPTHS
    for row in table:
        assert row["price_levels"] >= 2
        for op in OPERATIONS:
            assert row[f"{op}_samples"] == 200
            assert 0 < row[f"{op}_p50_us"] <= row[f"{op}_p99_us"]
            assert row[f"{op}_median_ci_us"] >= 0
    assert table[-1]["price_levels"] == 200  # 1000 orders, about five a level
    assert outcome.figures["batched_operations"] == {"lookup": BATCH, "best": BATCH}
    json.dumps(outcome.figures)


def test_insert_and_cancel_are_at_most_log_n(outcome: ScenarioOutcome) -> None:
    figures = outcome.figures
    assert figures["complexity_operations"] == ["insert", "cancel"]
    for op in ("insert", "cancel"):
        assert figures["complexity_by_operation"][op] in ("O(1)", "O(log n)"), figures["fits"][op]["reason"]
    assert figures["complexity"] in ("O(1)", "O(log n)")
    assert evaluate(GATE, figures["complexity"]).passed
    fit = figures["fits"]["insert"]
    assert fit["sizes"] == DEPTHS
    assert set(fit["models"]) == {"O(1)", "O(log n)", "O(n)", "O(n log n)", "O(n^2)"}


def test_histograms_counts_and_duration(outcome: ScenarioOutcome) -> None:
    assert outcome.kind == "complexity"
    assert set(outcome.extra_histograms) == set(OPERATIONS)
    assert all(h.total_count == 200 for h in outcome.extra_histograms.values())
    assert outcome.latency is outcome.extra_histograms["insert"]
    assert outcome.latency.min_us >= 1  # rounded up: never below one µs
    assert outcome.operations == len(DEPTHS) * 200 * (2 + 2 * BATCH)
    assert 0 < outcome.duration_s < outcome.figures["wall_s"]
    assert not outcome.interrupted and not outcome.figures["budget_exhausted"]


def test_depth_is_constant_books_are_valid_and_gc_restored() -> None:
    assert gc.isenabled()
    books: list[Book] = []

    def factory(symbol: str) -> Book:
        books.append(Book(symbol))
        return books[-1]

    params = BookScalingParams(depths=(10, 300), samples_per_depth=120, operations=("insert", "cancel"))
    result = measure_scaling(params, seed=3, warmup_s=0.01, budget_s=5.0, book_factory=factory)
    assert gc.isenabled()
    assert result.final_depths == {10: 10, 300: 300}
    assert [len(book.index) for book in books] == [10, 300]
    for book in books:
        book.check_invariants()
    levels = book.depth(levels=1000)
    assert 40 <= len(levels.bids) + len(levels.asks) <= 60  # 300 orders over 2 x 30 levels, some emptied
    assert levels.bids[0].price_ticks < levels.asks[0].price_ticks
    assert {op: {d: len(v) for d, v in by_depth.items()} for op, by_depth in result.samples_ns.items()} == {
        "insert": {10: 120, 300: 120}, "cancel": {10: 120, 300: 120}}


class ScanningBook(Book):
    """A book whose cancel walks every resting order first: O(n)."""

    def cancel(self, order_id: int) -> Order | None:
        if not any(order.order_id == order_id for order in self.index.values()):
            return None
        return super().cancel(order_id)


def test_linear_cancel_is_detected() -> None:
    outcome = run(scenario(samples_per_depth=60, operations=["insert", "cancel"]), book_factory=ScanningBook)
    figures = outcome.figures
    assert figures["complexity_by_operation"]["cancel"] in ("O(n)", "O(n log n)"), figures["fits"]["cancel"]
    assert figures["complexity"] == figures["complexity_by_operation"]["cancel"]
    assert not evaluate(GATE, figures["complexity"]).passed


def test_only_lookup_measured() -> None:
    outcome = run(scenario(samples_per_depth=50, operations=["lookup"]))
    assert outcome.figures["complexity_operations"] == ["lookup"]
    assert set(outcome.extra_histograms) == {"lookup"}
    assert outcome.latency is outcome.extra_histograms["lookup"]
    assert outcome.operations == len(DEPTHS) * 50 * BATCH


def test_budget_bounds_the_measurement() -> None:
    outcome = run(scenario(duration_s=1e-9, warmup_s=0.0, samples_per_depth=10_000))
    assert outcome.figures["budget_exhausted"]
    assert outcome.figures["table"] == []
    assert outcome.figures["complexity"] is None  # a complexity threshold then fails as not measured
    assert outcome.latency is None


def test_stop_request_interrupts_between_chunks() -> None:
    calls = iter(range(1_000_000))  # asked once before each depth's chunk: stop in round three
    outcome = run(scenario(samples_per_depth=10_000, warmup_s=0.0), stop_requested=lambda: next(calls) >= 8)
    assert outcome.interrupted
    samples = sorted(row["insert_samples"] for row in outcome.figures["table"])
    assert samples == [2 * CHUNK, 3 * CHUNK, 3 * CHUNK]
    assert outcome.figures["complexity"] is not None
