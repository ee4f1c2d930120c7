"""Truth at the edge: a saturated server measured three ways, and the hot-path cost of the split lags.

    python benchmarks/saturation.py                 # both tables into docs/benchmarks.md
    python benchmarks/saturation.py --base COMMIT   # "before" = that commit (default: the merge base with main)

1. A server with a fixed concurrency of 1 and a 5 ms service time (capacity a little under
   200/s), driven at 400/s for 4 s with 4 connections and no warm-up:
   - hftperf now: the backlog is sent after the end and each request is timed from its intended time;
   - wrk2's approach: requests that found no connection by the end are dropped. hftperf before
     this change did exactly that (its latency also counts from the intended time), so the
     "before" commit stands in for it;
   - a closed loop (like wrk): each connection sends its next request when the answer arrives.
2. Open loop at 20,000/s (64 connections, one worker) against nginx: user + system CPU of the
   load generator process, before and after the split, alternating A B B A ...

"Before" runs from ``git archive`` of the base commit in a temporary directory (no worktree);
the CPU comparison runs "after" the same way from HEAD, so both sides are committed code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import REPO, machine, median, nginx_server, replace_section
from support.servers import behaviour_server

from hftperf.units import format_duration_us

CPU_ROUNDS = 6
CPU_SECONDS = 15
CAPACITY_RATE = 60_000  # more than one event loop sends: the loop runs flat out
CAPACITY_ROUNDS = 4
CAPACITY_SECONDS = 8


def _base_commit(given: str | None) -> str:
    if given:
        return given
    merge_base = subprocess.run(["git", "merge-base", "HEAD", "main"], capture_output=True, text=True, cwd=REPO)
    return merge_base.stdout.strip() or "HEAD~1"


def _export(commit: str, into: Path) -> Path:
    """The source tree of ``commit`` in ``into`` (git archive: no worktree, nothing registered)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True, cwd=REPO).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _load(source: Path | None, *args: str) -> tuple[dict[str, object], float]:
    """``hftperf load ... --json`` from ``source`` (None: this checkout); the JSON and the process's CPU seconds."""
    env = dict(os.environ)
    cwd = Path(tempfile.gettempdir())  # not the checkout: PYTHONPATH then decides which hftperf loads
    env["PYTHONPATH"] = str(source or REPO)
    process = subprocess.Popen([sys.executable, "-m", "hftperf", "load", *args, "--json", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert process.stdout is not None and process.stderr is not None
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"hftperf load failed ({process.returncode}): {err.decode()[-500:]}")
    return json.loads(out), usage.ru_utime + usage.ru_stime


def _row(label: str, result: dict[str, object], measured: int, due: int) -> str:
    latency = result["latency_us"]
    assert isinstance(latency, dict)
    cells = [format_duration_us(latency[key]) for key in ("p50", "p99", "max")]
    return f"| {label} | {measured:,} of {due:,} | " + " | ".join(cells) + " |"


def saturated_table(before: Path) -> str:
    """The saturated server measured by hftperf now, by the drop-the-unsent approach, and closed loop."""
    args = ["-c", "4", "-d", "4s", "--warmup", "0", "--timeout", "10s"]
    with behaviour_server("serial", "5") as url:
        now, _ = _load(None, url + "/", "-R", "400", *args)
        drop, _ = _load(before, url + "/", "-R", "400", *args)
        closed, _ = _load(None, url + "/", *args)
    due = 1600
    rows = [
        _row("hftperf: backlog sent, timed from intended time", now, int(now["requests"]) - int(now["not_sent"]), due),
        _row("wrk2's approach: unsent dropped (hftperf before)", drop, int(drop["ok"]), due),
        _row("closed loop (like wrk)", closed, int(closed["ok"]), int(closed["ok"])),
    ]
    waits = now["connection_wait_us"]
    pacer = now["pacer_lag_us"]
    assert isinstance(waits, dict) and isinstance(pacer, dict)
    return "\n".join([
        "## A saturated target: every due request measured",
        "",
        "`python benchmarks/saturation.py`",
        "",
        f"Machine: {machine()}. Server: one request at a time, 5 ms each (capacity a little under "
        "200/s), the others queue. Offered: 400/s for 4 s over 4 connections, no warm-up: 1,600 "
        "requests fall due; the last ones can only be answered more than 4 s after they were due.",
        "",
        "| measured by | requests in the percentiles | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"hftperf: {now['connection_waits']:,} requests waited for a connection (p99 wait "
        f"{format_duration_us(waits['p99'])}), pacer lag p99 {format_duration_us(pacer['p99'])}, "
        f"answered at {float(now['throughput_rps']):,.0f}/s; the report says \"target saturated\". "
        "Dropping the unsent leaves out exactly the requests that waited longest, so its p99 "
        "describes only those that got a connection in time; the closed loop never offers more "
        "than the server takes and reports a healthy 20 ms, the service time times the queue "
        "of 4 connections. See docs/guarantees.md for the worked example.",
    ])


def cpu_table(before: Path, after: Path) -> str:
    """CPU of the load generator at 20,000/s before and after the split (alternating rounds)."""
    args = ["-c", "64", "-w", "1", "-R", "20000", "-d", f"{CPU_SECONDS}s", "--warmup", "1s"]
    cpu: dict[str, list[float]] = {"before": [], "after": []}
    sent: dict[str, list[float]] = {"before": [], "after": []}
    with nginx_server() as url:
        for round_index in range(CPU_ROUNDS):
            order = ("before", "after") if round_index % 2 == 0 else ("after", "before")
            for side in order:
                result, seconds = _load(before if side == "before" else after, url, *args)
                cpu[side].append(seconds)
                sent[side].append(float(result["requests"]))
    ratios = [a / b for a, b in zip(cpu["after"], cpu["before"], strict=True)]
    rows = [f"| {i + 1} | {b:.2f} s | {a:.2f} s | {r:.3f} |"
            for i, (b, a, r) in enumerate(zip(cpu["before"], cpu["after"], ratios, strict=True))]
    change = 100.0 * (median(cpu["after"]) / median(cpu["before"]) - 1.0)
    return "\n".join([
        "## Cost of the split lags on the hot path",
        "",
        "`python benchmarks/saturation.py`",
        "",
        f"Open loop, `hftperf load --rate 20000 -c 64 -w 1 -d {CPU_SECONDS}s` against nginx, user + system "
        f"CPU of the whole load-generator process (start-up included), {CPU_ROUNDS} alternating rounds:",
        "",
        "| round | before | after | after / before |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Medians: before {median(cpu['before']):.2f} s, after {median(cpu['after']):.2f} s "
        f"({change:+.1f}%; median of the per-round ratios {median(ratios):.3f}); requests per run: "
        f"{median(sent['before']):,.0f} / {median(sent['after']):,.0f}. The split adds one comparison and "
        "one array append per request (a request that waited appends one more).",
    ])


def capacity_table(before: Path, after: Path) -> str:
    """The rate one event loop sustains when asked for more than it can send, before and after."""
    args = ["-c", "64", "-w", "1", "-R", str(CAPACITY_RATE), "-d", f"{CAPACITY_SECONDS}s", "--warmup", "1s"]
    rates: dict[str, list[float]] = {"before": [], "after": []}
    with nginx_server() as url:
        for round_index in range(CAPACITY_ROUNDS):
            order = ("before", "after") if round_index % 2 == 0 else ("after", "before")
            for side in order:
                result, _ = _load(before if side == "before" else after, url, *args)
                # answers per second (after: over the period plus the drain of its backlog)
                rates[side].append(float(result["throughput_rps"]))
    ratios = [a / b for a, b in zip(rates["after"], rates["before"], strict=True)]
    rows = [f"| {i + 1} | {b:,.0f}/s | {a:,.0f}/s | {r:.3f} |"
            for i, (b, a, r) in enumerate(zip(rates["before"], rates["after"], ratios, strict=True))]
    return "\n".join([
        f"At 20,000/s the period (50 µs) is shorter than the pacer's 60 µs spin window, so the loop "
        "never sleeps and its CPU is the wall-clock time on both sides: the table above can show "
        "that the split costs no more CPU, not how much work it adds. The work per request shows "
        f"when one event loop is asked for more than it can send ({CAPACITY_RATE:,}/s, "
        f"`-c 64 -w 1 -d {CAPACITY_SECONDS}s`, {CAPACITY_ROUNDS} alternating rounds): the requests it "
        "has answered per second (nginx answers far faster).",
        "",
        "| round | before | after | after / before |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Medians: before {median(rates['before']):,.0f}/s, after {median(rates['after']):,.0f}/s "
        f"({100.0 * (median(rates['after']) / median(rates['before']) - 1.0):+.1f}%; median of the "
        f"per-round ratios {median(ratios):.3f}).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="the 'before' commit (default: merge base with main)")
    parser.add_argument("--only", choices=("saturated", "cpu"), help="run one of the two parts")
    options = parser.parse_args()
    commit = _base_commit(options.base)
    with tempfile.TemporaryDirectory(prefix="hftperf-before-") as tmp:
        before = _export(commit, Path(tmp) / "before")
        after = _export("HEAD", Path(tmp) / "after")
        docs = REPO / "docs" / "benchmarks.md"
        if options.only in (None, "saturated"):
            table = saturated_table(before)
            print(table)
            replace_section(docs, "saturated-target", table)
        if options.only in (None, "cpu"):
            table = cpu_table(before, after) + "\n\n" + capacity_table(before, after)
            print(table)
            head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout
            replace_section(docs, "split-lag-cost", table + f"\n\nBefore: `{commit[:12]}`, after: `{head[:12]}`.")


if __name__ == "__main__":
    main()
