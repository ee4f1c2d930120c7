"""The gRPC transport against a real matching engine (in a subprocess): what it measured must be right."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.servers import free_port

from hftperf.errors import TargetUnreachable
from hftperf.loadgen import GrpcRequestSpec, LoadResult, grpc_plan, run_load
from hftperf.reference_engine.proto import matching_pb2 as pb

SUBMIT = "/hftperf.matching.v1.MatchingEngine/SubmitOrder"
HEALTH = "/hftperf.matching.v1.MatchingEngine/Health"
# An IOC buy far below any ask: accepted, never trades, never rests (the book stays empty).
ORDER = pb.OrderRequest(symbol="BTC-USD", side=pb.BUY, type=pb.LIMIT, price_ticks=1, quantity=1,
                        time_in_force=pb.IOC).SerializeToString()

_ENGINE_SCRIPT = """
import asyncio, signal, sys
from pathlib import Path
from hftperf.reference_engine.engine import EngineConfig, EngineServer

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    config = EngineConfig(port=0, data_dir=Path(sys.argv[1]), grace_s=0.5,
                          store_options={"synchronous": "OFF"})
    async with EngineServer(config) as server:
        print("PORT", server.port, flush=True)
        await stop.wait()

asyncio.run(main())
"""


@contextlib.contextmanager
def engine_process(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run an EngineServer on a free port in a subprocess; yield its ``host:port`` and the process."""
    process = subprocess.Popen([sys.executable, "-c", _ENGINE_SCRIPT, str(data_dir)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"engine did not start: {line!r}")
        yield f"127.0.0.1:{int(line.split()[1])}", process
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with engine_process(tmp_path) as running:
        yield running


def _run(target: str, method: str = SUBMIT, request: bytes = ORDER, **kwargs: Any) -> LoadResult:
    kwargs.setdefault("warmup_s", 0.2)
    kwargs.setdefault("duration_s", 1.0)
    kwargs.setdefault("connections", 8)
    kwargs.setdefault("timeout_s", 2.0)
    preflight = bool(kwargs.pop("preflight", True))
    return run_load(grpc_plan(GrpcRequestSpec(target, method, request), **kwargs), preflight=preflight)


def _assert_accounted(result: LoadResult) -> None:
    assert result.requests == result.ok + result.failed + result.in_flight
    assert sum(r.sent for r in result.intervals) == result.requests
    assert sum(r.ok for r in result.intervals) == result.ok
    assert result.latency.total_count == result.ok  # one latency per successful call


def test_closed_loop_counts_add_up_and_latency_is_recorded(engine: tuple[str, Any]) -> None:
    target, _ = engine
    result = _run(target)
    _assert_accounted(result)
    assert result.failed == 0 and result.ok > 200
    assert result.warmup_requests > 0
    assert 0 < result.latency.value_at_percentile(50) <= result.latency.max_us < 2_000_000
    assert result.throughput_rps == pytest.approx(result.ok / result.duration_s)


def test_open_loop_sends_the_scheduled_calls(engine: tuple[str, Any]) -> None:
    target, _ = engine
    result = _run(target, rate_per_s=400, duration_s=1.0)
    _assert_accounted(result)
    assert result.requests == 400
    assert result.ok >= 395 and result.failed == 0
    assert result.pacer_lag is not None and result.pacer_lag.total_count == result.sent


def test_several_channels_and_two_worker_processes(engine: tuple[str, Any]) -> None:
    target, _ = engine
    spec = GrpcRequestSpec(target, HEALTH, b"", channels=2)
    result = run_load(grpc_plan(spec, connections=4, workers=2, warmup_s=0.2, duration_s=1.0))
    _assert_accounted(result)
    assert result.failed == 0 and result.ok > 100


@pytest.mark.parametrize(("method", "request_bytes", "error"), [
    ("/hftperf.matching.v1.MatchingEngine/NoSuchMethod", ORDER, "grpc_unimplemented"),
    (SUBMIT, b"", "grpc_invalid_argument"),  # an empty OrderRequest has no symbol
])
def test_a_status_code_is_its_own_error_class(engine: tuple[str, Any], method: str, request_bytes: bytes,
                                              error: str) -> None:
    target, _ = engine
    result = _run(target, method, request_bytes, duration_s=0.5)
    _assert_accounted(result)
    assert result.ok == 0 and result.requests > 0
    assert result.errors == {error: result.requests - result.in_flight}


def test_closed_port_fails_the_preflight() -> None:
    started = time.perf_counter()
    with pytest.raises(TargetUnreachable, match=r"cannot connect to 127\.0\.0\.1"):
        _run(f"127.0.0.1:{free_port()}")
    assert time.perf_counter() - started < 2.0


def test_closed_port_without_preflight_is_unavailable() -> None:
    started = time.perf_counter()
    result = _run(f"127.0.0.1:{free_port()}", preflight=False, connections=2, duration_s=0.5, timeout_s=0.5)
    assert time.perf_counter() - started < 3.0
    _assert_accounted(result)
    assert result.ok == 0 and set(result.errors) == {"grpc_unavailable"}


def test_silent_server_gives_timeouts_not_a_hang() -> None:
    """A TCP listener that never speaks HTTP/2: every call ends at its deadline (or the plan's timeout)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        target = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.perf_counter()
        result = _run(target, connections=2, warmup_s=0.0, duration_s=1.0, timeout_s=0.3)
        elapsed = time.perf_counter() - started
    _assert_accounted(result)
    assert result.ok == 0 and set(result.errors) <= {"timeout", "grpc_deadline_exceeded"} and result.failed >= 4
    assert elapsed < 1.0 + 0.3 + 3.0


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_engine_stopped_mid_run_errors_are_classified(engine: tuple[str, Any], signum: int) -> None:
    target, process = engine
    stopper = threading.Timer(0.8, process.send_signal, (signum,))
    started = time.perf_counter()
    stopper.start()
    try:
        result = _run(target, warmup_s=0.2, duration_s=2.0, timeout_s=1.0)
    finally:
        stopper.cancel()
    elapsed = time.perf_counter() - started
    assert elapsed < 0.2 + 2.0 + 1.0 + 3.0  # bounded: no hang on a dead target
    _assert_accounted(result)
    assert result.ok > 20  # before the stop
    # After the stop calls fail UNAVAILABLE; a call cut off mid-flight may be cancelled or run into
    # its deadline (classes from the status code, never from its text).
    assert result.errors.get("grpc_unavailable", 0) > 10
    assert set(result.errors) <= {"grpc_unavailable", "grpc_cancelled", "grpc_deadline_exceeded", "timeout"}
