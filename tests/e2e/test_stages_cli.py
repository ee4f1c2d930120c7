"""``stages`` in a scenario: per-stage figures in result.json, bad stages a one-line exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import behaviour_server

SUITE = """
[run]
stack = "none"
[[scenario]]
name = "steps"
kind = "http"
warmup = "0.3s"
connections = 8
{stages}
[[scenario.requests]]
name = "get"
path = "/"
"""
GOOD = 'stages = [{rate = "150/s", duration = "1s"}, {rate = "450/s", duration = "1s", ramp = true}]'


def _run(config: Path, target: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", target,
                           "--out", str(out), "-q"], capture_output=True, text=True, timeout=120, cwd=config.parent)


def test_a_stepped_scenario_reports_asked_against_sent_per_stage(tmp_path: Path) -> None:
    config = tmp_path / "steps.toml"
    config.write_text(SUITE.format(stages=GOOD))
    with behaviour_server("ok") as url:
        done = _run(config, url, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    (scenario,) = json.loads((tmp_path / "out" / "result.json").read_text())["scenarios"]
    stages = scenario["figures"]["stages"]
    assert [s["rate_rps"] for s in stages] == [150.0, 450.0]
    assert [s["expected_requests"] for s in stages] == [150.0, 300.0]
    for stage in stages:
        assert abs(stage["requests"] - stage["expected_requests"]) <= 1
        assert stage["requests"] == stage["ok"] + sum(stage["errors"].values()) + stage["in_flight"]
    assert sum(s["requests"] for s in stages) == scenario["requests"]
    assert "stage 1" in scenario["figures"]["summary"]
    assert "stage 1: asked ramp to 450/s for 1s (300 due)" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.parametrize(
    ("stages", "needle"),
    [
        ('stages = [{rate = "150/s", duration = "1s"}, {rate = "fast", duration = "1s"}]',
         "stages[1].rate: expected a rate"),
        ('stages = [{rate = "150/s"}]', "stages[0].duration: missing required key"),
        ('stages = []', "stages: expected at least one stage"),
        ('rate = "10/s"\n' + GOOD, "stages: not together with rate"),
        ('duration = "5s"\n' + GOOD, "stages: not together with duration"),
        ('stages = [{rate = "150/s", duration = "1s", ramp = "yes"}]', "stages[0].ramp: expected true or false"),
    ],
)
def test_bad_stages_exit_2_with_one_line(stages: str, needle: str, tmp_path: Path) -> None:
    config = tmp_path / "steps.toml"
    config.write_text(SUITE.format(stages=stages))
    done = _run(config, "http://127.0.0.1:9", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line and "scenario" in line


def _load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", "load", *args], capture_output=True, text=True,
                          timeout=120)


def test_load_stage_flags_run_the_stages_and_write_per_stage_figures(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with behaviour_server("ok") as url:
        done = _load(url, "--stage", "1s:150/s", "--stage", "1s:450/s:ramp", "-c", "8", "--warmup", "0.3s",
                     "--out", str(out), "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "open loop in 2 stages" in done.stdout and "stage 1: ramp to 450/s for 1s" in done.stdout
    (scenario,) = json.loads((out / "result.json").read_text())["scenarios"]
    assert scenario["kind"] == "open-loop"  # paced, though no single --rate
    stages = scenario["figures"]["stages"]
    assert [(s["rate_rps"], s["ramp"], s["expected_requests"]) for s in stages] == [(150.0, False, 150.0),
                                                                                  (450.0, True, 300.0)]
    for stage in stages:
        assert abs(stage["requests"] - stage["expected_requests"]) <= 1
        assert stage["requests"] == stage["ok"] + sum(stage["errors"].values()) + stage["in_flight"]
    assert sum(s["requests"] for s in stages) == scenario["requests"]
    report = subprocess.run([sys.executable, "-m", "hftperf", "report", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert "stage 1: asked ramp to 450/s for 1s (300 due)" in report.stdout, report.stderr


def test_load_stages_in_one_flag_and_as_json(tmp_path: Path) -> None:
    with behaviour_server("ok") as url:
        done = _load(url, "--stage", "1s:100/s,1s:200/s", "-c", "4", "--warmup", "0s", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [s["expected_requests"] for s in document["stages"]] == [100.0, 200.0]
    assert document["requests"] == sum(s["requests"] for s in document["stages"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--stage", "1s:100/s", "--rate", "10/s"), "--stage: not together with --rate"),
        (("--stage", "1s:100/s", "--duration", "5s"), "--stage: not together with --duration"),
        (("--stage", "1s"), "'--stage': expected DURATION:RATE"),
        (("--stage", "1s:fast"), "'--stage'"),
        (("--stage", "1s:100/s:hold"), "DURATION:RATE:ramp"),
    ],
)
def test_bad_load_stages_exit_2_with_one_line(args: tuple[str, ...], needle: str) -> None:
    done = _load("http://127.0.0.1:9/", *args)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line
