"""``hftperf run`` end to end: the bundled stack, thresholds, exit codes, the results directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.servers import behaviour_server, free_port
from support.verdicts import skip_if_inconclusive

from hftperf.hlog import read_hlog
from hftperf.result import load_result

REPO = Path(__file__).resolve().parents[2]
CI_CONFIG = REPO / "configs" / "ci.toml"

HEALTH_SUITE = """
[run]
label = "{label}"
stack = "{stack}"
[stack]
gateway_port = {gateway_port}
engine_port = {engine_port}

[[scenario]]
name = "health-sequential"
warmup = "200ms"
duration = "1s"
thresholds = ["p50 < 10ms", "error_rate < 0.1%"{extra}]
[scenario.request]
path = "/health"

[[scenario]]
name = "order-latency"
warmup = "300ms"
duration = "1s"
thresholds = ["p99 < 2s", "error_rate < 0.1%"]
rate = "200/s"
connections = 8
"""


def hftperf(*args: str, timeout: float = 180, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def write_suite(tmp_path: Path, stack: str = "local", extra: str = "", label: str = "e2e") -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(HEALTH_SUITE.format(label=label, stack=stack, gateway_port=free_port(),
                                        engine_port=free_port(), extra=extra))
    return path


def test_suite_on_the_bundled_stack_passes_and_writes_a_valid_result(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = hftperf("run", "--config", str(write_suite(tmp_path)), "--out", str(out), "--quiet")
    skip_if_inconclusive(done)  # the tool's own word that this busy machine could not measure: loud, no failure
    assert done.returncode == 0, done.stdout + done.stderr
    run = load_result(out)  # validates against the shipped JSON Schema
    assert run.passed and not run.interrupted
    assert [s.name for s in run.scenarios] == ["health-sequential", "order-latency"]
    orders = run.scenarios[1]
    assert orders.requests == orders.ok + sum(orders.errors.values()) + orders.in_flight
    assert orders.requests >= 190
    timing = {"server_timing_gateway", "server_timing_engine", "server_timing_db"}
    assert timing | {"pacer_lag", "connection_wait"} <= set(orders.extra_histograms)
    assert read_hlog(out / "order-latency.hlog").merged().total_count == orders.ok
    assert run.environment["stack"] == "local" and run.environment["target"].startswith("http://127.0.0.1:")
    assert "All 4 targets met" in (out / "summary.md").read_text()


def test_an_impossible_threshold_exits_1_and_marks_exactly_that_threshold(tmp_path: Path) -> None:
    out = tmp_path / "results"
    config = write_suite(tmp_path, extra=', "throughput_rps >= 100000000/s"')
    done = hftperf("run", "--config", str(config), "--out", str(out), "-s", "health-sequential", "-q")
    assert done.returncode == 1, done.stdout + done.stderr
    (scenario,) = load_result(out).scenarios
    verdicts = {t.metric: t.passed for t in scenario.thresholds}
    assert verdicts == {"p50": True, "error_rate": True, "throughput_rps": False}
    assert "FAILS" in done.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[run]\nstak = "local"\n', "run.stak: unknown key"),
        ('[[scenario]]\nname = "x"\nkind = "warp-drive"\n', "scenario[0].kind"),
        ('[[scenario]]\nname = "order-latency"\nrate = "fast"\n', "scenario[0].rate: expected a rate"),
        ('[[scenario]]\nname = "health-sequential"\nthresholds = ["p99 < 1000/s"]\n', "p99"),
        ("[run\n", "invalid TOML"),
    ],
)
def test_bad_configs_exit_2_with_file_and_key(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    done = hftperf("run", "--config", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(path) in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing started


def test_unreachable_target_exits_2(tmp_path: Path) -> None:
    done = hftperf("run", "--config", str(write_suite(tmp_path)), "--target", f"http://127.0.0.1:{free_port()}",
                   "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "cannot connect to 127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_existing_target_is_benchmarked_without_starting_a_stack(tmp_path: Path) -> None:
    out = tmp_path / "results"
    with behaviour_server("ok") as url:
        done = hftperf("run", "--config", str(write_suite(tmp_path)), "--target", url, "--out", str(out),
                       "-s", "health-sequential", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert load_result(out).environment["stack"] == "none"


def test_a_scenario_whose_protocol_has_no_target_exits_2_naming_it(tmp_path: Path) -> None:
    suite = tmp_path / "grpc.toml"
    suite.write_text('[[scenario]]\nname = "engine"\nkind = "grpc-order-latency"\nduration = "1s"\n')
    with behaviour_server("ok") as url:
        done = hftperf("run", "--config", str(suite), "--target", url, "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "hftperf: error: scenario 'engine' (grpc-order-latency) needs a gRPC target: give --grpc-target HOST:PORT"]


IN_PROCESS_SUITE = """
[run]
stack = "none"
[[scenario]]
name = "book"
kind = "book-scaling"
warmup = "50ms"
duration = "2s"
depths = [10, 100, 1000]
samples_per_depth = 100
operations = ["insert"]
"""


def test_an_in_process_suite_with_stack_none_needs_no_target(tmp_path: Path) -> None:
    suite = tmp_path / "book.toml"
    suite.write_text(IN_PROCESS_SUITE)
    done = hftperf("run", "--config", str(suite), "--out", str(tmp_path / "out"), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    run = load_result(tmp_path / "out")
    assert run.environment["stack"] == "none" and run.scenarios[0].requests == 300


def test_stack_none_without_a_target_exits_2_when_a_scenario_sends(tmp_path: Path) -> None:
    suite = tmp_path / "mixed.toml"
    suite.write_text(IN_PROCESS_SUITE + '[[scenario]]\nname = "health-sequential"\nduration = "1s"\n')
    done = hftperf("run", "--config", str(suite), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"hftperf: error: {suite}: run.stack: stack 'none' starts nothing, so a target is needed "
        "(run.target / HFTPERF_TARGET / --target, or grpc_target)"]
    assert not (tmp_path / "out").exists()  # nothing written


def test_sigint_writes_a_partial_result_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "results"
    config = write_suite(tmp_path)
    config.write_text(config.read_text().replace('duration = "1s"', 'duration = "30s"', 1))
    process = subprocess.Popen([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--out", str(out),
                                "-q"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    hlog = out / "health-sequential.hlog"
    while time.monotonic() < deadline and (not hlog.exists() or hlog.stat().st_size < 400):
        time.sleep(0.2)  # wait until the first scenario has measured a few intervals
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    run = load_result(out)
    assert run.interrupted and not run.passed
    (scenario,) = run.scenarios
    assert scenario.interrupted and scenario.requests > 0
    assert json.loads((out / "result.json").read_text())["schema"] == "hftperf.result/3"


@pytest.mark.slow
def test_ci_suite_runs_on_the_bundled_stack(tmp_path: Path) -> None:
    out = tmp_path / "results"
    env = {"HFTPERF_DURATION_SCALE": "0.3"}
    done = hftperf("run", "--config", str(CI_CONFIG), "--out", str(out), "-q",
                   "--label", "ci-e2e", env=env, timeout=300)
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr  # a busy machine: missed or inconclusive
    run = load_result(out)
    assert {s.name for s in run.scenarios} >= {"health-sequential", "health-concurrent", "order-latency"}
