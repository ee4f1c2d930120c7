"""``hftperf ab --rev`` on a two-commit fixture: start-up time, detection of +2 ms per order, false alarms.

The fixture is tests/support/compose_repo.py (stdlib order service + health-checked dependency
on the offline base image); its head commit adds 2 ms to each order. Measures:

- start-up: the first run of two revisions (images built) and a second run (images reused):
  the time from the command's start to the first round, read from its own progress lines;
- detection: ``ab --rev HEAD~1 --rev HEAD --fail-on-regression`` trials (exit 1 counts);
- false alarms: ``ab --rev HEAD --rev HEAD --fail-on-regression`` trials (exit 1 counts).

Writes the table into docs/benchmarks.md (section "ab-revisions"). Needs Docker and the base
image (scripts/docker-offline-base.sh). Run it alone: flock /tmp/hftperf-bench.lock.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import REPO, machine, replace_section
from support.compose_repo import add_latency_commit, make_repo

AB = ("--compose-file", "docker-compose.yml", "--service", "api", "--scenario", "order-latency",
      "-p", "rate=200", "-p", "connections=4", "--rounds", "8", "--warmup-rounds", "1",
      "--round-duration", "1s", "--warmup", "0.3s", "--fail-on-regression")


def ab(repo: Path, base: str, head: str) -> tuple[int, float, float]:
    """(exit status, seconds until both stacks were up, whole seconds) of one ``ab --rev`` run."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "hftperf", "ab", "--rev", base, "--rev", head, *AB],
                            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    up_s = float("nan")
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("B ") and ": http://127.0.0.1:" in line:  # both stacks are up
            up_s = time.monotonic() - started
    proc.wait()
    print(f"ab --rev {base} --rev {head}: exit {proc.returncode}, stacks up after {up_s:.1f} s, "
          f"{time.monotonic() - started:.1f} s in all", flush=True)
    return proc.returncode, up_s, time.monotonic() - started


def clean_images() -> None:
    """Remove the fixture's images so that the first run builds them."""
    done = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "hftperf-orders-*"],
                          capture_output=True, text=True, check=False)
    for tag in done.stdout.split():
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detect-trials", type=int, default=10)
    parser.add_argument("--alarm-trials", type=int, default=20)
    parser.add_argument("--startup-trials", type=int, default=3)
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-ab-") as tmp:
        repo = make_repo(Path(tmp) / "repo")
        add_latency_commit(repo, 2.0)
        clean_images()
        first = ab(repo, "HEAD~1", "HEAD")
        second = [ab(repo, "HEAD~1", "HEAD") for _ in range(args.startup_trials)]
        detect = [first[0], *(s[0] for s in second)]
        detect += [ab(repo, "HEAD~1", "HEAD")[0] for _ in range(max(0, args.detect_trials - len(detect)))]
        alarms = [ab(repo, "HEAD", "HEAD")[0] for _ in range(args.alarm_trials)]
    second_up = statistics.median(s[1] for s in second)
    rows = [
        ("start-up, first run (both images built)", f"{first[1]:.1f} s", "(context)"),
        (f"start-up, second run (images reused), median of {len(second)}", f"{second_up:.1f} s", "under 15 s"),
        (f"ab --rev HEAD~1 --rev HEAD (+2 ms per order), {len(detect)} trials",
         f"{sum(c == 1 for c in detect)}/{len(detect)} flagged", "10 of 10"),
        (f"ab --rev HEAD --rev HEAD (identical), {len(alarms)} trials",
         f"{sum(c == 1 for c in alarms)}/{len(alarms)} flagged", "at most 1 of 20"),
    ]
    errors = sum(c not in (0, 1) for c in [*detect, *alarms])
    text = "\n".join([
        f"Machine: {machine()}. Fixture: tests/support/compose_repo.py (stdlib order service + health-checked "
        "dependency, offline base image), two stacks side by side; order-latency at 200/s on 4 connections, "
        f"8 rounds of 1 s per side after 1 warm-up round. Whole run: {(time.monotonic() - began) / 60:.0f} min"
        f"{f'; {errors} trials ended in an error (exit 2)' if errors else ''}.",
        "", "| measure | result | goal |", "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
    ])
    print(text)
    replace_section(REPO / "docs" / "benchmarks.md", "ab-revisions", text)


if __name__ == "__main__":
    main()
