"""Does ``ab``/``compare`` flag real regressions and stay quiet otherwise, on this machine?

Trials against two delay servers on loopback (``_delay_server.py``, precise sleeps):

- ab sensitivity: B's delay is A's plus a fraction of A's *measured* p50 latency (default 5%);
  a trial counts when ``ab`` reports a regression.
- ab specificity: A and B identical; a trial counts when ``ab`` reports anything (regression or
  improvement).
- compare specificity: two ``hftperf run`` of the same server one after the other, then
  ``compare``; and compare sensitivity with a larger change (single runs per side).
- a sweep of smaller changes for the smallest change ``ab`` detects reliably.

Writes the table into docs/benchmarks.md (section "regression-detection"). Takes about
25 minutes with the defaults; run it alone (flock /tmp/hftperf-bench.lock).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, machine, replace_section

DELAY_SERVER = Path(__file__).with_name("_delay_server.py")
BASE_DELAY_US = 2000
CONNECTIONS = 4
RUN_SUITE = """
[run]
label = "{label}"
[[scenario]]
name = "health-concurrent"
connections = {connections}
warmup = "0.5s"
duration = "{duration}"
"""


@contextlib.contextmanager
def delay_server(delay_us: float) -> Iterator[str]:
    """A delay server on a free loopback port; yields its base URL."""
    process = subprocess.Popen([sys.executable, str(DELAY_SERVER), f"{delay_us:.1f}"], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=10)


def hftperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=900)


def measured_p50_us(url: str) -> float:
    """The p50 latency of the base server under the trial's load."""
    done = hftperf("load", url + "/", "-c", str(CONNECTIONS), "-d", "3s", "--json", "--quiet")
    return float(json.loads(done.stdout)["latency_us"]["p50"])


def ab_trial(url_a: str, url_b: str, rounds: int, round_s: float) -> dict:
    done = hftperf("ab", url_a, url_b, "-p", f"connections={CONNECTIONS}", "--rounds", str(rounds),
                   "--round-duration", f"{round_s}s", "--warmup", "0.3s", "--format", "json", "--quiet")
    if done.returncode not in (0, 1):
        raise SystemExit(f"ab failed: {done.stderr}")
    return json.loads(done.stdout)


def flagged(document: dict) -> tuple[bool, bool]:
    """(any regression, any regression or improvement)."""
    counts = document["counts"]
    return counts["regression"] > 0, counts["regression"] + counts["improvement"] > 0


def ab_series(change_pct: float, trials: int, rounds: int, round_s: float) -> tuple[int, int, float]:
    """Trials with B slower by ``change_pct`` of A's p50; returns (regressions, any flag, median p50 change)."""
    regressions = anything = 0
    changes = []
    with delay_server(BASE_DELAY_US) as url_a:
        added_us = measured_p50_us(url_a) * change_pct / 100
        with delay_server(BASE_DELAY_US + added_us) as url_b:
            for trial in range(trials):
                document = ab_trial(url_a, url_b, rounds, round_s)
                regression, any_flag = flagged(document)
                regressions += regression
                anything += any_flag
                p50 = next(m for m in document["metrics"] if m["metric"] == "p50")
                changes.append(p50["change_pct"] or 0.0)
                print(f"ab +{change_pct}% trial {trial + 1}/{trials}: p50 {p50['change_pct']:+.2f}% "
                      f"-> {'REGRESSION' if regression else 'flag' if any_flag else 'quiet'}", flush=True)
    changes.sort()
    return regressions, anything, changes[len(changes) // 2]


def compare_series(change_pct: float, trials: int, duration_s: float) -> tuple[int, int]:
    """Trials of two single runs (base server, then head server); returns (regressions, any flag)."""
    regressions = anything = 0
    with tempfile.TemporaryDirectory(prefix="hftperf-compare-bench-") as tmp, delay_server(BASE_DELAY_US) as url_a:
        added_us = measured_p50_us(url_a) * change_pct / 100
        config = Path(tmp) / "suite.toml"
        config.write_text(RUN_SUITE.format(label="trial", connections=CONNECTIONS, duration=f"{duration_s}s"))
        with delay_server(BASE_DELAY_US + added_us) as url_b:
            for trial in range(trials):
                base, head = Path(tmp) / f"base-{trial}", Path(tmp) / f"head-{trial}"
                for url, out in ((url_a, base), (url_b, head)):
                    hftperf("run", "--config", str(config), "--target", url, "--out", str(out), "--quiet")
                done = hftperf("compare", str(base), str(head), "--format", "json")
                if done.returncode != 0:
                    raise SystemExit(f"compare failed: {done.stderr}")
                regression, any_flag = flagged(json.loads(done.stdout))
                regressions += regression
                anything += any_flag
                print(f"compare +{change_pct}% trial {trial + 1}/{trials}: "
                      f"{'REGRESSION' if regression else 'flag' if any_flag else 'quiet'}", flush=True)
    return regressions, anything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensitivity-trials", type=int, default=10)
    parser.add_argument("--specificity-trials", type=int, default=20)
    parser.add_argument("--sweep-trials", type=int, default=5)
    parser.add_argument("--sweep", default="2,3", help="smaller changes in %% of p50 to try")
    parser.add_argument("--change", type=float, default=5.0, help="injected change in %% of the base p50")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--round-duration", type=float, default=1.0)
    parser.add_argument("--compare-trials", type=int, default=20)
    parser.add_argument("--compare-change", type=float, default=20.0)
    parser.add_argument("--compare-duration", type=float, default=6.0)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    rows = []
    hits, _, median_change = ab_series(args.change, args.sensitivity_trials, args.rounds, args.round_duration)
    detected = [args.change] if hits >= 0.9 * args.sensitivity_trials else []
    rows.append((f"ab, B slower by {args.change:g}% of p50", f"{hits}/{args.sensitivity_trials} flagged",
                 f"median measured p50 change {median_change:+.2f}%", "at least 9 of 10"))
    _, false_alarms, median_change = ab_series(0.0, args.specificity_trials, args.rounds, args.round_duration)
    rows.append(("ab, identical servers", f"{false_alarms}/{args.specificity_trials} flagged",
                 f"median p50 change {median_change:+.2f}%", "at most 1 of 20"))
    sweep = []
    for level in (float(x) for x in args.sweep.split(",") if x.strip()):
        hits, _, median_change = ab_series(level, args.sweep_trials, args.rounds, args.round_duration)
        sweep.append((level, hits))
        rows.append((f"ab, B slower by {level:g}% of p50", f"{hits}/{args.sweep_trials} flagged",
                     f"median measured p50 change {median_change:+.2f}%", "(sweep)"))
    _, compare_alarms = compare_series(0.0, args.compare_trials, args.compare_duration)
    rows.append(("compare, two single runs of one build", f"{compare_alarms}/{args.compare_trials} flagged",
                 f"{args.compare_duration:g} s per run, 1 s windows", "at most 1 of 20"))
    compare_hits, _ = compare_series(args.compare_change, max(args.compare_trials // 2, 1), args.compare_duration)
    rows.append((f"compare, head slower by {args.compare_change:g}% of p50",
                 f"{compare_hits}/{max(args.compare_trials // 2, 1)} flagged", "single runs per side", "(context)"))
    reliable = detected + [level for level, hits in sweep if hits == args.sweep_trials]
    smallest = f"**{min(reliable):g}% of p50**" if reliable else "none of the levels tried"
    minutes = (time.monotonic() - started) / 60
    table = [
        f"Machine: {machine()}. Delay servers answer after {BASE_DELAY_US} µs (plus the injected change) on "
        f"{CONNECTIONS} connections; `ab` with {args.rounds} rounds of {args.round_duration:g} s per side, "
        f"default tolerances (ab: p50 ±2.5%). Whole run: {minutes:.0f} min, other work on the machine at the "
        "same time.",
        "",
        "| trial | result | detail | goal |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"Smallest change `ab` flagged reliably here (every sweep trial, or 9 of 10): {smallest}.",
    ]
    text = "\n".join(table)
    print(text)
    if not args.no_docs:
        replace_section(REPO / "docs" / "benchmarks.md", "regression-detection", text)


if __name__ == "__main__":
    main()
