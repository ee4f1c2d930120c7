"""``hftperf run`` against targets that never finish: the deadline and SIGTERM/SIGINT keep results."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.servers import hostile_server

from hftperf.result import RunResult, load_result

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 4.0  # interpreter start-up and imports on a busy 2-core machine, with room to spare

SUITE = """
[run]
label = "stuck"
stack = "none"

[[scenario]]
name = "health-sequential"
warmup = "0s"
duration = "{first}"
timeout = "{first_timeout}"
thresholds = ["error_rate < 1%"]
[scenario.request]
path = "/"

[[scenario]]
name = "health-concurrent"
warmup = "0s"
duration = "60s"
timeout = "60s"
connections = 4
[scenario.request]
path = "/"
"""


def _start(
    tmp_path: Path, url: str, *args: str, first: str = "60s", first_timeout: str = "60s"
) -> subprocess.Popen[str]:
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE.format(first=first, first_timeout=first_timeout))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hftperf",
            "run",
            "--config",
            str(suite),
            "--target",
            url,
            "--out",
            str(tmp_path / "out"),
            "-q",
            *args,
        ],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _accounted(run: RunResult) -> None:
    for scenario in run.scenarios:
        assert scenario.requests == scenario.ok + scenario.failed + scenario.in_flight


def test_the_deadline_stops_a_run_whose_target_never_answers(tmp_path: Path) -> None:
    """Planned: two minutes of 60 s requests. --deadline 2s: stopped on time, exit 2, results kept."""
    with hostile_server("never") as url:
        started = time.monotonic()
        process = _start(tmp_path, url, "--deadline", "2s")
        stdout, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - started
    assert process.returncode == 2, stdout + stderr
    assert elapsed < 2 + 1 + STARTUP_S
    assert "deadline of 2s" in stderr and "Traceback" not in stderr
    run = load_result(tmp_path / "out")
    assert run.interrupted and not run.passed
    assert run.environment["deadline_s"] == 2.0
    (scenario,) = run.scenarios  # the first scenario, stopped; the second never started
    assert scenario.interrupted and scenario.ok == 0
    assert scenario.in_flight == 1  # one connection, one request waiting for its 60 s timeout
    _accounted(run)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_run_leaves_a_valid_partial_result(tmp_path: Path, signum: int) -> None:
    """The first scenario finished, the second is stuck on a silent target: the signal keeps both."""
    with hostile_server("bursts", "20") as url:
        process = _start(tmp_path, url, first="1s")
        second_hlog = tmp_path / "out" / "health-concurrent.hlog"
        give_up = time.monotonic() + 30
        while not second_hlog.exists() and time.monotonic() < give_up:
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    run = load_result(tmp_path / "out")
    assert run.interrupted and not run.passed
    first, second = run.scenarios
    assert not first.interrupted and first.requests > 0
    assert set(first.errors) == {"http_4xx", "http_5xx"} and not first.passed
    assert second.interrupted and second.requests > 0
    _accounted(run)


def test_sigterm_between_scenarios_still_keeps_the_results(tmp_path: Path) -> None:
    """After a load run the SIGTERM handler is the CLI's again (not SIG_DFL): exit 130, not -15."""
    with hostile_server("never") as url:
        process = _start(tmp_path, url, first="300ms", first_timeout="200ms")
        result = tmp_path / "out" / "result.json"
        give_up = time.monotonic() + 30
        while not result.exists() and time.monotonic() < give_up:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    run = load_result(tmp_path / "out")
    assert run.interrupted and set(run.scenarios[0].errors) == {"timeout"}
