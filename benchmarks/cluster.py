"""Load workers on Dask distributed against local processes, and what the coordinator costs.

Against nginx on loopback (1 worker), alternating in every round so that drift of the machine's
speed hits both alike:
1. closed loop, 32 connections: ``--cluster local:2`` vs ``-w 2`` (local processes); req/s, and
   whether the merged histogram's count equals the sum of the workers' counts;
2. open loop at 20,000/s: the same two; sent rate against asked, pacer (schedule) lag p99;
3. the coordinator's CPU per interval with 2, 4 and 8 workers (simulated: real interval samples
   of 10,000 values each, pickled as the workers send them, fed through the coordinator's merge).
Prints a markdown table and writes it into docs/benchmarks.md.

    python benchmarks/cluster.py [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, median, nginx_server, replace_section

from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import LoadPlan, RequestSpec
from hftperf.loadgen.executors.feed import IntervalFeed
from hftperf.loadgen.recorder import Recorder
from hftperf.loadgen.result import Aggregator

RATE = 20_000


def run_load(url: str, connections: int, seconds: float, side: str, rate: int | None = None) -> dict:
    """One ``hftperf load --json`` run on ``side`` ("cluster" or "local")."""
    cmd = [sys.executable, "-m", "hftperf", "load", url, "-c", str(connections), "-d", f"{seconds}s",
           "--warmup", "1s", "--json", "-q"]
    cmd += ["--cluster", "local:2"] if side == "cluster" else ["-w", "2"]
    if rate:
        cmd += ["--rate", str(rate)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def merged_equals_sum(result: dict) -> bool:
    """The merged latency histogram holds exactly the workers' successful responses."""
    count = LatencyHistogram.decode(result["histogram"]).total_count
    return bool(count == result["ok"] == sum(w["ok"] for w in result.get("load_workers", [])))


def coordinator_cpu_ms(workers: int, intervals: int = 20, values: int = 10_000) -> float:
    """Coordinator CPU (ms) per interval for ``workers`` workers: unpickle + exact merge + emit."""
    plan = LoadPlan(RequestSpec(url="http://127.0.0.1:9/"), connections=max(workers, 8), rate_per_s=RATE,
                    workers=workers, duration_s=float(intervals))
    rng = np.random.default_rng(workers)
    payloads = []
    for k in range(workers):
        recorder = Recorder(True, plan.highest_us)
        for index in range(intervals):
            recorder.latency_ns.extend((rng.lognormal(4.0, 0.6, values) * 1000).astype(np.int64).tolist())
            recorder.lag_ns.extend((rng.exponential(5.0, values) * 1000).astype(np.int64).tolist())
            recorder.sent += values
            recorder.ok += values
            payloads.append((index, k, pickle.dumps(recorder.rotate(index, float(index), 1.0))))
    payloads.sort()  # interval by interval, as they arrive
    feed = IntervalFeed(plan, Aggregator(plan, lambda report: None))
    started = time.process_time()
    for _, k, payload in payloads:
        feed.add(k, pickle.loads(payload))
    return (time.process_time() - started) * 1000 / intervals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    closed: dict[str, list[dict]] = {"local": [], "cluster": []}
    opened: dict[str, list[dict]] = {"local": [], "cluster": []}
    with nginx_server(workers=1) as url:
        for index in range(args.rounds):
            order = ("cluster", "local") if index % 2 == 0 else ("local", "cluster")
            for side in order:
                closed[side].append(run_load(url, 32, args.seconds, side))
            for side in order:
                opened[side].append(run_load(url, 64, args.seconds, side, rate=RATE))
            print(f"round {index + 1}: closed {[round(closed[s][-1]['throughput_rps']) for s in order]} "
                  f"open lag p99 {[opened[s][-1]['schedule_lag_us']['p99'] for s in order]}", file=sys.stderr)
    ratios = [c["throughput_rps"] / lo["throughput_rps"] for c, lo in zip(closed["cluster"], closed["local"],
                                                                           strict=True)]
    exact = all(merged_equals_sum(r) for r in closed["cluster"] + opened["cluster"])
    lines = [
        "## Load workers on Dask distributed",
        "",
        "`python benchmarks/cluster.py`",
        "",
        f"Machine: {machine()}. nginx 1 worker on 127.0.0.1, on the same 2 cores as the load workers and the "
        f"coordinator. {args.rounds} rounds of {args.seconds:g} s (1 s warm-up), `--cluster local:2` "
        f"(a LocalCluster of 2 worker processes, started by each run) and `-w 2` (2 local processes) "
        f"alternating within each round; medians shown.",
        "",
        "| load | side | req/s | p50 | p99 | cluster / local req/s (median of per-round pairs) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for side in ("local", "cluster"):
        runs = closed[side]
        ratio = f"{median(ratios):.2f} (range {min(ratios):.2f}–{max(ratios):.2f})" if side == "cluster" else ""
        lines.append(f"| closed loop, 32 connections | {side} | {median([r['throughput_rps'] for r in runs]):,.0f} | "
                     f"{median([r['latency_us']['p50'] for r in runs]):,.0f} µs | "
                     f"{median([r['latency_us']['p99'] for r in runs]):,.0f} µs | {ratio} |")
    lines += [
        "",
        "Per-round cluster / local req/s (the first side of round 1 is the cluster, then alternating): "
        + ", ".join(f"{r:.2f}" for r in ratios) + ".",
        "",
        f"Merged histogram count = sum of the workers' counts in every cluster run: **{exact}**.",
        "",
        f"Open loop at {RATE:,}/s, 64 connections:",
        "",
        "| side | sent req/s | sent / asked | not sent | pacer (schedule) lag p99 | latency p50 | latency p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lag = {}
    for side in ("local", "cluster"):
        runs = opened[side]
        sent = median([r["requests"] / r["duration_s"] for r in runs])
        lag[side] = median([r["schedule_lag_us"]["p99"] for r in runs])
        lines.append(f"| {side} | {sent:,.0f} | {sent / RATE:.4f} | {median([r['not_sent'] for r in runs]):,.0f} | "
                     f"{lag[side]:,.0f} µs | {median([r['latency_us']['p50'] for r in runs]):,.0f} µs | "
                     f"{median([r['latency_us']['p99'] for r in runs]):,.0f} µs |")
    lines += ["", f"Pacer lag p99, cluster / local: **{lag['cluster'] / max(lag['local'], 1.0):.2f}x**.", ""]
    costs = {k: median([coordinator_cpu_ms(k) for _ in range(3)]) for k in (2, 4, 8)}
    lines += [
        "Coordinator CPU per 1 s interval (simulated workers, 10,000 latency and 10,000 lag values per worker "
        "and interval, pickled as sent; unpickle, exact HDR merge, merged interval emitted):",
        "",
        "| workers | CPU per interval | per worker | vs 2 workers |",
        "|---:|---:|---:|---:|",
    ]
    for k, cost in costs.items():
        lines.append(f"| {k} | {cost:.2f} ms | {cost / k:.2f} ms | {cost / costs[2]:.2f}x |")
    text = "\n".join(lines)
    print(text)
    replace_section(REPO / "docs" / "benchmarks.md", "cluster", text)


if __name__ == "__main__":
    main()
