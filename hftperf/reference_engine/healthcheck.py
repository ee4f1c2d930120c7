"""Health probes of the reference stack: gRPC health of the engine, ``GET /health`` of the gateway.

Used from the host by the stack backends, and inside a container as Docker's health check:
``python -m hftperf.reference_engine.healthcheck grpc 127.0.0.1:50051`` (or ``http URL``)
exits 0 when healthy, 1 when not.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

__all__ = ["engine_healthy", "gateway_healthy", "main"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def engine_healthy(target: str, timeout_s: float) -> bool:
    """True when the engine at ``target`` (host:port) answers gRPC health with SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def gateway_healthy(url: str, timeout_s: float) -> bool:
    """True when ``GET {url}/health`` answers 200 (urllib: cheap to import in a container probe)."""
    try:
        with _OPENER.open(f"{url}/health", timeout=timeout_s) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """``grpc HOST:PORT`` or ``http URL``: exit status 0 when healthy, 1 when not, 2 on bad usage."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("grpc", "http"):
        print("usage: python -m hftperf.reference_engine.healthcheck grpc HOST:PORT | http URL", file=sys.stderr)
        return 2
    healthy = engine_healthy(args[1], 3.0) if args[0] == "grpc" else gateway_healthy(args[1], 3.0)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
