"""Benchmark: the order book in-process, and the gRPC matching engine (unary and streaming).

Run: ``flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/engine_book.py``
(``--help`` for sizes). Prints a markdown table.

* Book: a recorded realistic mix (60% limit orders around the mid, 25% cancels of resting
  orders, 15% market orders) replayed on a fresh book; median orders/s of ``--repeats``.
* Engine: ``python -m hftperf.reference_engine.engine`` as its own process with SQLite
  persistence (WAL, synchronous=FULL, group commit) in a temporary directory; a Python
  ``grpc.aio`` client in this process drives ``--concurrency`` unary SubmitOrder loops, then
  ``--streams`` SubmitOrders streams with ``--window`` orders in flight each. On a 2-core
  machine client and engine share the cores, so these are lower bounds for the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import grpc

from hftperf.reference_engine.book import BUY, GTC, IOC, LIMIT, MARKET, SELL, Book
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc

Op = tuple[int, ...]  # (0, side, type, price, qty, tif) submit | (1, order_id) cancel
MID_TICKS = 100_000


def record_mix(n_ops: int, seed: int = 1) -> list[Op]:
    """Generate the mix against a live book so every cancel targets a resting order."""
    rng = random.Random(seed)
    book, ops, live = Book("X"), list[Op](), list[int]()
    for _ in range(n_ops):
        r = rng.random()
        if r < 0.25:
            while live:  # a random resting order; drop ids that have traded away meanwhile
                j = rng.randrange(len(live))
                live[j], live[-1] = live[-1], live[j]
                oid = live.pop()
                if book.get(oid) is not None:
                    book.cancel(oid)
                    ops.append((1, oid))
                    break
            else:
                r = 1.0  # nothing rests yet: place a limit order instead
            if r < 0.25:
                continue
        side = BUY if rng.random() < 0.5 else SELL
        if r < 0.40:
            op: Op = (0, side, MARKET, 0, rng.randint(1, 60), IOC)
        else:
            off = rng.randint(-2, 40)  # mostly passive, a few marketable
            op = (0, side, LIMIT, MID_TICKS - off if side == BUY else MID_TICKS + off,
                  rng.randint(1, 100), GTC)
        ex = book.submit(op[1], op[2], op[3], op[4], op[5])
        if ex.order.remaining:
            live.append(ex.order.order_id)
        ops.append(op)
    return ops


def replay_ops_per_s(ops: Sequence[Op]) -> float:
    """Replay recorded ops on a fresh book; orders (submits + cancels) per second."""
    book = Book("X")
    submit, cancel = book.submit, book.cancel
    start = time.perf_counter()
    for op in ops:
        if op[0]:
            cancel(op[1])
        else:
            submit(op[1], op[2], op[3], op[4], op[5])
    return len(ops) / (time.perf_counter() - start)


def _cpu_model() -> str:
    """CPU model name from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(rng: random.Random, symbol: str) -> pb.OrderRequest:
    side = pb.BUY if rng.random() < 0.5 else pb.SELL
    if rng.random() < 0.15:
        return pb.OrderRequest(symbol=symbol, side=side, type=pb.MARKET, quantity=rng.randint(1, 20))
    off = rng.randint(-2, 40)
    return pb.OrderRequest(symbol=symbol, side=side, type=pb.LIMIT, quantity=rng.randint(1, 50),
                           price_ticks=MID_TICKS - off if side == pb.BUY else MID_TICKS + off)


def _pct(sorted_us: list[float], q: float) -> float:
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))] if sorted_us else 0.0


async def unary_load(target: str, concurrency: int, duration_s: float) -> dict[str, float]:
    """``concurrency`` closed loops of SubmitOrder for ``duration_s`` (after a 1 s warm-up)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.MatchingEngineStub(channel)
        latencies_us: list[float] = []
        measuring = False
        stop_at = time.perf_counter() + 1.0 + duration_s

        async def loop(i: int) -> int:
            rng, sent = random.Random(i), 0
            symbol = ("BTC-USD", "ETH-USD", "SOL-USD")[i % 3]
            while (now := time.perf_counter()) < stop_at:
                await stub.SubmitOrder(_request(rng, symbol))
                if measuring:
                    latencies_us.append((time.perf_counter() - now) * 1e6)
                    sent += 1
            return sent

        tasks = [asyncio.create_task(loop(i)) for i in range(concurrency)]
        await asyncio.sleep(1.0)
        measuring, t0 = True, time.perf_counter()
        total = sum(await asyncio.gather(*tasks))
        elapsed = time.perf_counter() - t0
    latencies_us.sort()
    return {"rate": total / elapsed, "p50": _pct(latencies_us, 0.5), "p99": _pct(latencies_us, 0.99)}


async def stream_load(target: str, streams: int, window: int, duration_s: float) -> dict[str, float]:
    """``streams`` SubmitOrders streams, each keeping ``window`` orders in flight."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.MatchingEngineStub(channel)
        stop_at = time.perf_counter() + duration_s

        async def one(i: int) -> int:
            rng, symbol = random.Random(100 + i), ("BTC-USD", "ETH-USD", "SOL-USD")[i % 3]
            call = stub.SubmitOrders()
            credit = asyncio.Semaphore(window)

            async def writer() -> None:
                while time.perf_counter() < stop_at:
                    await credit.acquire()
                    await call.write(_request(rng, symbol))
                await call.done_writing()

            task = asyncio.create_task(writer())
            received = 0
            while (reply := await call.read()) is not grpc.aio.EOF:
                assert reply.order.order_id
                received += 1
                credit.release()
            await task
            return received

        t0 = time.perf_counter()
        total = sum(await asyncio.gather(*(one(i) for i in range(streams))))
        return {"rate": total / (time.perf_counter() - t0)}


async def engine_figures(target: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Unary then streaming load against a running engine."""
    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
    unary = await unary_load(target, args.concurrency, args.duration_s)
    stream = await stream_load(target, args.streams, args.window, args.duration_s)
    return {"unary": unary, "stream": stream}


def run_engine_figures(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Start the engine process on a free port with a temporary data dir, measure, stop it."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-") as data_dir:
        proc = subprocess.Popen([sys.executable, "-m", "hftperf.reference_engine.engine",
                                 "--port", str(port), "--data-dir", data_dir,
                                 "--log-level", "WARNING"])
        try:
            try:
                import uvloop
            except ImportError:
                return asyncio.run(engine_figures(f"127.0.0.1:{port}", args))
            return uvloop.run(engine_figures(f"127.0.0.1:{port}", args))
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book-ops", type=int, default=200_000, help="orders per book run")
    parser.add_argument("--repeats", type=int, default=7, help="book runs (median reported)")
    parser.add_argument("--duration-s", type=float, default=5.0, help="per gRPC measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="unary client loops")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--window", type=int, default=256, help="in-flight orders per stream")
    parser.add_argument("--skip-grpc", action="store_true")
    args = parser.parse_args()

    ops = record_mix(args.book_ops)
    kinds = {"limit": sum(1 for o in ops if o[0] == 0 and o[2] == LIMIT),
             "cancel": sum(1 for o in ops if o[0] == 1),
             "market": sum(1 for o in ops if o[0] == 0 and o[2] == MARKET)}
    replay_ops_per_s(ops[: len(ops) // 4])  # warm-up
    rates = [replay_ops_per_s(ops) for _ in range(args.repeats)]
    mix = ", ".join(f"{100 * n / len(ops):.0f}% {k}" for k, n in kinds.items())

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; load average at start {load:.2f}\n")
    print("| measurement | figure | detail |")
    print("|---|---:|---|")
    print(f"| order book in-process | {statistics.median(rates):,.0f} orders/s | "
          f"median of {args.repeats} x {len(ops):,} ({mix}); min {min(rates):,.0f}, "
          f"max {max(rates):,.0f} |")
    if args.skip_grpc:
        return
    figures = run_engine_figures(args)
    u, s = figures["unary"], figures["stream"]
    print(f"| gRPC SubmitOrder (unary) | {u['rate']:,.0f} orders/s | {args.concurrency} "
          f"concurrent calls, SQLite WAL FULL; p50 {u['p50'] / 1000:.2f} ms, "
          f"p99 {u['p99'] / 1000:.2f} ms |")
    print(f"| gRPC SubmitOrders (stream) | {s['rate']:,.0f} orders/s | {args.streams} streams "
          f"x {args.window} in flight, SQLite WAL FULL |")


if __name__ == "__main__":
    main()
