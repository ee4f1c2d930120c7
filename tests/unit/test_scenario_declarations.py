"""Scenarios declare themselves; results are built from hand-made outcomes, without running a load."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import pytest

from hftperf.config import ScenarioConfig
from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import ConfigError
from hftperf.histogram import LatencyHistogram
from hftperf.result import SCHEMA, RunResult, build_run_result, validate_document
from hftperf.scenario_results import scenario_result
from hftperf.scenarios import REGISTRY
from hftperf.scenarios.base import (
    DEFAULT_PROTOCOLS,
    RunContext,
    ScenarioOutcome,
    ab_refusal,
    planned_s,
    protocols,
    scenario_shape,
)
from hftperf.shapes import (
    CAPACITY,
    CLOSED_LOOP,
    COMPLEXITY,
    OPEN_LOOP,
    CapacityFigures,
    CurveStep,
    records_of,
    shape_of,
)
from hftperf.suite import check_protocols, target_addresses
from hftperf.thresholds import parse_threshold


@dataclass(frozen=True)
class _Params:
    rate_per_s: float | None = None
    timeout_s: float = 2.0


class _FirstProtocolPlugin:
    """A plug-in written against the first protocol: summary, params_type and run only."""

    summary = "old plug-in"
    params_type = _Params

    def run(self, config: ScenarioConfig, params: Any, context: RunContext) -> ScenarioOutcome:
        raise AssertionError("not run here")


def _config(name: str = "s", kind: str = "k", warmup_s: float = 1.0, duration_s: float = 5.0) -> ScenarioConfig:
    return ScenarioConfig(name, kind, warmup_s, duration_s, 1, (), {}, where=name)


def _histogram(*values_us: int) -> LatencyHistogram:
    histogram = LatencyHistogram()
    for value in values_us:
        histogram.record(value)
    return histogram


def test_a_plugin_without_the_new_members_gets_the_defaults() -> None:
    plugin = _FirstProtocolPlugin()
    assert protocols(plugin) == DEFAULT_PROTOCOLS == {"http"}
    assert ab_refusal(plugin) is None
    assert planned_s(plugin, _config(), _Params()) == pytest.approx(1.0 + 5.0 + 2.0)
    assert scenario_shape(plugin, _Params()) == CLOSED_LOOP
    assert scenario_shape(plugin, _Params(rate_per_s=100.0)) == OPEN_LOOP


def test_builtin_scenarios_declare_what_the_other_layers_used_to_guess() -> None:
    assert protocols(REGISTRY["book-scaling"]) == frozenset()
    assert protocols(REGISTRY["grpc-order-latency"]) == {"grpc"}
    assert protocols(REGISTRY["grpc"]) == {"grpc"}
    assert protocols(REGISTRY["order-latency"]) == {"http"}
    assert ab_refusal(REGISTRY["book-scaling"]) == "measures the order book in process, not a target"
    assert ab_refusal(REGISTRY["grpc-order-latency"]) == "needs a gRPC target; ab compares HTTP targets"
    assert ab_refusal(REGISTRY["health-concurrent"]) is None
    capacity = REGISTRY["order-throughput"]
    params = _config(kind="order-throughput").parse_params(capacity.params_type)
    assert scenario_shape(capacity, params) == CAPACITY
    steps = (params.max_rate_per_s - params.start_rate_per_s) // params.step_rate_per_s + 1
    once = 1.0 + params.step_duration_s + params.timeout_s  # a warm-up, one step, one drain
    assert params.remeasure == 2
    assert planned_s(capacity, _config(), params) == pytest.approx(  # one run over the steps, two re-measurements
        once + (steps - 1) * params.step_duration_s + 2 * once)


def test_run_context_targets_and_the_old_keywords() -> None:
    old = RunContext(target_url="http://127.0.0.1:8080", grpc_target="127.0.0.1:50051")
    assert old.targets == {"http": "http://127.0.0.1:8080", "grpc": "127.0.0.1:50051"}
    new = RunContext(targets={"grpc": "127.0.0.1:1"})
    assert (new.target_url, new.grpc_target) == ("", "127.0.0.1:1")
    assert replace(old, workers=2).targets == old.targets


def test_the_suite_names_the_missing_protocol() -> None:
    from hftperf.config import load_config

    del load_config  # the RunConfig is built by hand: only its scenarios matter here

    @dataclass(frozen=True)
    class _Run:
        scenarios: tuple[ScenarioConfig, ...]

    run: Any = _Run((_config("orders", "order-latency"), _config("engine", "grpc-order-latency")))
    assert target_addresses("http://127.0.0.1:1", None) == {"http": "http://127.0.0.1:1"}
    check_protocols(run, {"http": "x", "grpc": "y"})
    with pytest.raises(ConfigError, match=r"scenario 'engine' \(grpc-order-latency\) needs a gRPC target: "
                                          "give --grpc-target HOST:PORT"):
        check_protocols(run, target_addresses("http://127.0.0.1:1", None))
    with pytest.raises(ConfigError, match=r"'orders' \(order-latency\) needs an HTTP target"):
        check_protocols(run, target_addresses(None, "127.0.0.1:2"))


def test_an_in_process_outcome_becomes_a_judged_result_with_its_kind() -> None:
    outcome = ScenarioOutcome(kind=COMPLEXITY, operations=1000, duration_s=0.5, latency=_histogram(1, 2, 3, 40),
                              figures={"complexity": "O(1)", "table": [{"depth": 10, "insert_p50_us": 1.0}],
                                       "fits": {"insert": {"best": "O(1)", "models": {"O(1)": {"r2": 0.9}}}}})
    thresholds = (parse_threshold("complexity <= O(log n)"), parse_threshold("p99 < 1ms"))
    result = scenario_result("book", outcome, scenario_kind="book-scaling", thresholds=thresholds)
    assert (result.kind, result.scenario_kind, result.requests, result.throughput_rps) == (
        COMPLEXITY, "book-scaling", 1000, 2000.0)
    assert [t.passed for t in result.thresholds] == [True, True] and result.passed
    assert shape_of(result.kind).in_process and "error_rate" not in shape_of(result.kind).metrics
    [record] = records_of([result], "complexity")
    assert record["complexity"] == "O(1)" and record["fits"]["insert"]["r2"] == 0.9
    assert records_of([result], "capacity") == []


def test_a_suite_result_with_kinds_round_trips_through_result_json() -> None:
    steps = tuple(CurveStep(rate, rate, rate, 100.0, p99, 0.0, 0, 0, p99 < 1000.0, "meets SLO")
                  for rate, p99 in ((500.0, 900.0), (600.0, 2000.0)))
    figures = CapacityFigures(capacity_rps=500.0, slo_p99_us=1000.0, curve=steps).to_figures()
    capacity = ScenarioOutcome(kind=CAPACITY, operations=10, duration_s=1.0, latency=_histogram(5), figures=figures)
    results = [scenario_result("cap", capacity, scenario_kind="order-throughput"),
               scenario_result("plain", ScenarioOutcome(kind="my-plugin-shape"), scenario_kind="quote-poll")]
    environment = collect_environment("http://127.0.0.1:1", "none", None, None, {})
    run = build_run_result("unit", environment, results, utc_now_iso(), utc_now_iso())
    document = json.loads(json.dumps(run.to_dict()))
    assert document["schema"] == SCHEMA == "hftperf.result/3"
    validate_document(document)
    again = RunResult.from_dict(document)
    assert [s.scenario_kind for s in again.scenarios] == ["order-throughput", "quote-poll"]
    [record] = records_of(again.scenarios, "capacity")
    assert record["knee_rate_rps"] == 500.0
    assert shape_of("my-plugin-shape").metrics == shape_of(OPEN_LOOP).metrics


def test_an_older_document_reads_with_no_scenario_kind() -> None:
    results = [scenario_result("plain", ScenarioOutcome(kind=CLOSED_LOOP), scenario_kind="http")]
    run = build_run_result("unit", collect_environment("http://127.0.0.1:1", "none", None, None, {}), results,
                           utc_now_iso(), utc_now_iso())
    document = json.loads(json.dumps(run.to_dict()))
    document["schema"] = "hftperf.result/2"
    for scenario in document["scenarios"]:
        del scenario["scenario_kind"]
    assert RunResult.from_dict(document).scenarios[0].scenario_kind is None
    scenario_document = dict(document["scenarios"][0], scenario_kind="http")
    with pytest.raises(Exception, match="scenario_kind"):  # /2 has no such key
        validate_document({**document, "scenarios": [scenario_document]})


@dataclass(frozen=True)
class _NoParams:
    pass


class _InProcess:
    """A scenario measuring in process: it needs no target protocol."""

    summary = "in process"
    params_type = _NoParams
    protocols: frozenset[str] = frozenset()
    shape = COMPLEXITY

    def run(self, config: ScenarioConfig, params: Any, context: RunContext) -> ScenarioOutcome:
        return ScenarioOutcome(kind=COMPLEXITY, operations=200, duration_s=0.1, latency=_histogram(3, 4, 5),
                               figures={"complexity": "O(1)"})


def test_run_suite_builds_a_suite_result_from_an_in_process_scenario(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from hftperf import suite
    from hftperf.config import load_config
    from hftperf.result import load_result

    registry = {"in-process": _InProcess()}
    monkeypatch.setattr(suite, "REGISTRY", registry)
    monkeypatch.setattr("hftperf.deadline.REGISTRY", registry)
    path = tmp_path / "suite.toml"
    path.write_text('[[scenario]]\nname = "book"\nkind = "in-process"\nduration = "1s"\n'
                    'thresholds = ["complexity <= O(log n)", "p99 < 1ms"]\n')
    with socket.create_server(("127.0.0.1", 0)) as listener:  # the target check only connects
        target = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = load_config(path, {"target": target, "stack": "none"}, known_kinds={"in-process": _NoParams})
        run = suite.run_suite(config, tmp_path / "out")
    assert run.passed and [s.scenario_kind for s in run.scenarios] == ["in-process"]
    again = load_result(tmp_path / "out")
    assert again.scenarios[0].kind == COMPLEXITY and again.scenarios[0].requests == 200
    assert [t.status for t in again.scenarios[0].thresholds] == ["MEETS", "MEETS"]
