"""compare_runs on results directories of synthetic latencies: intervals, repeats, errors, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from unit.compare.synthetic import ENVIRONMENT, scenario, write_run

from hftperf.compare import Tolerances, Verdict, compare_runs, parse_tolerances
from hftperf.compare.samples import ScenarioSamples, scenario_samples
from hftperf.errors import ConfigError, DataError
from hftperf.result import build_run_result, load_result, save_result


def verdicts(comparison) -> dict[str, Verdict]:  # type: ignore[no-untyped-def]
    return {m.metric: m.verdict for m in comparison.metrics}


def test_single_runs_are_compared_on_their_one_second_windows(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seed=1)
    head = write_run(tmp_path / "head", "head", 2400, seed=2)  # +20%
    comparison = compare_runs(base, head)
    found = {m.metric: m for m in comparison.metrics}
    assert found["p50"].source == "intervals" and found["p50"].estimate.n_base == 10
    assert found["p50"].verdict is Verdict.REGRESSION
    assert 18 < found["p50"].estimate.change < 22
    assert found["p99"].verdict is Verdict.REGRESSION  # 2,000 values per window: enough for p99
    assert found["p99_9"].verdict is Verdict.INSUFFICIENT  # a window's p99.9 needs 10,000 values
    assert found["max"].verdict is Verdict.INSUFFICIENT  # a window's max is whichever hiccup hit it
    assert found["throughput_rps"].verdict is Verdict.UNCHANGED  # same rate on both sides


def test_same_distribution_gives_no_verdict(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seed=1)
    head = write_run(tmp_path / "head", "head", 2000, seed=2)
    comparison = compare_runs(base, head)
    assert not comparison.regressions and not comparison.improvements


def test_repeats_give_one_value_per_run(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seconds=2, repeats=5, seed=1)
    head = write_run(tmp_path / "head", "head", 1600, seconds=2, repeats=5, seed=2)  # -20%
    comparison = compare_runs(base, head)
    found = {m.metric: m for m in comparison.metrics}
    assert found["p50"].source == "repeats" and found["p50"].estimate.n_head == 5
    assert found["p50"].verdict is Verdict.IMPROVEMENT
    assert not comparison.warnings or all("no change can be significant" not in w for w in comparison.warnings)


def test_three_repeats_cannot_reach_significance_and_say_so(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seconds=2, repeats=3, seed=1)
    head = write_run(tmp_path / "head", "head", 4000, seconds=2, repeats=3, seed=2)
    comparison = compare_runs(base, head)
    assert not comparison.regressions
    assert any("with 3 repeats per side no change can be significant" in w and "at least 4" in w
               for w in comparison.warnings)


def test_error_rate_of_single_runs_uses_the_counts(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seed=1, failed=2)
    head = write_run(tmp_path / "head", "head", 2000, seed=2, failed=2000)  # 10% of 20,000
    found = {m.metric: m for m in compare_runs(base, head).metrics}
    assert found["error_rate"].verdict is Verdict.REGRESSION
    assert found["error_rate"].to_dict()["change_pp"] == pytest.approx(9.09, abs=0.01)


def test_scenarios_on_one_side_only_are_listed(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, seed=1, names=("health", "orders"))
    head = write_run(tmp_path / "head", "head", 2000, seed=2, names=("health", "grpc"))
    comparison = compare_runs(base, head)
    assert comparison.scenarios() == ["health"]
    assert comparison.only_in_base == ("orders",) and comparison.only_in_head == ("grpc",)


def test_no_common_scenario_is_an_error(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000, names=("a",))
    head = write_run(tmp_path / "head", "head", 2000, names=("b",))
    with pytest.raises(DataError, match="no common scenario"):
        compare_runs(base, head)


def test_another_schema_version_is_an_error(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000)
    head = write_run(tmp_path / "head", "head", 2000)
    document = json.loads((head / "result.json").read_text())
    document["schema"] = "hftperf.result/99"
    (head / "result.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match=re.escape("unsupported result schema 'hftperf.result/99'")):
        compare_runs(base, head)


def test_a_missing_interval_log_is_an_error_naming_it(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", "base", 2000)
    head = write_run(tmp_path / "head", "head", 2000)
    (head / "health.hlog").unlink()
    with pytest.raises(DataError, match=re.escape("health.hlog")):
        compare_runs(base, head)


def test_an_in_process_scenario_without_log_is_shown_untested(tmp_path: Path) -> None:
    values = np.full(100, 3, dtype=np.int64)
    for side in ("base", "head"):
        results = [scenario("book", values, 1.0, kind="complexity")]
        run = build_run_result(side, ENVIRONMENT, results, "2026-11-24T00:00:00Z", "2026-11-24T00:00:01Z")
        save_result(run, tmp_path / side)
    comparison = compare_runs(tmp_path / "base", tmp_path / "head")
    assert {m.verdict for m in comparison.metrics} == {Verdict.INSUFFICIENT}


def test_samples_keep_per_run_values_for_untestable_metrics(tmp_path: Path) -> None:
    directory = write_run(tmp_path / "run", "run", 2000, seconds=3)
    results = load_result(directory).scenarios
    samples: ScenarioSamples = scenario_samples(results, "intervals", directory)
    assert len(samples.values["p50"]) == 3 and samples.values["max"] == []
    assert samples.per_run["max"] == [results[0].latency_us["max"]]


def test_tolerances_parse_from_tables_and_flags() -> None:
    assert parse_tolerances({"p99.9": "25%", "throughput": 3}, "f.toml: compare.tolerance") == {
        "p99_9": 25.0, "throughput_rps": 3.0}
    assert parse_tolerances(["all=2%"], "--tolerance")["max"] == 2.0
    tolerances = Tolerances().with_overrides(parse_tolerances(["p99=1.5%"], "--tolerance"))
    assert tolerances.of("p99") == 1.5 and tolerances.of("p50") == 5.0
    with pytest.raises(ConfigError, match="--tolerance p42: unknown metric 'p42'"):
        parse_tolerances(["p42=5%"], "--tolerance")
    with pytest.raises(ConfigError, match="expected METRIC=PERCENT"):
        parse_tolerances(["p99"], "--tolerance")
    with pytest.raises(ConfigError, match=re.escape("f.toml: compare.tolerance p99: expected a percentage")):
        parse_tolerances({"p99": "lots"}, "f.toml: compare.tolerance")
