"""Calls/s of hftperf's gRPC transport against the reference engine, closed loop, beside a plain grpc.aio client.

The baseline is the simplest fast grpc.aio client: C coroutines each awaiting the same
pre-serialized call in a loop (no scheduling, no histograms). Client CPU per call is the
client process's CPU time (grpc's own threads included) over every call it made. Both run in fresh processes
against one engine (SQLite synchronous=OFF, so the store is not the limit), alternating
within each round; medians shown. Methods: Health (cheap handler: client and gRPC bound)
and SubmitOrder with an IOC order that never rests (the engine's order path).
Prints a markdown table; ``--out docs/benchmarks.md`` also writes it into that file.

    flock /tmp/hftperf-bench.lock python benchmarks/grpc_loadgen.py [--rounds 3] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, free_port, machine, median, replace_section, wait_for_port

SERVICE = "/hftperf.matching.v1.MatchingEngine/"


def order_bytes() -> bytes:
    """An IOC buy at 1 tick: accepted and persisted, never trades, never rests."""
    from hftperf.reference_engine.proto import matching_pb2 as pb

    return pb.OrderRequest(symbol="BTC-USD", side=pb.BUY, type=pb.LIMIT, price_ticks=1, quantity=1,
                           time_in_force=pb.IOC).SerializeToString()


@contextlib.contextmanager
def engine() -> Iterator[str]:
    """The reference engine in a subprocess on a free port; yields ``host:port``."""
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-") as tmp:
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "hftperf.reference_engine.engine", "--port", str(port),
                                    "--data-dir", tmp, "--sqlite-synchronous", "OFF", "--log-level", "WARNING"],
                                   cwd=REPO)
        try:
            wait_for_port(port, attempts=200)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def child_hftperf(target: str, method: str, concurrency: int, workers: int, seconds: float) -> dict[str, float]:
    from hftperf.loadgen import GrpcRequestSpec, grpc_plan, run_load

    data = order_bytes() if method == "SubmitOrder" else b""
    plan = grpc_plan(GrpcRequestSpec(target, SERVICE + method, data), connections=concurrency, workers=workers,
                     warmup_s=1.0, duration_s=seconds, keep_intervals=False)
    cpu_s = time.process_time()
    result = run_load(plan)
    calls = result.warmup_requests + result.requests
    return {"rps": result.throughput_rps, "errors": float(result.failed),
            "cpu_us_per_call": (time.process_time() - cpu_s) * 1e6 / max(1, calls),
            "p50_us": float(result.latency.value_at_percentile(50)),
            "p99_us": float(result.latency.value_at_percentile(99))}


def child_raw(target: str, method: str, concurrency: int, seconds: float) -> dict[str, float]:
    import grpc
    import uvloop

    data = order_bytes() if method == "SubmitOrder" else b""

    async def main() -> dict[str, float]:
        async with grpc.aio.insecure_channel(target) as channel:
            await channel.channel_ready()
            call = channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
            counts = [0, 0, 0]  # ok, errors (measured), all calls
            measuring = False

            async def loop(stop_at: float) -> None:
                while time.perf_counter() < stop_at:
                    counts[2] += 1
                    try:
                        await call(data, timeout=10)
                        counts[0] += measuring
                    except grpc.aio.AioRpcError:
                        counts[1] += measuring

            cpu_s = time.process_time()
            warm_end = time.perf_counter() + 1.0
            stop_at = warm_end + seconds
            tasks = [asyncio.ensure_future(loop(stop_at)) for _ in range(concurrency)]
            await asyncio.sleep(max(0.0, warm_end - time.perf_counter()))
            measuring = True
            started = time.perf_counter()
            await asyncio.gather(*tasks)
            return {"rps": counts[0] / (time.perf_counter() - started), "errors": float(counts[1]),
                    "cpu_us_per_call": (time.process_time() - cpu_s) * 1e6 / max(1, counts[2]),
                    "p50_us": float("nan"), "p99_us": float("nan")}

    return uvloop.run(main())


def sample(tool: str, target: str, method: str, concurrency: int, workers: int, seconds: float) -> dict[str, float]:
    """One measurement in a fresh process."""
    args = [sys.executable, __file__, "--child", tool, "--target", target, "--method", method,
            "--concurrency", str(concurrency), "--workers", str(workers), "--seconds", str(seconds)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=REPO).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the table into this markdown file")
    parser.add_argument("--child", choices=["hftperf", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="Health", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "hftperf":
        print(json.dumps(child_hftperf(args.target, args.method, args.concurrency, args.workers, args.seconds)))
        return
    if args.child == "raw":
        print(json.dumps(child_raw(args.target, args.method, args.concurrency, args.seconds)))
        return

    configs = [("Health", 1), ("Health", 16), ("SubmitOrder", 1), ("SubmitOrder", 16)]
    samples: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    with engine() as target:
        for round_index in range(args.rounds):
            for method, concurrency in configs:
                tools = ["raw", "hftperf"] if round_index % 2 == 0 else ["hftperf", "raw"]
                for tool in tools:
                    result = sample(tool, target, method, concurrency, 1, args.seconds)
                    samples.setdefault((method, concurrency, tool), []).append(result)
                    print(f"round {round_index + 1} {method:12} c={concurrency:<3} {tool:8} {result['rps']:>9,.0f} "
                          f"calls/s errors {result['errors']:.0f}", file=sys.stderr)

    lines = [
        f"Machine: {machine()}. Reference engine (one process, SQLite synchronous=OFF) and client on the "
        f"same cores, loopback, one channel. Closed loop, {args.rounds} rounds of {args.seconds:g} s after "
        "1 s warm-up, tools alternating; medians shown.",
        "",
        "| method | calls in flight | client | calls/s | client CPU per call | p50 | p99 | hftperf / plain calls/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for method, concurrency in configs:
        plain = median([s["rps"] for s in samples[(method, concurrency, "raw")]])
        for tool, label in (("raw", "plain grpc.aio"), ("hftperf", "hftperf")):
            runs = samples[(method, concurrency, tool)]
            rps = median([s["rps"] for s in runs])
            cpu_us = median([s["cpu_us_per_call"] for s in runs])
            p50, p99 = (median([s[key] for s in runs]) for key in ("p50_us", "p99_us"))
            latency = f"{p50:,.0f} µs | {p99:,.0f} µs" if tool == "hftperf" else "– | –"
            ratio = f"{rps / plain:.2f}" if tool == "hftperf" else ""
            lines.append(f"| {method} | {concurrency} | {label} | {rps:,.0f} | {cpu_us:.0f} µs | {latency} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        replace_section(args.out, "grpc-loadgen", "## gRPC transport, calls/s\n\n" + table)


if __name__ == "__main__":
    main()
