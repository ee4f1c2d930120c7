"""End-to-end benchmark of the reference stack through the HTTP gateway; prints a markdown table.

Measures ``GET /health`` req/s and ``POST /orders`` req/s with p50/p99 (SQLite persistence,
group commit) for each gateway worker count, plus the CPU each process used and the
Server-Timing breakdown of orders, so that the table says where the time goes.

Driven by wrk (closed loop: latency from actual send, so coordinated omission is not
corrected) and, for orders, also by hftperf's own load generator in open loop at a fixed rate
(latency from the intended send time). Run it alone:

    flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/reference_stack.py --workers 1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from hftperf.reference_engine.backends import LocalStack, StackConfig

SYMBOLS = ("BTC-USD", "ETH-USD")
# Limit GTC orders a few ticks around a mid of 10000, both sides: about half of them cross.
ORDERS_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local fmt = '{"symbol":"BTC-USD","side":"%s","type":"limit","price":%d,"quantity":%d,"time_in_force":"gtc"}'
request = function()
  local buy = math.random() < 0.5
  local offset = math.random(-2, 10)
  local price = buy and (10000 - offset) or (10000 + offset)
  return wrk.format(nil, "/orders", nil, string.format(fmt, buy and "buy" or "sell", price, math.random(1, 10)))
end
"""
# The same kind of orders for ``hftperf load`` (BTC-USD trades around 10000 ticks).
ORDERS_TEMPLATE = (
    '{"symbol":"BTC-USD","side":"${choice:buy|sell}","type":"limit","price":${rand:9950:10050},'
    '"quantity":${rand:1:10},"time_in_force":"gtc"}'
)
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclasses.dataclass(frozen=True)
class Row:
    """One measured load: throughput, latency and the CPU each process used (% of one core)."""

    workers: int
    test: str
    rate_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_gateway_pct: float
    cpu_engine_pct: float
    cpu_wrk_pct: float

    def cpu_us_per_request(self) -> tuple[float, float, float]:
        """CPU time per request (gateway, engine, wrk): robust to other load on the machine."""
        per = 1e6 / 100.0 / max(self.rate_per_s, 1e-9)
        return self.cpu_gateway_pct * per, self.cpu_engine_pct * per, self.cpu_wrk_pct * per

    def ceiling_per_s(self, cores: int) -> float:
        """Requests/s if these three processes had every core to themselves."""
        return cores * 1e6 / max(sum(self.cpu_us_per_request()), 1e-9)


def free_port() -> int:
    """A free port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes of a process group."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def parse_wrk(text: str) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, errors) from wrk --latency output."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    found = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    pct = {m[0]: float(m[1]) * _UNIT_MS[m[2]] for m in found}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors += sum(int(g) for g in sock.groups()) if sock else 0
    return rate, pct.get("50", float("nan")), pct.get("99", float("nan")), errors


def run_wrk(
    url: str, args: argparse.Namespace, script: Path | None, measure: Callable[[], dict[str, float]]
) -> tuple[str, dict[str, float]]:
    """Run wrk once; return its output and the CPU % of one core used by each process group and wrk."""
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration_s}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    before, wrk_before, t0 = measure(), _children_cpu_s(), time.monotonic()
    proc = subprocess.run([*cmd, url], check=True, capture_output=True, text=True)
    wall_s = time.monotonic() - t0
    after = measure()
    usage = {k: (after[k] - before[k]) / wall_s * 100.0 for k in before}
    usage["wrk"] = (_children_cpu_s() - wrk_before) / wall_s * 100.0
    return proc.stdout, usage


def run_hftperf_load(
    url: str, args: argparse.Namespace, measure: Callable[[], dict[str, float]]
) -> tuple[dict[str, object], dict[str, float]]:
    """``hftperf load`` open loop at ``args.load_rate`` orders/s; its JSON summary and CPU % as run_wrk."""
    hftperf = str(Path(sys.executable).with_name("hftperf"))
    cmd = [hftperf, "load", url, "-m", "POST", "--template", "--body", ORDERS_TEMPLATE, "-c", str(args.connections),
           "--rate", str(args.load_rate), "-d", f"{args.duration_s}s", "--server-timing", "--json", "--quiet"]
    before, gen_before, t0 = measure(), _children_cpu_s(), time.monotonic()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall_s = time.monotonic() - t0
    after = measure()
    usage = {k: (after[k] - before[k]) / wall_s * 100.0 for k in before}
    usage["wrk"] = (_children_cpu_s() - gen_before) / wall_s * 100.0
    return json.loads(proc.stdout), usage


def _children_cpu_s() -> float:
    t = os.times()
    return t.children_user + t.children_system


def server_timing_breakdown(url: str, n: int = 300) -> str:
    """Median gateway/engine/db ms of ``n`` sequential orders (an unloaded stack)."""
    samples: dict[str, list[float]] = {"client": [], "gateway": [], "engine": [], "db": []}
    with httpx.Client(base_url=url, timeout=5.0) as client:
        for i in range(n):
            side = "buy" if i % 2 else "sell"
            body = {"symbol": "ETH-USD", "side": side, "type": "limit", "price": 5000 + (i % 7), "quantity": 1}
            t0 = time.perf_counter()
            r = client.post("/orders", json=body)
            samples["client"].append((time.perf_counter() - t0) * 1000.0)
            for part in r.headers["server-timing"].split(","):
                name, _, dur = part.strip().partition(";dur=")
                samples[name].append(float(dur))
    return ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in samples.items())


def bench_workers(workers: int, args: argparse.Namespace, lua: Path) -> tuple[list[Row], str]:
    """Health and orders loads against a fresh stack with ``workers`` gateway processes."""
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-") as tmp:
        config = StackConfig(
            name=f"bench-{os.getpid()}", gateway_port=free_port(), engine_port=free_port(), workers=workers,
            data_dir=Path(tmp) / "data", state_dir=Path(tmp) / "state", symbols=SYMBOLS,
            gateway_args=tuple(shlex.split(args.gateway_args)),
        )  # fmt: skip
        stack = LocalStack(config)
        with stack as endpoints:
            groups = {"gateway": stack.pid("gateway"), "engine": stack.pid("engine")}

            def measure() -> dict[str, float]:
                return {k: group_cpu_s(pgid) for k, pgid in groups.items()}

            breakdown = server_timing_breakdown(endpoints.gateway_url)
            rows = []
            for test, path, script in (("GET /health", "/health", None), ("POST /orders", "/", lua)):
                if args.only and args.only not in test.lower():
                    continue
                run_wrk(endpoints.gateway_url + path, _warm(args), script, measure)
                out, usage = run_wrk(endpoints.gateway_url + path, args, script, measure)
                rate, p50, p99, errors = parse_wrk(out)
                rows.append(Row(workers, test, rate, p50, p99, errors, usage["gateway"], usage["engine"], usage["wrk"]))
            if args.load_rate > 0 and args.only != "health":
                summary, usage = run_hftperf_load(endpoints.gateway_url + "/orders", args, measure)
                latency: dict[str, float] = summary["latency_us"]  # type: ignore[assignment]
                errors = int(summary["requests"]) - int(summary["ok"])  # type: ignore[call-overload]  # not_sent included
                rows.append(Row(
                    workers, f"POST /orders (hftperf load, open loop {args.load_rate:,}/s)",
                    float(summary["throughput_rps"]), latency["p50"] / 1000.0, latency["p99"] / 1000.0,  # type: ignore[arg-type]
                    errors, usage["gateway"], usage["engine"], usage["wrk"],
                ))  # fmt: skip
    return rows, breakdown


def _warm(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "duration_s": args.warmup_s})


def markdown(rows: list[Row], breakdowns: dict[int, str], args: argparse.Namespace) -> str:
    """The result table plus the machine and settings it ran with."""
    lines = [
        (
            f"Reference stack through the gateway, wrk {args.threads} thread(s) x {args.connections} connections, "
            f"{args.duration_s} s per test, SQLite WAL (synchronous=FULL, group commit)."
        ),
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
            f"Python {platform.python_version()}; load generator on the same cores."
        ),
        "",
        ("| gateway workers | test | req/s | p50 ms | p99 ms | errors | CPU % gateway / engine / load generator "
        "| CPU µs per request gateway / engine / load generator | CPU-bound ceiling req/s |"),
        "|---:|---|---:|---:|---:|---:|---|---|---:|",
    ]
    cores = os.cpu_count() or 1
    for r in rows:
        gw_us, eng_us, wrk_us = r.cpu_us_per_request()
        lines.append(
            f"| {r.workers} | {r.test} | {r.rate_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
            f"| {r.cpu_gateway_pct:.0f} / {r.cpu_engine_pct:.0f} / {r.cpu_wrk_pct:.0f} "
            f"| {gw_us:.0f} / {eng_us:.0f} / {wrk_us:.0f} | {r.ceiling_per_s(cores):,.0f} |"
        )
    lines.append("")
    lines.append("Unloaded POST /orders, median ms (client round trip and Server-Timing):")
    lines += [f"- {w} worker(s): {b}" for w, b in breakdowns.items()]
    return "\n".join(lines)


def main() -> int:
    """Parse flags, run every worker count, print (and optionally write) the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="1,2", help="comma-separated gateway worker counts")
    p.add_argument("--duration-s", type=int, default=10)
    p.add_argument("--warmup-s", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--load-rate", type=int, default=5000, help="hftperf load open-loop orders/s (0: skip)")
    p.add_argument("--gateway-args", default="", help="extra gateway flags, e.g. '--order-batch-inflight 2'")
    p.add_argument("--only", choices=["health", "orders"], help="run one of the two loads")
    p.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2
    rows: list[Row] = []
    breakdowns: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "orders.lua"
        lua.write_text(ORDERS_LUA)
        for workers in (int(w) for w in args.workers.split(",")):
            got, breakdowns[workers] = bench_workers(workers, args, lua)
            rows += got
    table = markdown(rows, breakdowns, args)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
