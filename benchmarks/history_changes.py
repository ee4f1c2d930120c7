"""Change points in a history: false alarms on one unchanged build, and the smallest step found reliably.

Run (alone, ~10 min): ``flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/history_changes.py``

- **False change points**: 20 runs of one build (a server answering after a fixed 2 ms), recorded as
  20 consecutive commits; every change point ``history show`` reports is a false one.
- **Detection**: 8 runs, the last 4 against a server slower by X% of its delay; a trial counts when
  the one change point reported sits exactly at run 5. Several sizes, several trials each.

Each run is ``hftperf run --target ... --history`` of ``health-sequential`` (1 connection, 2 s), so
the figures include everything a real history sees: run-to-run drift of a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import REPO, machine, replace_section

SUITE = """
[run]
stack = "none"
[[scenario]]
name = "health-sequential"
warmup = "200ms"
duration = "{duration}"
[scenario.request]
path = "/health"
"""
METRICS = ("p50", "p99", "throughput_rps")


@contextlib.contextmanager
def delay_server(delay_us: float) -> Iterator[str]:
    """The precise delay server of benchmarks/_delay_server.py on a free loopback port."""
    process = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "_delay_server.py"), str(delay_us)],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.terminate()
        process.wait(10)


def record(url: str, suite: Path, history: Path, commit: str, work: Path) -> None:
    out = work / f"run-{commit}-{time.monotonic_ns()}"
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(suite), "--target", url,
                           "--out", str(out), "-q", "--history", str(history), "--commit", commit],
                          capture_output=True, text=True, cwd=work)
    if done.returncode not in (0, 1):
        raise SystemExit(f"hftperf run failed: {done.stderr}")


def changes(history: Path, metric: str) -> list[dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "hftperf", "history", "show", f"health-sequential.{metric}",
                           "--history", str(history), "--format", "json"], capture_output=True, text=True)
    (series,) = json.loads(done.stdout)
    return list(series["changes"])


def false_alarms(work: Path, suite: Path, runs: int, delay_us: float) -> dict[str, int]:
    history = work / "same.db"
    with delay_server(delay_us) as url:
        for n in range(runs):
            record(url, suite, history, f"same{n:02d}", work)
    return {metric: len(changes(history, metric)) for metric in METRICS}


def detection(work: Path, suite: Path, step_pct: float, trial: int, delay_us: float) -> tuple[bool, int]:
    history = work / f"step{step_pct:g}-{trial}.db"
    with delay_server(delay_us) as base, delay_server(delay_us * (1 + step_pct / 100)) as slow:
        for n in range(8):
            record(base if n < 4 else slow, suite, history, f"t{trial}c{n + 1}", work)
    found = changes(history, "p50")
    hit = len(found) == 1 and found[0]["after"] == f"t{trial}c5"
    return hit, len(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--steps", default="3,5,10")
    parser.add_argument("--delay-us", type=float, default=2000.0)
    parser.add_argument("--duration", default="2s")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hftperf-history-bench-") as tmp:
        work = Path(tmp)
        suite = work / "suite.toml"
        suite.write_text(SUITE.format(duration=args.duration))
        same = false_alarms(work, suite, args.runs, args.delay_us)
        print("false change points:", same, flush=True)
        rows = []
        for step in (float(s) for s in args.steps.split(",")):
            results = [detection(work, suite, step, trial, args.delay_us) for trial in range(args.trials)]
            hits = sum(hit for hit, _ in results)
            rows.append((step, hits, sum(n for _, n in results)))
            print(f"step +{step:g}%: {hits}/{args.trials} pinned to the right commit", flush=True)
    minutes = (time.monotonic() - started) / 60
    lines = [
        f"Machine: {machine()}. `benchmarks/history_changes.py` ({minutes:.0f} min, shared machine): each point is one",
        f"`hftperf run --history` of health-sequential (1 connection, {args.duration}) against a server",
        f"answering after {args.delay_us / 1000:g} ms; default tolerances (p50 5%), alpha 0.05.",
        "",
        "| series | change points reported | goal |",
        "|---|---|---|",
        f"| {args.runs} runs of one build, p50 / p99 / throughput | {same['p50']} / {same['p99']} / "
        f"{same['throughput_rps']} (of {args.runs - 1} gaps each) | ≤ 1 |",
    ]
    for step, hits, total in rows:
        lines.append(f"| 8 runs, runs 5-8 slower by {step:g}% (p50) | pinned to run 5 in {hits}/{args.trials} "
                     f"trials ({total} change points in all) | 9/10 at the smallest reliable step |")
    replace_section(REPO / "docs" / "benchmarks.md", "history-changes", "## Change points in a history\n\n"
                    + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
