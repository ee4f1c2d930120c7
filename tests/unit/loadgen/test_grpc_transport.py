"""gRPC request specs, status mapping and transport slot semantics (no engine needed)."""

from __future__ import annotations

import asyncio
import pickle
import socket
import subprocess
import sys

import grpc
import pytest

from hftperf.loadgen import GrpcRequestSpec, LoadPlan, RequestCycle, RequestSpec, grpc_plan
from hftperf.loadgen.grpc import GrpcTransport, classify_grpc_status, finished_status
from hftperf.loadgen.request import grpc_request_builder, parse_grpc_target
from hftperf.loadgen.transport import OK, ErrorClass
from hftperf.loadgen.transports import TRANSPORTS

METHOD = "/hftperf.matching.v1.MatchingEngine/SubmitOrder"


@pytest.mark.parametrize(("code", "expected"), [
    (0, OK),
    (4, ErrorClass.GRPC_DEADLINE_EXCEEDED),
    (14, ErrorClass.GRPC_UNAVAILABLE),  # refused, reset or the server's own: the code decides, not the text
    (12, ErrorClass.GRPC_UNIMPLEMENTED),
    (3, ErrorClass.GRPC_INVALID_ARGUMENT),
    (1, ErrorClass.GRPC_CANCELLED),
    (16, ErrorClass.GRPC_UNAUTHENTICATED),
    (17, ErrorClass.GRPC_STATUS),  # outside the protocol's codes
])
def test_status_mapping(code: int, expected: int) -> None:
    assert classify_grpc_status(code) == expected


def test_every_status_code_has_its_class_named_after_it() -> None:
    for status in grpc.StatusCode:
        if status is not grpc.StatusCode.OK:
            assert ErrorClass(classify_grpc_status(status.value[0])).key == f"grpc_{status.name.lower()}"


def test_spec_validates_target_method_and_channels() -> None:
    assert parse_grpc_target("127.0.0.1:50051") == ("127.0.0.1", 50051)
    assert parse_grpc_target("[::1]:50051") == ("::1", 50051)
    assert GrpcRequestSpec("localhost:1", METHOD).host_port == ("localhost", 1)
    for target in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":50051", "dns:///h:1", "h:port"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            GrpcRequestSpec(target, METHOD)
    for method in ("SubmitOrder", "/Service", "/a/b/c", "//Method"):
        with pytest.raises(ValueError, match="method path"):
            GrpcRequestSpec("h:1", method)
    with pytest.raises(ValueError, match="channels"):
        GrpcRequestSpec("h:1", METHOD, channels=0)


def test_the_spec_type_chooses_the_transport() -> None:
    spec = GrpcRequestSpec("[::1]:50051", METHOD, b"x")
    plan = grpc_plan(spec, connections=4, rate_per_s=100.0)
    assert plan.request is spec and plan.grpc is spec and plan.connections == 4 and plan.open_loop
    assert plan.request.host_port == ("::1", 50051)
    http = LoadPlan(RequestSpec("http://127.0.0.1:8080/"))
    assert http.grpc is None and http.request.host_port == ("127.0.0.1", 8080)
    assert set(TRANSPORTS) == {RequestSpec, GrpcRequestSpec}
    with pytest.raises(ValueError, match="HOST:PORT"):
        GrpcRequestSpec("127.0.0.1", METHOD)
    with pytest.raises(ValueError, match="streaming"):
        GrpcRequestSpec("h:1", METHOD, streaming="duplex")


def test_request_builder_gives_each_worker_its_global_sequence_numbers() -> None:
    cycle = RequestCycle((b"a", b"b", b"c"))
    assert [cycle(i) for i in range(5)] == [b"a", b"b", b"c", b"a", b"b"]
    spec = GrpcRequestSpec("h:1", METHOD, cycle)
    assert grpc_request_builder(spec) is cycle  # one worker: no wrapper on the hot path
    build = grpc_request_builder(spec, worker_index=1, workers=2)
    assert callable(build) and [build(i) for i in range(3)] == [b"b", b"a", b"c"]  # 1, 3, 5
    static = GrpcRequestSpec("h:1", METHOD, b"raw")
    assert grpc_request_builder(static, 1, 2) == b"raw"
    assert pickle.loads(pickle.dumps(spec)) == spec  # goes to worker processes
    with pytest.raises(ValueError):
        RequestCycle(())


def test_status_without_the_cython_attribute_is_read_from_the_public_coroutines() -> None:
    class FinishedCall:
        async def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

    assert finished_status(FinishedCall()) == 14


def test_loadgen_imports_neither_grpc_nor_the_proto() -> None:
    code = ("import sys, hftperf.loadgen, hftperf.loadgen.runner; assert 'grpc' not in sys.modules; "
            "import hftperf.loadgen.grpc; assert not any(m.startswith('hftperf.reference_engine') "
            "or m.startswith('google.protobuf') for m in sys.modules), 'proto imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reset_cancels_silently_and_the_slot_is_reusable() -> None:
    """Against a listener that never answers: reset reports nothing; a deadline reports DEADLINE_EXCEEDED."""
    outcomes: list[tuple[int, int]] = []

    async def main(port: int) -> None:
        transport = GrpcTransport(GrpcRequestSpec(f"127.0.0.1:{port}", METHOD), 2, b"", timeout_s=0.2)
        await transport.open(lambda slot, outcome, done_ns: outcomes.append((slot, outcome)))
        transport.send(0, 0)
        transport.reset(0)
        transport.reset(0)  # idempotent
        await asyncio.sleep(0.3)
        assert outcomes == []
        transport.send(0, 1)
        transport.send(1, 2)
        for _ in range(50):
            if len(outcomes) == 2:
                break
            await asyncio.sleep(0.02)
        await transport.close()

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        asyncio.run(main(listener.getsockname()[1]))
    assert sorted(outcomes) == [(0, ErrorClass.GRPC_DEADLINE_EXCEEDED), (1, ErrorClass.GRPC_DEADLINE_EXCEEDED)]
