"""The run deadline: planned time from the validated scenarios, and the watchdog that enforces it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hftperf.config import load_config
from hftperf.deadline import FIXED_MARGIN_S, MARGIN_FACTOR, planned_s, run_deadline_s
from hftperf.scenarios import REGISTRY

SUITE = """
[run]
repeat = 2
{deadline}
[[scenario]]
name = "health-sequential"
warmup = "1s"
duration = "10s"
timeout = "2s"

[[scenario]]
name = "order-throughput"
warmup = "2s"
start_rate = "100/s"
step_rate = "100/s"
max_rate = "500/s"
step_duration = "3s"
timeout = "1s"
"""


def _load(tmp_path: Path, deadline: str = "") -> tuple[object, dict[str, object]]:
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(deadline=deadline))
    config = load_config(path, known_kinds={k: t.params_type for k, t in REGISTRY.items()})
    return config, {s.name: s.parse_params(REGISTRY[s.kind].params_type) for s in config.scenarios}


def test_planned_time_counts_warmup_duration_drain_and_every_capacity_step(tmp_path: Path) -> None:
    config, params = _load(tmp_path)
    health = 1 + 10 + 2
    # five steps of 3 s (100 .. 500/s) in one run, then one timeout of drain; and two re-measurements
    # (the default remeasure), each its own warm-up, one step and drain
    capacity = 2 + 5 * 3 + 1 + 2 * (2 + 3 + 1)
    assert planned_s(config, params) == pytest.approx(2 * (health + capacity))  # type: ignore[arg-type]
    retry = capacity  # one re-run of the longest scenario, should it be inconclusive
    expected = (2 * (health + capacity) + retry) * MARGIN_FACTOR + FIXED_MARGIN_S
    assert run_deadline_s(config, params) == pytest.approx(expected)  # type: ignore[arg-type]
    no_retry = dataclasses.replace(config, retry_inconclusive=0)
    assert run_deadline_s(no_retry, params) == pytest.approx(  # type: ignore[arg-type]
        2 * (health + capacity) * MARGIN_FACTOR + FIXED_MARGIN_S)


def test_a_configured_deadline_wins(tmp_path: Path) -> None:
    config, params = _load(tmp_path, 'deadline = "90s"')
    assert run_deadline_s(config, params) == 90.0  # type: ignore[arg-type]


def test_watchdog_ends_a_process_that_ignores_the_soft_stop() -> None:
    """SIGINT ignored and a child process running: the hard stop ends both, exit 2, one line."""
    program = textwrap.dedent("""
        import signal, subprocess, sys, time
        from hftperf.cli.deadline import Watchdog
        child = subprocess.Popen(["sleep", "30"])
        print(child.pid, flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with Watchdog(0.3, grace_s=0.5):
            time.sleep(20)
    """)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    assert elapsed < 0.8 + 3.0  # deadline + grace + interpreter start-up
    assert "deadline of 0.3s" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    child = int(done.stdout.split()[0])
    for _ in range(50):  # the orphan got SIGTERM; init reaps it
        if not Path(f"/proc/{child}").exists():
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} still running after the hard stop")


def test_watchdog_does_nothing_when_the_run_ends_in_time() -> None:
    from hftperf.cli.deadline import Watchdog

    with Watchdog(0.2, grace_s=0.1) as watchdog:
        pass
    time.sleep(0.4)
    assert not watchdog.expired


def test_a_deadline_that_strikes_while_the_watchdog_starts_leaves_no_hard_stop_behind() -> None:
    """A deadline of ~0 s: the soft stop's SIGINT may land inside ``__enter__``; the process must live on."""
    program = textwrap.dedent("""
        import time
        from hftperf.cli.deadline import Watchdog
        for _ in range(300):
            try:
                with Watchdog(0.0, grace_s=0.2):
                    time.sleep(0.002)
            except KeyboardInterrupt:
                pass
        time.sleep(0.6)  # a hard stop left running would end the process (exit 2) by now
        print("alive", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "alive" in done.stdout, (done.returncode, done.stderr[-500:])
