"""Streaming gRPC through the load generator against a real server of its own proto (127.0.0.1):
server streaming (first/last message, messages/s), client streaming, bidi streams with answers
matched by a correlation field (out of order, some never answered), exact accounting, and
UNAVAILABLE after the server stops, answers again after it restarts."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.servers import free_port, script_server

from hftperf.loadgen import GrpcRequestSpec, LoadResult, grpc_plan, run_load
from hftperf.scenarios.grpc_requests import CorrelatedRequests, correlation
from hftperf.targets.grpc_schema import from_proto_files, message_classes

REPO = Path(__file__).resolve().parents[2]
QUOTE_SERVER = REPO / "tests" / "support" / "grpc_quote_server.py"
PROTOS = REPO / "tests" / "support" / "grpc_quotes"
SERVICE = "acme.quotes.v2.QuoteService"


def schema(method: str) -> Any:
    return from_proto_files([PROTOS / "acme_quotes.proto"], [PROTOS], f"{SERVICE}/{method}")


@pytest.fixture(scope="module")
def quote_server() -> Iterator[str]:
    with script_server(QUOTE_SERVER) as url:
        yield url.removeprefix("http://")


def accounted(result: LoadResult) -> None:
    assert result.requests == result.ok + result.failed + result.in_flight, result
    assert sum(r.sent for r in result.intervals) == result.requests


def run(spec: GrpcRequestSpec, **options: Any) -> LoadResult:
    options.setdefault("warmup_s", 0.0)
    options.setdefault("duration_s", 1.0)
    options.setdefault("connections", 8)
    options.setdefault("timeout_s", 1.0)
    return run_load(grpc_plan(spec, **options))


def test_server_streaming_first_last_message_and_message_counts(quote_server: str) -> None:
    method = schema("StreamQuotes")
    request = message_classes(method)[0](instrument="AAPL", lots=4).SerializeToString()
    spec = GrpcRequestSpec(quote_server, method.path, request, streaming="server")
    result = run(spec, rate_per_s=200.0)
    accounted(result)
    assert result.ok >= 180 and result.errors == {}, result.errors
    first, last = result.operations["first_message"], result.operations["last_message"]
    assert first.total_count == last.total_count == result.ok
    assert first.value_at_percentile(50) <= last.value_at_percentile(50) <= result.latency.value_at_percentile(50)
    assert result.counts["messages_received"] == 4 * result.ok


def test_client_streaming_sends_the_messages_of_each_call(quote_server: str) -> None:
    method = schema("SendOrders")
    order = message_classes(method)[0](client_order_id="c", instrument="AAPL", quantity=1).SerializeToString()
    spec = GrpcRequestSpec(quote_server, method.path, order, streaming="client", messages=5)
    result = run(spec, rate_per_s=200.0)
    accounted(result)
    assert result.ok >= 180 and result.errors == {}
    assert result.counts["messages_sent"] == 5 * result.requests


def bidi_spec(target: str, quantity: int = 1, streams: int = 2) -> GrpcRequestSpec:
    method = schema("Trade")
    base = message_classes(method)[0](instrument="AAPL", quantity=quantity).SerializeToString()
    number, delimited, key = correlation(method, "client_order_id", None, "test")
    return GrpcRequestSpec(target, method.path, CorrelatedRequests(base, number, delimited), streaming="bidi",
                           streams=streams, correlate=key)


def test_bidi_answers_out_of_order_are_matched_by_the_correlation_field(quote_server: str) -> None:
    result = run(bidi_spec(quote_server), rate_per_s=400.0, connections=16)
    accounted(result)
    # The server answers each pair second-first: only the correlation matches them. The last held
    # answer of each stream never comes: those messages are timeouts (censored), never lost.
    assert result.ok >= 380 and set(result.errors) <= {"timeout"} and result.failed <= 2, result.errors
    assert result.censored == result.errors.get("timeout", 0)
    assert result.counts["messages_sent"] == result.requests
    assert result.counts["messages_received"] == result.ok
    # Per-message latency is at most the pair's wait (1/rate per stream) plus loopback, from the intended time.
    assert result.latency.value_at_percentile(50) < 50_000


def test_bidi_unanswered_messages_are_timeouts_closed_loop(quote_server: str) -> None:
    result = run(bidi_spec(quote_server, quantity=0, streams=1), connections=4, timeout_s=0.3)
    accounted(result)
    assert result.ok == 0 and result.counts["messages_received"] == 0
    # Closed loop: every message times out (the last ones during the drain), none is lost.
    assert result.requests >= 4 * 3 and result.errors == {"timeout": result.requests} and result.in_flight == 0


@contextlib.contextmanager
def server_on(port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, str(QUOTE_SERVER), "--port", str(port)], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("PORT ")
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("kind", ["unary", "bidi"])
def test_unavailable_after_the_server_stops_and_answers_after_it_restarts(kind: str) -> None:
    port = free_port()
    target = f"127.0.0.1:{port}"
    if kind == "unary":
        method = schema("GetQuote")
        request = message_classes(method)[0](instrument="AAPL", request_id="r").SerializeToString()
        spec = GrpcRequestSpec(target, method.path, request, deadline_s=0.5,
                               channel_options=(("grpc.initial_reconnect_backoff_ms", 100),
                                                ("grpc.max_reconnect_backoff_ms", 200)))
    else:
        spec = bidi_spec(target)
    restarted: list[subprocess.Popen[str]] = []
    stack = contextlib.ExitStack()

    def restart() -> None:
        restarted.append(stack.enter_context(server_on(port)))

    with stack, server_on(port) as first:
        threading.Timer(1.0, first.kill).start()
        threading.Timer(2.0, restart).start()
        started = time.perf_counter()
        result = run(spec, rate_per_s=200.0, duration_s=4.0, timeout_s=1.0, interval_s=0.5)
    assert time.perf_counter() - started < 4.0 + 1.0 + 3.0
    accounted(result)
    assert restarted, "the server did not restart"
    assert result.errors.get("grpc_unavailable", 0) > 20, result.errors
    # A stream cut by the kill may end INTERNAL (grpc core's code for a reset stream); never a text heuristic.
    assert set(result.errors) <= {"grpc_unavailable", "grpc_cancelled", "grpc_internal", "timeout"}, result.errors
    intervals = result.intervals
    assert intervals[0].ok > 50 and intervals[-1].ok > 50, [r.ok for r in intervals]  # before the stop, after restart


def test_bidi_over_two_worker_processes_keeps_every_key_unique(quote_server: str) -> None:
    result = run(bidi_spec(quote_server, streams=1), rate_per_s=300.0, connections=8, workers=2)
    accounted(result)
    assert result.ok >= 290 and set(result.errors) <= {"timeout"} and result.counts["late_answers"] == 0


def test_bidi_latency_is_coordinated_omission_free_through_a_stall() -> None:
    """The server stalls 400 ms at the 100th message: every message due meanwhile counts its wait from its
    intended send time, not from when the stream took it (the late ones are not measured as fast)."""
    with script_server(QUOTE_SERVER, "--stall-at", "100", "--stall-ms", "400") as url:
        result = run(bidi_spec(url.removeprefix("http://"), streams=1), rate_per_s=200.0, connections=128)
    accounted(result)
    assert result.ok >= 195 and set(result.errors) <= {"timeout"}
    # ~80 of 200 messages fell due during the stall: their latencies spread from ~400 ms down to ~0.
    assert result.latency.max_us >= 350_000
    assert result.latency.value_at_percentile(90) >= 150_000
    assert result.latency.value_at_percentile(50) < 100_000
