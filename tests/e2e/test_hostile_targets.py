"""The instrument against hostile targets: ``hftperf load --json`` and ``hftperf run --target``.

Each case starts one misbehaving server (tests/support/hostile_server.py) and drives it with both
commands at once. Whatever the server does, the run must end on time, the request accounting
must add up exactly, the errors must land in the right class, memory must stay bounded, and
the exit status and the results must say what happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.servers import hostile_server

from hftperf.hlog import read_hlog
from hftperf.result import load_result

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 4.0  # interpreter start-up and imports on a busy 2-core machine, with room to spare
LOAD_MAX_RSS_MB = 120  # `hftperf load` peaks near 90 MB; four buffered 10 MB bodies would pass this

RUN_SUITE = """
[run]
label = "hostile"
stack = "none"

[[scenario]]
name = "health-concurrent"
warmup = "0s"
duration = "{duration}"
timeout = "{timeout}"
connections = 4
thresholds = ["error_rate < 1%"]
[scenario.request]
path = "/"
"""


@dataclass(frozen=True)
class Case:
    """One hostile behaviour and what both commands must record against it."""

    mode: str
    arg: str | None
    errors: frozenset[str]  # the only error classes allowed (all of them must occur when ok_expected is False)
    ok_expected: bool  # successful responses must also be counted
    duration_s: float = 1.0
    timeout_s: float = 0.5
    load_flags: tuple[str, ...] = ()
    may_be_unreachable: bool = False  # the pre-flight connect may time out: exit 2, nothing measured


CASES = [
    Case("never", None, frozenset({"timeout"}), ok_expected=False),
    Case("no-accept", None, frozenset({"timeout"}), ok_expected=False, may_be_unreachable=True),
    Case("headers-only", None, frozenset({"timeout"}), ok_expected=False),
    Case("trickle", "5", frozenset(), ok_expected=True, timeout_s=2.0),
    Case("close-every", "3", frozenset({"connection_reset"}), ok_expected=True),
    Case("reset-mid", None, frozenset({"connection_reset"}), ok_expected=False),
    Case("invalid", None, frozenset({"protocol"}), ok_expected=False),
    Case("short-length", None, frozenset({"protocol"}), ok_expected=True),
    Case("long-length", None, frozenset({"timeout"}), ok_expected=False),
    Case("big-header", "1024", frozenset({"protocol"}), ok_expected=False, load_flags=("--server-timing",)),
    Case("big-body", "10", frozenset(), ok_expected=True, timeout_s=5.0, load_flags=("--server-timing",)),
    Case("bursts", "50", frozenset({"http_4xx", "http_5xx"}), ok_expected=True),
    Case(
        "restart",
        "0.5",
        frozenset({"connect_refused", "connection_reset", "connect_error", "timeout"}),
        ok_expected=True,
        duration_s=4.0,
    ),
]


@dataclass
class Finished:
    """A finished CLI process: exit status, output, wall time and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    max_rss_mb: float


# Runs the CLI and, at exit, writes its peak resident memory (VmHWM) to stderr. Not getrusage's
# ru_maxrss: Linux carries that over from the parent across exec, so it would report pytest's.
_WITH_PEAK_RSS = (
    "import atexit, runpy, sys\n"
    "def peak():\n"
    "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
    "    sys.stderr.write(f'\\nMAXRSS_KB {hwm[0]}\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv[0] = 'hftperf'\n"
    "runpy.run_module('hftperf', run_name='__main__')\n"
)


def _start(*args: str) -> tuple[subprocess.Popen[str], float]:
    process = subprocess.Popen(
        [sys.executable, "-c", _WITH_PEAK_RSS, *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return process, time.monotonic()


def _finish(process: subprocess.Popen[str], started: float, limit_s: float) -> Finished:
    try:
        stdout, stderr = process.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{process.args} did not end within {limit_s:.1f}s:\n{stderr}")
    elapsed_s = time.monotonic() - started
    stderr, _, peak = stderr.rpartition("MAXRSS_KB ")
    return Finished(process.returncode, stdout, stderr, elapsed_s, int(peak or 0) / 1024)


def _run_both(case: Case, url: str, tmp_path: Path) -> tuple[Finished, Finished]:
    """``hftperf load --json`` and ``hftperf run --target`` against the same server, concurrently."""
    duration, timeout = f"{case.duration_s}s", f"{case.timeout_s}s"
    suite = tmp_path / "suite.toml"
    suite.write_text(RUN_SUITE.format(duration=duration, timeout=timeout))
    load = _start(
        "load",
        url + "/",
        "--json",
        "-q",
        "-c",
        "4",
        "-d",
        duration,
        "--warmup",
        "0s",
        "--timeout",
        timeout,
        "--hlog",
        str(tmp_path / "load.hlog"),
        *case.load_flags,
    )
    run = _start("run", "--config", str(suite), "--target", url, "--out", str(tmp_path / "out"), "-q")
    # Bound: duration + per-request timeout (the drain) + connect timeout (no-accept) + start-up.
    limit_s = case.duration_s + 2 * case.timeout_s + 1.0 + STARTUP_S
    return _finish(*load, limit_s=limit_s + 10), _finish(*run, limit_s=limit_s + 10)


def _check_counts(counts: dict[str, Any], case: Case) -> None:
    errors = {key: value for key, value in counts["errors"].items() if value}
    assert counts["requests"] == counts["ok"] + sum(errors.values()) + counts["in_flight"], counts
    assert set(errors) <= case.errors, errors
    if case.ok_expected:
        assert counts["ok"] > 0, counts
    else:
        assert counts["ok"] == 0 and set(errors) == case.errors, counts


@pytest.mark.parametrize("case", CASES, ids=[case.mode for case in CASES])
def test_hostile_target(case: Case, tmp_path: Path) -> None:
    with hostile_server(case.mode, case.arg) as url:
        load, run = _run_both(case, url, tmp_path)
    limit_s = case.duration_s + 2 * case.timeout_s + 1.0 + STARTUP_S
    for finished in (load, run):
        assert "Traceback" not in finished.stderr, finished.stderr
        assert finished.elapsed_s < limit_s, (finished.elapsed_s, limit_s)

    assert 0 < load.max_rss_mb < LOAD_MAX_RSS_MB, load.max_rss_mb  # memory stayed bounded
    if case.may_be_unreachable:  # a full accept queue: refusing to start is a right answer too
        for finished in (load, run):
            if finished.returncode == 2:
                assert "cannot connect to 127.0.0.1" in finished.stderr and "no answer" in finished.stderr
        if 2 in (load.returncode, run.returncode):
            return

    # hftperf load: exit 0 (no thresholds), the JSON says what happened.
    assert load.returncode == 0, load.stderr
    counts = json.loads(load.stdout)
    _check_counts(counts, case)
    assert not counts["interrupted"]

    # hftperf run: a valid result.json; exit 1 exactly when the error-rate threshold failed.
    result = load_result(tmp_path / "out")
    (scenario,) = result.scenarios
    _check_counts(scenario.to_dict(), case)
    error_rate = scenario.figures["error_rate"]
    assert run.returncode == (0 if error_rate < 0.01 else 1), run.stdout + run.stderr
    assert result.passed == (run.returncode == 0)
    summary = (tmp_path / "out" / "summary.md").read_text()
    for error_class in scenario.errors:  # the report names what went wrong
        assert "- health-concurrent: " in summary and error_class in summary, summary
    _check_case_details(case, counts, scenario.to_dict(), tmp_path)


def _check_case_details(case: Case, load: dict[str, Any], run: dict[str, Any], tmp_path: Path) -> None:
    if case.mode == "trickle":  # 64 bytes, one per 5 ms: every answer takes at least 320 ms
        assert load["latency_us"]["p50"] >= 320_000
        assert run["latency_us"]["p50"] >= 320_000
    elif case.mode == "bursts":  # 200, 429, 503 in equal bursts
        for counts in (load, run):
            assert counts["errors"]["http_4xx"] > counts["requests"] / 5
            assert counts["errors"]["http_5xx"] > counts["requests"] / 5
    elif case.mode == "close-every":  # one failed request per closed connection at most
        assert load["ok"] > 2 * sum(load["errors"].values())
    elif case.mode == "restart":  # down for 2 s in the middle, then answers again: the tool reconnects
        for path in (tmp_path / "load.hlog", tmp_path / "out" / "health-concurrent.hlog"):
            intervals = [h for h in read_hlog(path).intervals if h.tag is None]
            assert len(intervals) >= 3
            assert intervals[-1].histogram.total_count > 0, path  # answers again at the end
            assert any(h.histogram.total_count == 0 for h in intervals), path  # and was down
