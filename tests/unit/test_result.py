"""result.json: round trip, atomic writes, schema validation of a real run, bad files."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.servers import behaviour_server

from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import DataError
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import LoadPlan, LoadResult, RequestSpec, run_load
from hftperf.result import (
    RESULT_FILE,
    SCHEMA,
    RunResult,
    ScenarioResult,
    ThresholdResult,
    build_run_result,
    error_rate,
    load_result,
    save_result,
    validate_document,
)
from hftperf.scenario_results import scenario_result_from_load
from hftperf.schemas import RESULT_SCHEMA_FILE, load_schema

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def load() -> LoadResult:
    """A real 0.3 s open-loop run against a loopback server (one in-process worker)."""
    with behaviour_server("ok") as url:
        plan = LoadPlan(
            RequestSpec(url + "/"), connections=2, duration_s=0.3, warmup_s=0.05, rate_per_s=400, interval_s=0.1
        )
        return run_load(plan)


@pytest.fixture(scope="module")
def run(load: LoadResult) -> RunResult:
    """A RunResult built the way ``hftperf run`` builds one."""
    scenario = scenario_result_from_load(
        "health-sequential",
        "open-loop",
        load,
        figures={"curve": [(100.0, 1.5), (200.0, float("nan"))]},
        thresholds=[
            ThresholdResult("p99", "< 50ms", 812.0, True, 98.4),
            ThresholdResult("complexity", "<= O(log n)", "O(1)", True, None),
            ThresholdResult("error_rate", "< 0.1%", None, False, None),
        ],
        hlog="health-sequential.hlog",
    )
    environment = collect_environment("http://127.0.0.1:1", "local", None, None, {"network_mode": "host"})
    return build_run_result("test", environment, [scenario], utc_now_iso(), utc_now_iso())


def _document(run: RunResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(run.to_dict()))
    return document


# -- building from a LoadResult -----------------------------------------------------------


def test_scenario_from_load_carries_the_counts_and_histograms(load: LoadResult) -> None:
    scenario = scenario_result_from_load("s", "open-loop", load, repeat_index=2)
    assert load.requests > 50 and load.ok > 0
    assert (scenario.requests, scenario.ok, scenario.in_flight) == (load.requests, load.ok, load.in_flight)
    assert scenario.errors == load.errors and scenario.failed == load.failed
    assert scenario.duration_s == load.duration_s and scenario.throughput_rps == load.throughput_rps
    assert scenario.latency_us == load.latency.summary_us()
    assert scenario.histogram is not None
    assert LatencyHistogram.decode(scenario.histogram) == load.latency
    assert load.pacer_lag is not None and load.connection_wait is not None
    assert LatencyHistogram.decode(scenario.extra_histograms["pacer_lag"]) == load.pacer_lag
    assert LatencyHistogram.decode(scenario.extra_histograms["connection_wait"]) == load.connection_wait
    assert scenario.extra_out_of_range == {"pacer_lag": 0, "connection_wait": 0} and scenario.out_of_range == 0
    figures = scenario.figures
    assert figures["error_rate"] == error_rate(load.failed, load.requests)
    assert figures["offered_rate_rps"] == 400 and figures["connections"] == 2 and figures["workers"] == 1
    assert figures["warmup_requests"] == load.warmup_requests and figures["not_sent"] == load.not_sent
    assert figures["pacer_lag_us"] == load.pacer_lag.summary_us()
    assert figures["connection_wait_us"] == load.connection_wait.summary_us()
    assert figures["connection_waits"] == load.connection_waits and figures["censored"] == load.censored
    assert figures["loadgen_cpu_s"] > 0 and 0 < figures["loadgen_cpu_share"] < 2
    assert len(figures["instrument_intervals"]) == len(load.intervals) > 0
    assert all(i["load_1m"] is not None for i in figures["instrument_intervals"])
    assert scenario.passed and not scenario.interrupted and scenario.repeat_index == 2


def test_given_figures_win_and_thresholds_decide_passed(load: LoadResult) -> None:
    failing = ThresholdResult("p50", "< 1us", 30.0, False, -2900.0)
    scenario = scenario_result_from_load("s", "k", load, figures={"error_rate": 0.5}, thresholds=[failing])
    assert scenario.figures["error_rate"] == 0.5
    assert not scenario.passed and scenario.thresholds == (failing,)
    assert scenario.with_thresholds([]).passed
    interrupted = dataclasses.replace(scenario, interrupted=True).with_thresholds([])
    assert not interrupted.passed


def test_error_rate_is_failed_over_requests() -> None:
    assert error_rate(3, 1000) == 0.003
    assert error_rate(0, 0) == 0.0


def test_run_passes_only_when_every_scenario_passes_and_it_was_not_interrupted(run: RunResult) -> None:
    ok = dataclasses.replace(run.scenarios[0], passed=True)
    bad = dataclasses.replace(ok, passed=False)
    now = utc_now_iso()
    assert build_run_result("x", {}, [ok, ok], now, now).passed
    assert not build_run_result("x", {}, [ok, bad], now, now).passed
    assert not build_run_result("x", {}, [ok], now, now, interrupted=True).passed


# -- schema -----------------------------------------------------------------------------


def test_shipped_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema(RESULT_SCHEMA_FILE)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["schema"]["const"] == SCHEMA


def test_real_result_matches_the_shipped_schema(run: RunResult) -> None:
    document = _document(run)
    jsonschema.Draft202012Validator(load_schema(RESULT_SCHEMA_FILE)).validate(document)
    validate_document(document)


def test_schema_docs_and_dataclasses_name_the_same_fields() -> None:
    schema = load_schema(RESULT_SCHEMA_FILE)
    docs = (REPO_ROOT / "docs" / "result-schema.md").read_text(encoding="utf-8")
    for cls, definition in (
        (RunResult, schema),
        (ScenarioResult, schema["$defs"]["scenario"]),
        (ThresholdResult, schema["$defs"]["threshold"]),
    ):
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(definition["properties"]) == names == set(definition["required"])
        for name in names:
            assert f"`{name}`" in docs, f"{name} is not documented"
    for name in schema["$defs"]["environment"]["properties"]:
        assert f"`{name}`" in docs, f"environment.{name} is not documented"
    assert SCHEMA in docs


# -- round trip -------------------------------------------------------------------------


def test_dict_round_trip_is_exact(run: RunResult) -> None:
    document = _document(run)
    again = RunResult.from_dict(document)
    assert again.to_dict() == document
    assert isinstance(again.scenarios[0].thresholds, tuple)
    # with JSON-native figures (no tuples, no NaN) the dataclasses themselves round-trip
    native = dataclasses.replace(run.scenarios[0], figures={"curve": [[100.0, 1.5]], "fit": {"r2": 0.99}})
    plain = dataclasses.replace(run, scenarios=(native, native))
    assert RunResult.from_dict(_document(plain)) == plain


def test_non_finite_numbers_become_null(run: RunResult) -> None:
    figures = run.scenarios[0].to_dict()["figures"]
    assert figures["curve"] == [[100.0, 1.5], [200.0, None]]
    threshold = ThresholdResult("max", "< 1s", math.inf, False, -math.inf).to_dict()
    assert threshold["observed"] is None and threshold["headroom_pct"] is None


def test_save_then_load_from_directory_or_file(run: RunResult, tmp_path: Path) -> None:
    path = save_result(run, tmp_path / "new" / "dir")
    assert path == tmp_path / "new" / "dir" / RESULT_FILE
    assert json.loads(path.read_text())["schema"] == SCHEMA
    from_dir, from_file = load_result(path.parent), load_result(path)
    assert from_dir == from_file
    assert from_dir.to_dict() == _document(run)
    assert from_dir.scenarios[0].hlog_path(path.parent) == path.parent / "health-sequential.hlog"


# -- atomic writes ----------------------------------------------------------------------


def _only_result_file(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) == [RESULT_FILE]


def test_saving_twice_replaces_and_leaves_no_temporary_files(run: RunResult, tmp_path: Path) -> None:
    save_result(run, tmp_path)
    save_result(dataclasses.replace(run, label="second"), tmp_path)
    _only_result_file(tmp_path)
    assert load_result(tmp_path).label == "second"


class _DiesHalfway:
    """A file object whose write stores half the bytes, then fails (a writer killed mid-write)."""

    def __init__(self, handle: Any, error: BaseException) -> None:
        self._handle, self._error = handle, error

    def __enter__(self) -> _DiesHalfway:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise self._error


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_writer_dying_mid_write_keeps_the_old_result(
    run: RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    save_result(run, tmp_path)
    before = (tmp_path / RESULT_FILE).read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr("hftperf.atomic.os.fdopen", lambda fd, mode: _DiesHalfway(real_fdopen(fd, mode), error))
    expected = DataError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as caught:
        save_result(dataclasses.replace(run, label="lost"), tmp_path)
    if isinstance(caught.value, DataError):
        assert str(tmp_path / RESULT_FILE) in str(caught.value)
    assert (tmp_path / RESULT_FILE).read_bytes() == before
    _only_result_file(tmp_path)
    assert load_result(tmp_path).label == "test"


_KILLED_WRITER = """
import sys, time
from pathlib import Path
import hftperf.atomic as atomic
import hftperf.result as result
run = result.load_result(Path(sys.argv[1]))
def stall(fd):
    print("writing", flush=True)
    time.sleep(60)
atomic.os.fsync = stall
result.save_result(result.RunResult(**{**run.__dict__, "label": "lost"}), Path(sys.argv[1]))
"""


def test_a_writer_killed_by_sigkill_keeps_the_old_result(run: RunResult, tmp_path: Path) -> None:
    save_result(run, tmp_path)
    before = (tmp_path / RESULT_FILE).read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"  # the new bytes are in the temp file
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    assert (tmp_path / RESULT_FILE).read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != RESULT_FILE]
    assert len(leftovers) == 1 and leftovers[0].startswith(".result.json.") and leftovers[0].endswith(".tmp")
    assert load_result(tmp_path).label == "test"


# -- bad files --------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / RESULT_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _expect_data_error(path: Path, *fragments: str) -> None:
    start = time.perf_counter()
    with pytest.raises(DataError) as caught:
        load_result(path)
    message = str(caught.value)
    assert str(path / RESULT_FILE if path.is_dir() else path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    assert time.perf_counter() - start < 2.0


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    _expect_data_error(tmp_path, "no such result file")
    _expect_data_error(tmp_path / "absent.json", "no such result file")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"schema": NaN}', "NaN is not a JSON number"),
        ("[1, 2]", "top level is a JSON list"),
        ("{}", 'no "schema" field'),
        ('{"schema": "hftperf.result/99"}', "unsupported result schema 'hftperf.result/99'"),
        ('{"schema": "pyperf/1.0"}', "unknown schema 'pyperf/1.0'"),
        ('{"schema": ["hftperf.result/1"]}', "unknown schema ['hftperf.result/1']"),
    ],
)
def test_unreadable_or_foreign_files(tmp_path: Path, text: str, fragment: str) -> None:
    _expect_data_error(_write(tmp_path, text), fragment)


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / RESULT_FILE).write_bytes(b'{"schema": "\xff"}')
    _expect_data_error(tmp_path, "cannot read")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["scenarios"][0].update(requests="many"), "scenarios[0].requests"),
        (lambda d: d["scenarios"][0].pop("histogram"), "'histogram' is a required property"),
        (lambda d: d["scenarios"][0].update(hlog="../elsewhere.hlog"), "scenarios[0].hlog"),
        (lambda d: d["scenarios"][0]["errors"].update(timeout=-1), "scenarios[0].errors.timeout"),
        (lambda d: d["scenarios"][0]["thresholds"][0].update(passed="yes"), "scenarios[0].thresholds[0].passed"),
        (lambda d: d["scenarios"][0]["latency_us"].pop("p99"), "scenarios[0].latency_us"),
        (lambda d: d.update(ended_at="yesterday"), "ended_at"),
        (lambda d: d.update(surprise=1), "(top level)"),
        (lambda d: d["environment"].pop("python_version"), "environment"),
    ],
)
def test_documents_that_do_not_match_the_schema(run: RunResult, tmp_path: Path, change: Any, fragment: str) -> None:
    document = _document(run)
    change(document)
    _expect_data_error(_write(tmp_path, json.dumps(document)), f"does not match {SCHEMA}", fragment)
