"""Calls/s of hftperf's gRPC transport against the reference engine, closed loop, beside a plain grpc.aio client.

The baseline is the simplest fast grpc.aio client: C coroutines each awaiting the same
pre-serialized call in a loop (no scheduling, no histograms). Client CPU per call is the
client process's CPU time (grpc's own threads included) over every call it made. Both run in fresh processes
against one engine (SQLite synchronous=OFF, so the store is not the limit), alternating
within each round; medians shown. Methods: Health (cheap handler: client and gRPC bound)
and SubmitOrder with an IOC order that never rests (the engine's order path), its request
precompiled (a template without placeholders: bytes made once) or converted per request
(``${seq}`` in the template: ``json_format`` for every call). Bidi: messages/s on one stream
with 16 messages in flight against an echo server written here (grpc.aio, bytes in, same bytes
out), hftperf in order or matched by ``client_order_id`` beside a bare read-one-write-one loop.
Also the JSON→protobuf conversion itself, µs per request, precompiled vs per request.
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
ECHO = "/bench.Echo/Chat"
TEMPLATE = ('{"symbol": "BTC-USD", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC", "priceTicks": 1, '
            '"quantity": 1, "clientOrderId": "c%s"}')
BIDI_WINDOW = 16


def schema(method: str, output: str) -> object:
    """The engine proto's descriptors as a MethodSchema (what reflection would give)."""
    from google.protobuf import descriptor_pb2

    from hftperf.reference_engine.proto import matching_pb2 as pb
    from hftperf.targets.grpc_schema import MethodSchema

    files = descriptor_pb2.FileDescriptorSet()
    pb.DESCRIPTOR.CopyToProto(files.file.add())
    service, name = method.strip("/").split("/")
    return MethodSchema(service, name, "hftperf.matching.v1.OrderRequest", f"hftperf.matching.v1.{output}",
                        method == ECHO, method == ECHO, files.SerializeToString())


def template_requests(seq: bool) -> object:
    """SubmitOrder requests from a JSON template: precompiled bytes, or a per-request builder (``${seq}``)."""
    from hftperf.scenarios.grpc_requests import TemplateRequests
    from hftperf.targets.template import compile_template

    text = TEMPLATE % ("${seq}" if seq else "1")
    requests = TemplateRequests(schema(SERVICE + "SubmitOrder", "SubmitOrderResponse"),  # type: ignore[arg-type]
                                compile_template(text, {"seq"}, "bench.request"), (), 1)
    return requests if seq else requests(0)


def conversion_us() -> tuple[float, float]:
    """µs per request of the request bytes: precompiled (index a tuple) vs converted per request."""
    from hftperf.loadgen import RequestCycle

    precompiled = RequestCycle((template_requests(False),))  # type: ignore[arg-type]
    per_request = template_requests(True)
    figures = []
    for build in (precompiled, per_request):
        build(0)  # type: ignore[operator]
        started = time.perf_counter()
        for i in range(20_000):
            build(i)  # type: ignore[operator]
        figures.append((time.perf_counter() - started) * 1e6 / 20_000)
    return figures[0], figures[1]


def echo_server(port: int) -> None:
    """A bidi echo service (bytes in, the same bytes out) on grpc.aio."""
    import grpc
    import uvloop

    async def chat(requests, context):  # type: ignore[no-untyped-def]
        async for message in requests:
            yield message

    async def main() -> None:
        server = grpc.aio.server()
        handler = grpc.stream_stream_rpc_method_handler(chat)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Chat": handler}),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(main())


@contextlib.contextmanager
def echo() -> Iterator[str]:
    """The echo server in a subprocess; yields ``host:port``."""
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--child", "echo-server", "--target", str(port)], cwd=REPO)
    try:
        wait_for_port(port, attempts=200)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


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


def spec_for(target: str, method: str) -> object:
    """The hftperf request spec of a benchmark method (``SubmitOrder+seq``: a per-request template)."""
    from hftperf.loadgen import GrpcRequestSpec

    if method == "SubmitOrder+seq":
        return GrpcRequestSpec(target, SERVICE + "SubmitOrder", template_requests(True))  # type: ignore[arg-type]
    if method.startswith("bidi"):
        from hftperf.scenarios.grpc_requests import CorrelatedRequests, ResponseKey

        if method == "bidi+correlate":
            key = ResponseKey(schema(ECHO, "OrderRequest"), ("client_order_id",))  # type: ignore[arg-type]
            return GrpcRequestSpec(target, ECHO, CorrelatedRequests(order_bytes(), 7, True), streaming="bidi",
                                   correlate=key)
        return GrpcRequestSpec(target, ECHO, order_bytes(), streaming="bidi")
    return GrpcRequestSpec(target, SERVICE + method, order_bytes() if method == "SubmitOrder" else b"")


def child_hftperf(target: str, method: str, concurrency: int, workers: int, seconds: float) -> dict[str, float]:
    from hftperf.loadgen import grpc_plan, run_load

    plan = grpc_plan(spec_for(target, method), connections=concurrency, workers=workers,  # type: ignore[arg-type]
                     warmup_s=1.0, duration_s=seconds, keep_intervals=False)
    cpu_s = time.process_time()
    result = run_load(plan)
    calls = result.warmup_requests + result.requests
    return {"rps": result.throughput_rps, "errors": float(result.failed),
            "cpu_us_per_call": (time.process_time() - cpu_s) * 1e6 / max(1, calls),
            "p50_us": float(result.latency.value_at_percentile(50)),
            "p99_us": float(result.latency.value_at_percentile(99))}


def child_raw_bidi(target: str, seconds: float) -> dict[str, float]:
    """Bare bidi loop: one stream, BIDI_WINDOW messages in flight, each answer read lets the next one go."""
    import grpc
    import uvloop

    data = order_bytes()

    async def main() -> dict[str, float]:
        async with grpc.aio.insecure_channel(target) as channel:
            await channel.channel_ready()
            call = channel.stream_stream(ECHO, request_serializer=None, response_deserializer=None)()
            for _ in range(BIDI_WINDOW):
                await call.write(data)
            cpu_s = time.process_time()
            warm_end = time.perf_counter() + 1.0
            stop_at = warm_end + seconds
            count = total = 0
            started = 0.0
            while True:
                await call.read()
                total += 1
                now = time.perf_counter()
                if now >= stop_at:
                    break
                if now >= warm_end:
                    if not started:
                        started = now
                    count += 1
                await call.write(data)
            elapsed = time.perf_counter() - started
            call.cancel()
            return {"rps": count / elapsed, "errors": 0.0,
                    "cpu_us_per_call": (time.process_time() - cpu_s) * 1e6 / max(1, total),
                    "p50_us": float("nan"), "p99_us": float("nan")}

    return uvloop.run(main())


def child_raw(target: str, method: str, concurrency: int, seconds: float) -> dict[str, float]:
    import grpc
    import uvloop

    if method.startswith("bidi"):
        return child_raw_bidi(target, seconds)
    data = order_bytes() if method.startswith("SubmitOrder") else b""
    method = method.split("+")[0]

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
    parser.add_argument("--child", choices=["hftperf", "raw", "echo-server"], help=argparse.SUPPRESS)
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
    if args.child == "echo-server":
        echo_server(int(args.target))
        return

    configs = [("Health", 1), ("Health", 16), ("SubmitOrder", 16), ("SubmitOrder+seq", 16),
               ("bidi", BIDI_WINDOW), ("bidi+correlate", BIDI_WINDOW)]
    samples: dict[tuple[str, int, str], list[dict[str, float]]] = {}
    with engine() as target, echo() as echo_target:
        for round_index in range(args.rounds):
            for method, concurrency in configs:
                tools = ["raw", "hftperf"] if round_index % 2 == 0 else ["hftperf", "raw"]
                for tool in tools:
                    where = echo_target if method.startswith("bidi") else target
                    result = sample(tool, where, method, concurrency, 1, args.seconds)
                    samples.setdefault((method, concurrency, tool), []).append(result)
                    print(f"round {round_index + 1} {method:12} c={concurrency:<3} {tool:8} {result['rps']:>9,.0f} "
                          f"calls/s errors {result['errors']:.0f}", file=sys.stderr)

    precompiled_us, per_request_us = conversion_us()
    lines = [
        f"Machine: {machine()}. Reference engine (one process, SQLite synchronous=OFF) or the echo server and "
        f"the client on the same cores, loopback, one channel. Closed loop, {args.rounds} rounds of "
        f"{args.seconds:g} s after 1 s warm-up, tools alternating; medians shown. `SubmitOrder+seq`: the "
        "request converted from its JSON template for every call; `bidi`: messages/s on one stream "
        f"({BIDI_WINDOW} in flight), `+correlate` matched by client_order_id. The plain client of a "
        "per-request template sends precompiled bytes (it is the bare loop).",
        "",
        f"JSON→protobuf per request: precompiled {precompiled_us:.2f} µs, converted per request "
        f"{per_request_us:.1f} µs.",
        "",
        "| method | in flight | client | calls (messages)/s | client CPU per call | p50 | p99 | hftperf / plain |",
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
