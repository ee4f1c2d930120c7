"""Soak: the bundled stack at a constant open-loop order rate for 10 minutes; memory and fds stay flat.

Starts the reference stack (LocalStack, SQLite), runs ``hftperf load`` as its own process at a
fixed rate of ``POST /orders`` (all at one price and quantity 1, so buys and sells match each
other and the book stays small: what grows is the database on disk, not the processes), and
every few seconds samples the resident memory (VmRSS) and open file descriptors of the load
generator, the gateway and the engine (each with its child processes) from /proc.

For each series it fits a least-squares line to the samples after the first 10% of the run
(start-up allocations settle there) and reports the slope per minute, the residual standard
deviation (the noise), the slope over the last half alone (a leak keeps its slope; allocator
fragmentation levels off) and a verdict: flat when the growth the last-half slope projects over
the whole window is within three residual SDs or under 1 MiB (or one fd). It also checks the accounting: sent = ok +
failed + in flight, sent + not sent = rate x duration, and every acknowledged order is in the
database. Not part of the test suite; run it alone:

    flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/soak.py            # 10 minutes
    .venv/bin/python benchmarks/soak.py --duration 60 --no-write                   # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO, free_port, machine, replace_section

from hftperf.reference_engine.backends import LocalStack, StackConfig

ORDER = (
    '{"symbol":"BTC-USD","side":"${choice:buy|sell}","type":"limit","price":10000,"quantity":1,"time_in_force":"gtc"}'
)
FLAT_MIN = {"rss_mib": 1.0, "fds": 1.0}  # growth below this is flat whatever the noise


@dataclass
class Series:
    """Samples of one process group: (seconds since start, RSS MiB, open fds)."""

    name: str
    t_s: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    fds: list[float] = field(default_factory=list)


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc/*/stat parent pids)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def _sample(pid: int) -> tuple[float, int] | None:
    """(RSS MiB, open fds) summed over ``pid`` and its descendants; None when it is gone."""
    rss_kib, fds, alive = 0, 0, False
    for member in _descendants(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            fds += len(os.listdir(f"/proc/{member}/fd"))
        except OSError:
            continue
        alive = True
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss_kib += int(line.split()[1])
    return (rss_kib / 1024, fds) if alive else None


def _sampler(pids: dict[str, int], every_s: float, stop: threading.Event) -> dict[str, Series]:
    series = {name: Series(name) for name in pids}
    started = time.monotonic()

    def loop() -> None:
        while not stop.wait(every_s):
            now = time.monotonic() - started
            for name, pid in pids.items():
                sample = _sample(pid)
                if sample is not None:
                    series[name].t_s.append(now)
                    series[name].rss_mib.append(sample[0])
                    series[name].fds.append(sample[1])

    threading.Thread(target=loop, daemon=True).start()
    return series


@dataclass(frozen=True)
class Trend:
    """A least-squares line through one series: slope per minute, noise and the verdict."""

    first: float
    last: float
    slope_per_min: float
    late_slope_per_min: float  # fitted on the last half of the window only
    noise_sd: float
    growth: float  # late slope x window length
    flat: bool


def trend(t_s: list[float], values: list[float], flat_min: float) -> Trend:
    """Fit after the first 10% of the samples; flat when the late growth <= max(3 residual SD, flat_min)."""
    skip = len(t_s) // 10
    xs, ys = t_s[skip:], values[skip:]
    if len(xs) < 6:
        nan = math.nan
        return Trend(values[0] if values else nan, values[-1] if values else nan, nan, nan, nan, nan, False)
    slope, intercept = statistics.linear_regression(xs, ys)
    residuals = [y - (slope * x + intercept) for x, y in zip(xs, ys, strict=True)]
    noise = statistics.pstdev(residuals)
    half = len(xs) // 2
    late_slope = statistics.linear_regression(xs[half:], ys[half:]).slope if len(set(ys[half:])) > 1 else 0.0
    growth = late_slope * (xs[-1] - xs[0])
    flat = abs(growth) <= max(3 * noise, flat_min)
    return Trend(ys[0], ys[-1], slope * 60, late_slope * 60, noise, growth, flat)


def _db_orders(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'engine.sqlite3'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


def soak(duration_s: float, rate_per_s: float, every_s: float) -> tuple[dict[str, Series], dict, int]:
    """Run the stack and the load; return the samples, the load's JSON result and the orders stored."""
    with tempfile.TemporaryDirectory(prefix="hftperf-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        config = StackConfig(
            name=f"soak-{os.getpid()}",
            gateway_port=free_port(),
            engine_port=free_port(),
            workers=1,
            data_dir=data_dir,
            state_dir=Path(tmp) / "state",
        )
        stack = LocalStack(config)
        with stack as endpoints:
            command = [
                sys.executable,
                "-m",
                "hftperf",
                "load",
                endpoints.gateway_url.rstrip("/") + "/orders",
                "-m",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--template",
                "-b",
                ORDER,
                "--rate",
                f"{rate_per_s:g}/s",
                "-d",
                f"{duration_s:g}s",
                "--warmup",
                "0s",
                "-c",
                "32",
                "--workers",
                "1",
                "--timeout",
                "5s",
                "--json",
                "-q",
            ]
            load = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            stop = threading.Event()
            pids = {"load generator": load.pid, "gateway": stack.pid("gateway"), "engine": stack.pid("engine")}
            series = _sampler(pids, every_s, stop)
            stdout, stderr = load.communicate()
            stop.set()
            if load.returncode != 0:
                raise SystemExit(f"hftperf load failed ({load.returncode}): {stderr}")
        stored = _db_orders(data_dir)  # after the stack stopped: everything it acknowledged is on disk
    return series, json.loads(stdout), stored


def render(
    series: dict[str, Series], result: dict, stored: int, duration_s: float, rate_per_s: float, every_s: float
) -> str:
    """The markdown table and the accounting lines."""
    lines = [
        f"Soak: `POST /orders` at {rate_per_s:g}/s open loop for {duration_s / 60:.1f} min against the bundled "
        f"stack (1 gateway worker, SQLite), samples every {every_s:g} s; trend fitted after the first 10%. "
        f"Machine: {machine()} (shared with other sessions).",
        "",
        "| process | RSS start → end (MiB) | RSS slope all / last half (MiB/min) | RSS noise SD (MiB) | RSS flat | "
        "fds start → end | fd slope (/min) | fds flat |",
        "|---|---:|---:|---:|:-:|---:|---:|:-:|",
    ]
    for s in series.values():
        rss, fds = trend(s.t_s, s.rss_mib, FLAT_MIN["rss_mib"]), trend(s.t_s, s.fds, FLAT_MIN["fds"])
        lines.append(
            f"| {s.name} | {rss.first:.1f} → {rss.last:.1f} | {rss.slope_per_min:+.3f} / "
            f"{rss.late_slope_per_min:+.3f} | {rss.noise_sd:.2f} | "
            f"{'yes' if rss.flat else '**no**'} | {fds.first:.0f} → {fds.last:.0f} | {fds.slope_per_min:+.3f} | "
            f"{'yes' if fds.flat else '**no**'} |"
        )
    failed = sum(result["errors"].values())
    scheduled = round(rate_per_s * duration_s)
    sent_ok = result["requests"] == result["ok"] + failed + result["in_flight"]
    due_ok = result["requests"] == scheduled  # open loop: requests are the due ones, not_sent among them
    db_ok = result["ok"] <= stored <= result["requests"]
    lines += [
        "",
        f"Accounting: due {result['requests']:,} = ok {result['ok']:,} + failed {failed:,} + in flight "
        f"{result['in_flight']:,} ({'exact' if sent_ok else '**MISMATCH**'}; {result['not_sent']:,} of the "
        f"failed never sent) = {scheduled:,} scheduled ({'exact' if due_ok else '**MISMATCH**'}); "
        f"orders in the database {stored:,}, between ok and sent ({'yes' if db_ok else '**NO**'}). "
        f"Errors: {json.dumps(result['errors']) if failed else 'none'}; latency p50 "
        f"{result['latency_us']['p50'] / 1000:.2f} ms, p99 {result['latency_us']['p99'] / 1000:.2f} ms.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--rate", type=float, default=500.0, help="orders per second (default 500)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--samples", type=Path, help="also write every sample here (JSON)")
    args = parser.parse_args()
    series, result, stored = soak(args.duration, args.rate, args.every)
    if args.samples is not None:
        args.samples.write_text(json.dumps({name: vars(s) for name, s in series.items()}))
    table = render(series, result, stored, args.duration, args.rate, args.every)
    print(table)
    if not args.no_write:
        replace_section(REPO / "docs" / "benchmarks.md", "soak", "## Soak: memory and file descriptors\n\n" + table)


if __name__ == "__main__":
    main()
