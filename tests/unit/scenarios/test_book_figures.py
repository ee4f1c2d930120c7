"""book-scaling's figures from a hand-made ScalingRun (no book timed): the typed figures and their JSON."""

from __future__ import annotations

import json
import math
import random

from hftperf.scenario_results import scenario_result
from hftperf.scenarios.base import ScenarioOutcome
from hftperf.scenarios.book_figures import HISTOGRAM_ROUNDING, RunFigures, operation_count, summarise
from hftperf.scenarios.book_timing import BATCH, OPERATIONS, Operation, ScalingRun
from hftperf.shapes import COMPLEXITY, ComplexityFigures, complexity_figures, records_of

DEPTHS = (10, 100, 1000, 10_000)
# every key book-scaling has written since its first version, in order (result.json must not change)
FIGURE_KEYS = ["complexity", "complexity_operations", "complexity_by_operation", "table", "fits",
               "samples_per_depth", "batched_operations", "timer_overhead_ns", "histogram_rounding", "build_s",
               "wall_s", "budget_exhausted"]


def _run(operations: tuple[Operation, ...] = OPERATIONS, samples: int = 200, linear: str = "") -> ScalingRun:
    """Seeded ns samples: every operation ~1 µs + 0.1 µs per decade of depth, ``linear`` +20 ns per order."""
    rng = random.Random(5)

    def cost_ns(op: str, depth: int) -> float:
        per_sample = BATCH if op in ("lookup", "best") else 1
        return per_sample * (1000 + 100 * math.log10(depth) + (20 * depth if op == linear else 0))

    return ScalingRun(
        depths=DEPTHS, operations=operations,
        samples_ns={op: {d: [int(rng.gauss(cost_ns(op, d), 10)) for _ in range(samples)] for d in DEPTHS}
                    for op in operations},
        price_levels={d: max(1, d // 10) for d in DEPTHS}, build_s={d: d * 1e-6 for d in DEPTHS},
        measured_ns=10**8, wall_s=0.3, budget_exhausted=samples == 0,
    )


def test_summarise_builds_the_typed_figures() -> None:
    figures, histograms = summarise(_run())
    assert figures.operations == ("insert", "cancel")
    assert figures.complexity in ("O(1)", "O(log n)")
    assert figures.by_operation == {op: fit.best for op, fit in figures.fits.items()}
    assert [row.depth for row in figures.table] == list(DEPTHS)
    assert [row.price_levels for row in figures.table] == [2, 20, 200, 2000]
    for row in figures.table:
        assert list(row.operations) == list(OPERATIONS)
        lookup = row.operations["lookup"]
        assert lookup.samples == 200 and lookup.p50_us is not None and 1.0 < lookup.p50_us < 1.5  # per op
    assert figures.fits["insert"].sizes == DEPTHS
    assert set(histograms) == set(OPERATIONS) and all(h.total_count == 200 for h in histograms.values())


def test_a_book_scaling_result_writes_the_same_keys_and_reads_back() -> None:
    run = _run(operations=("insert", "cancel", "lookup"), linear="cancel")
    figures, histograms = summarise(run)
    assert figures.by_operation["cancel"] in ("O(n)", "O(n log n)")
    assert figures.complexity == figures.fits["cancel"].best  # the worst of insert and cancel
    run_figures = RunFigures.of(run, samples_per_depth=200, timer_overhead_ns=40)
    written = {**figures.to_figures(), **run_figures.to_figures()}
    assert list(written) == FIGURE_KEYS
    assert written["batched_operations"] == {"lookup": BATCH}
    assert written["build_s"] == {str(d): d * 1e-6 for d in DEPTHS}
    assert written["histogram_rounding"] == HISTOGRAM_ROUNDING
    assert operation_count(run) == len(DEPTHS) * 200 * (2 + BATCH)
    outcome = ScenarioOutcome(kind=COMPLEXITY, figures=written, extra_histograms=histograms,
                              operations=operation_count(run), duration_s=0.1, latency=histograms["insert"])
    result = scenario_result("book-scaling", outcome, scenario_kind="book-scaling")
    document = json.loads(json.dumps(result.to_dict()))
    assert ComplexityFigures.from_figures(document["figures"]) == figures
    assert complexity_figures(result) == figures
    [record] = records_of([result], "complexity")
    assert record["complexity"] == figures.complexity and record["table"] == written["table"]


def test_nothing_measured_is_an_empty_table_and_no_class() -> None:
    figures, histograms = summarise(_run(samples=0))
    assert figures == ComplexityFigures(complexity=None, operations=(), table=(), fits={})
    assert histograms == {}
    assert figures.to_figures() == {"complexity": None, "complexity_operations": [], "complexity_by_operation": {},
                                    "table": [], "fits": {}}
