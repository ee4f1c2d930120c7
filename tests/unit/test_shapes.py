"""The capacity and complexity shapes' typed figures: built by hand, written as result.json figures and read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hftperf.compare.samples import run_values
from hftperf.complexity import fit_complexity
from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import DataError
from hftperf.histogram import LatencyHistogram
from hftperf.reports import model
from hftperf.result import RunResult, build_run_result, load_result, validate_document
from hftperf.scenario_results import scenario_result
from hftperf.scenarios.base import ScenarioOutcome
from hftperf.scenarios.book_figures import operation_fit
from hftperf.shapes import (
    CAPACITY,
    COMPLEXITY,
    OPEN_LOOP,
    CapacityFigures,
    ComplexityFigures,
    CurveStep,
    DepthRow,
    FittedModel,
    OperationFit,
    OperationStats,
    capacity_figures,
    complexity_figures,
    records_of,
    section_record,
)

DATA = Path(__file__).resolve().parents[1] / "data"
SHAPE_KEYS = ("complexity", "complexity_operations", "complexity_by_operation", "table", "fits")
CAPACITY_KEYS = ("capacity_rps", "slo_p99_us", "curve")


def _fit(best: str, costs_us: tuple[float, ...]) -> OperationFit:
    models = {"O(1)": FittedModel(0.0, 1.2, 0.0, 0.2, True), "O(log n)": FittedModel(0.1, 0.8, 0.85, 0.09, True),
              "O(n)": FittedModel(1e-5, 1.19, 0.75, 0.11, False)}
    return OperationFit(best=best, models=models, growth_ratio=costs_us[-1] / costs_us[0], slope_loglog=0.07,
                        best_fit="O(log n)", tolerance=0.05, reason="growth ratio 1.95; slowest admissible model",
                        sizes=(10, 100, 1000), costs_us=costs_us, spread_us=(0.01, 0.02, 0.03))


def _figures() -> ComplexityFigures:
    table = tuple(
        DepthRow(depth=depth, price_levels=2 * max(1, depth // 10), operations={
            "insert": OperationStats(300, insert_us, 3.5, insert_us + 0.1, 0.01),
            "cancel": OperationStats(300, insert_us / 2, 1.2, insert_us / 2 + 0.1, 0.005),
        })
        for depth, insert_us in ((10, 1.0), (100, 1.5), (1000, 2.0))
    )
    fits = {"insert": _fit("O(log n)", (1.0, 1.5, 2.0)), "cancel": _fit("O(1)", (0.5, 0.75, 1.0))}
    return ComplexityFigures(complexity="O(log n)", operations=("insert", "cancel"), table=table, fits=fits)


def _built(figures: dict[str, Any], kind: str, name: str, scenario_kind: str, values: list[int],
           operations: int, duration_s: float) -> Any:
    """A scenario result of shape ``kind`` with ``figures``, built without running anything."""
    histogram = LatencyHistogram()
    histogram.record_many(values)
    outcome = ScenarioOutcome(kind=kind, operations=operations, duration_s=duration_s, latency=histogram,
                              figures=figures)
    return scenario_result(name, outcome, scenario_kind=scenario_kind)


def _result(figures: dict[str, Any]) -> Any:
    return _built(figures, COMPLEXITY, "book", "book-scaling", [1, 2, 3], 900, 0.01)


def test_typed_figures_round_trip_through_json() -> None:
    figures = _figures()
    written = figures.to_figures()
    assert tuple(written) == SHAPE_KEYS
    assert written["complexity_by_operation"] == {"insert": "O(log n)", "cancel": "O(1)"}
    assert list(written["table"][0]) == [
        "depth", "price_levels", *(f"{op}_{stat}" for op in ("insert", "cancel")
                                   for stat in ("samples", "p50_us", "p99_us", "mean_us", "median_ci_us"))]
    assert set(written["fits"]["insert"]) == {"best", "models", "growth_ratio", "slope_loglog", "best_fit",
                                              "tolerance", "reason", "sizes", "costs_us", "spread_us"}
    again = ComplexityFigures.from_figures(json.loads(json.dumps(written)))
    assert again == figures
    assert again.to_figures() == written
    assert again.fits["insert"].chosen == FittedModel(0.1, 0.8, 0.85, 0.09, True)


def test_a_result_built_from_typed_figures_round_trips_through_result_json() -> None:
    figures = _figures()
    result = _result({**figures.to_figures(), "wall_s": 0.5})
    run = build_run_result("unit", collect_environment("http://127.0.0.1:1", "none", None, None, {}), [result],
                           utc_now_iso(), utc_now_iso())
    document = json.loads(json.dumps(run.to_dict()))
    validate_document(document)
    [again] = RunResult.from_dict(document).scenarios
    assert again.kind == COMPLEXITY and again.figures["wall_s"] == 0.5  # the scenario's own figures stay
    assert complexity_figures(again) == figures
    [record] = records_of([again], "complexity")
    assert record == {
        "scenario": "book", "complexity": "O(log n)",
        "fits": {"insert": {"class": "O(log n)", "r2": 0.85, "rel_rmse": 0.09,
                            "reason": "growth ratio 1.95; slowest admissible model"},
                 "cancel": {"class": "O(1)", "r2": 0.0, "rel_rmse": 0.2,
                            "reason": "growth ratio 1.95; slowest admissible model"}},
        "table": [row.to_figure() for row in figures.table],
    }


@pytest.mark.parametrize("name", ["results-small", "results-failed"])
def test_stored_results_read_and_write_back_key_for_key(name: str) -> None:
    [book] = [s for s in load_result(DATA / name / "result.json").scenarios if s.kind == COMPLEXITY]
    figures = complexity_figures(book)
    assert figures is not None and figures.complexity == "O(log n)" and figures.operations == ("insert", "cancel")
    assert [row.depth for row in figures.table] == [10, 100, 1000, 10000, 100000]
    assert figures.table[0].operations["lookup"].samples == 300
    stored = {key: book.figures[key] for key in SHAPE_KEYS}
    assert json.dumps(figures.to_figures()) == json.dumps(stored)  # same keys, same order, same values


def test_a_real_fit_is_written_as_the_fit_writes_itself() -> None:
    fit = fit_complexity([10, 100, 1000, 10000], [1.0, 1.3, 1.6, 1.9], [0.01, 0.02, 0.02, 0.03])
    assert operation_fit(fit).to_figure() == fit.to_dict()
    assert OperationFit.from_figure(fit.to_dict()) == operation_fit(fit)


def test_partial_figures_read_with_none_for_what_is_missing() -> None:
    result = _result({"complexity": "O(1)", "table": [{"depth": 10, "insert_p50_us": 1.0, "note": "x"}],
                      "fits": {"insert": {"best": "O(1)", "models": {"O(1)": {"r2": 0.9}}}}})
    figures = complexity_figures(result)
    assert figures is not None and figures.operations == ()
    assert figures.table == (DepthRow(10, None, {"insert": OperationStats(p50_us=1.0)}),)
    assert figures.table[0].to_figure() == {"depth": 10, "insert_p50_us": 1.0}  # keys of no operation are not kept
    assert figures.fits["insert"].chosen == FittedModel(r2=0.9)
    record = section_record(result, "complexity")
    assert record is not None
    assert record["fits"] == {"insert": {"class": "O(1)", "r2": 0.9, "rel_rmse": None, "reason": None}}
    assert complexity_figures(_result({"complexity": "O(1)", "table": []})) is None  # no fits: no section


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"table": {}, "fits": {}}, "table is a JSON dict, not an array"),
        ({"table": [{"insert_p50_us": 1.0}], "fits": {}}, r"table\[0\] has no depth"),
        ({"table": [{"depth": 10, "insert_p50_us": "1us"}], "fits": {}}, r"table\[0\].insert_p50_us is '1us'"),
        ({"table": [], "fits": []}, "fits is a JSON list, not an object"),
        ({"table": [], "fits": {"insert": {"best": 3}}}, "fits.insert.best is 3, not a string"),
        ({"table": [], "fits": {"insert": {"best": "O(1)", "models": {"O(1)": {"r2": True}}}}},
         r"fits.insert.models.O\(1\).r2 is True, not a number"),
        ({"table": [], "fits": {"insert": {"best": "O(1)", "sizes": "10"}}}, "fits.insert.sizes is '10'"),
        ({"table": [], "fits": {}, "complexity_operations": "insert"}, "complexity_operations is not an array"),
    ],
)
def test_malformed_figures_are_data_errors(figures: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        ComplexityFigures.from_figures(figures)


# -- the capacity shape ---------------------------------------------------------------------


def _capacity() -> CapacityFigures:
    steps = tuple(CurveStep(rate, rate, rate * 0.99, 800, p99, 0.0, 0, 0, p99 < 5000.0,
                            "meets SLO" if p99 < 5000.0 else "p99 over SLO")
                  for rate, p99 in ((500.0, 1200.0), (1000.0, 2500.5), (1500.0, 9000.0)))
    return CapacityFigures(capacity_rps=1000.0, slo_p99_us=5000.0, curve=steps)


def _capacity_result(figures: dict[str, Any], kind: str = CAPACITY) -> Any:
    return _built(figures, kind, "search", "order-throughput", [800, 1200, 2500], 30, 1.0)


def test_capacity_figures_round_trip_through_json() -> None:
    figures = _capacity()
    written = figures.to_figures()
    assert tuple(written) == CAPACITY_KEYS
    assert list(written["curve"][0]) == ["rate_rps", "sent_rps", "throughput_rps", "p50_us", "p99_us", "error_rate",
                                         "not_sent", "connection_waits", "passed", "reason"]
    again = CapacityFigures.from_figures(json.loads(json.dumps(written)))
    assert again == figures and again.to_figures() == written
    no_answers = CurveStep(2000.0, 0.0, 0.0, None, None, 0.0, 0, 0, False, "no responses")
    assert no_answers.to_figure()["p50_us"] is None  # a measured step keeps its null latencies
    assert CurveStep.from_figure(json.loads(json.dumps(no_answers.to_figure()))) == no_answers
    again_step = CurveStep(1500.0, passed=True, reason="meets SLO", attempt=2)  # a failed step measured again
    assert again_step.to_figure()["attempt"] == 2
    assert CurveStep.from_figure(json.loads(json.dumps(again_step.to_figure()))) == again_step
    with pytest.raises(DataError, match=r"curve\[\]\.attempt is 'twice', not a number"):
        CurveStep.from_figure({"rate_rps": 1.0, "attempt": "twice"})


@pytest.mark.parametrize("name", ["results-small", "results-failed"])
def test_stored_capacity_results_read_and_write_back_key_for_key(name: str) -> None:
    [search] = [s for s in load_result(DATA / name / "result.json").scenarios if s.kind == CAPACITY]
    figures = capacity_figures(search)
    assert figures is not None and (figures.capacity_rps, figures.slo_p99_us) == (1500.0, 50000.0)
    assert [step.rate_rps for step in figures.curve] == [250.0 * i for i in range(1, 7)]
    assert figures.curve[0].reason is None and figures.curve[0].connection_waits is None  # older steps lack them
    stored = {key: search.figures[key] for key in CAPACITY_KEYS}
    assert json.dumps(figures.to_figures()) == json.dumps(stored)  # same keys, same order, same values


def test_a_hand_built_capacity_result_reads_into_the_report_model_without_a_load() -> None:
    figures = _capacity()
    result = _capacity_result({**figures.to_figures(), "connections": 8})
    run = build_run_result("unit", collect_environment("http://127.0.0.1:1", "none", None, None, {}), [result],
                           utc_now_iso(), utc_now_iso())
    document = json.loads(json.dumps(run.to_dict()))
    validate_document(document)
    again = RunResult.from_dict(document)
    assert capacity_figures(again.scenarios[0]) == figures
    [record] = model.capacity_records(again)
    assert (record["scenario"], record["capacity_rps"], record["slo_p99_us"], record["knee_rate_rps"]) == (
        "search", 1000.0, 5000.0, 1000.0)
    assert [step["knee"] for step in record["curve"]] == [False, True, False]
    assert record["curve"][2] == {**figures.curve[2].to_figure(), "knee": False}
    assert model.capacity_summary(record).endswith("(knee at 1,000/s)")
    table = model.capacity_table(record)
    assert list(table["meets SLO"]) == ["yes", "yes", "no"] and list(table["knee"]) == ["", "◀ knee", ""]
    assert list(table["reason"])[-1] == "p99 over SLO"
    assert run_values(again.scenarios[0])["capacity_rps"] == 1000.0


def test_partial_capacity_figures_read_with_none_for_what_is_missing() -> None:
    result = _capacity_result({"curve": [{"rate_rps": 100, "p99_us": 900, "passed": False, "note": "x"},
                                         {"rate_rps": 200}]})
    figures = capacity_figures(result)
    assert figures == CapacityFigures(None, None, (CurveStep(100, p99_us=900, passed=False), CurveStep(200)))
    assert figures.curve[0].to_figure() == {"rate_rps": 100, "p50_us": None, "p99_us": 900, "passed": False}
    record = section_record(result, "capacity")
    assert record is not None and record["knee_rate_rps"] is None and record["capacity_rps"] is None
    assert "capacity_rps" not in run_values(result)
    only_capacity = _capacity_result({"capacity_rps": 750})
    assert capacity_figures(only_capacity) == CapacityFigures(750, None, ())
    assert section_record(only_capacity, "capacity") is None  # no curve: no section, but compare has a value
    assert run_values(only_capacity)["capacity_rps"] == 750.0
    assert capacity_figures(_capacity_result({"connections": 8})) is None
    load = _capacity_result({"curve": [[100.0, 1.5]], "capacity_rps": 9.0}, kind=OPEN_LOOP)
    assert capacity_figures(load) is None and "capacity_rps" not in run_values(load)  # a load's own figures


@pytest.mark.parametrize(
    ("figures", "message"),
    [
        ({"curve": {}}, "capacity figures: curve is a JSON dict, not an array"),
        ({"curve": [[100.0, 1.5]]}, r"curve\[0\] is a JSON list, not an object"),
        ({"curve": [{"p99_us": 900}]}, r"curve\[0\] has no rate_rps"),
        ({"curve": [{"rate_rps": 100, "p99_us": "1ms"}]}, r"curve\[0\].p99_us is '1ms', not a number"),
        ({"curve": [{"rate_rps": 100, "passed": "yes"}]}, r"curve\[0\].passed is 'yes', not true or false"),
        ({"curve": [{"rate_rps": 100, "reason": 3}]}, r"curve\[0\].reason is 3, not a string"),
        ({"capacity_rps": True}, "capacity figures: capacity_rps is True, not a number"),
        ({"slo_p99_us": "50ms"}, "slo_p99_us is '50ms', not a number"),
    ],
)
def test_malformed_capacity_figures_are_data_errors(figures: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        CapacityFigures.from_figures(figures)
