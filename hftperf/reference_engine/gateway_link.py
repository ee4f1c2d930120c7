"""The gateway's side of the engine: its tuning knobs, one long-lived gRPC channel per worker, health.

Each worker holds ONE ``grpc.aio`` channel to the engine (keepalive configurable, recycled after
``max_channel_age_s`` when set) and a background health probe, so ``GET /health`` never calls the
engine. Engine status codes become HTTP statuses here, in one table.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time

import grpc

from hftperf.reference_engine.gateway_batch import OrderBatcher
from hftperf.reference_engine.gateway_orders import ApiError, field_in
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.reference_engine.store import STORE_UNAVAILABLE

__all__ = ["STATUS_CODES", "EngineLink", "GatewayConfig"]

STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
# gRPC status → (HTTP status, error code); anything else is a 502 from the engine.
_GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid_field"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found"),
    grpc.StatusCode.UNAVAILABLE: (503, "engine_unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "engine_timeout"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "engine_overloaded"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "conflict"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict"),
}


@dataclasses.dataclass(frozen=True)
class GatewayConfig:
    """How a gateway worker reaches the engine (durations in ms, like gRPC channel args)."""

    engine_target: str = "127.0.0.1:50051"
    engine_timeout_ms: int = 1000
    health_interval_ms: int = 500
    keepalive_time_ms: int = 60_000
    keepalive_timeout_ms: int = 10_000
    keepalive_permit_without_calls: bool = False
    max_connection_idle_ms: int = 0  # 0 = never drop an idle channel
    max_connection_age_ms: int = 0  # 0 = never recycle the channel
    max_reconnect_backoff_ms: int = 1000
    # POST /orders micro-batching: concurrent orders share one SubmitOrderBatch call.
    order_batch_inflight: int = 2  # batch calls in flight (2: one fills while one commits); 0 = unary
    order_batch_max: int = 256  # orders per batch call
    starlette_only: bool = False  # no hand-written ASGI fast path for the hot routes (A/B runs)

    def channel_options(self) -> list[tuple[str, int]]:
        """gRPC channel arguments; a short reconnect backoff makes recovery quick."""
        options = [
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_timeout_ms", self.keepalive_timeout_ms),
            ("grpc.keepalive_permit_without_calls", int(self.keepalive_permit_without_calls)),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.initial_reconnect_backoff_ms", min(100, self.max_reconnect_backoff_ms)),
            ("grpc.min_reconnect_backoff_ms", min(100, self.max_reconnect_backoff_ms)),
            ("grpc.max_reconnect_backoff_ms", self.max_reconnect_backoff_ms),
            # No transparent retries: ~20% less client CPU per call, and a failed call is a 503 anyway.
            ("grpc.enable_retries", 0),
        ]
        if self.max_connection_idle_ms > 0:
            options.append(("grpc.client_idle_timeout_ms", self.max_connection_idle_ms))
        return options

    def to_env(self) -> str:
        """Serialise for uvicorn worker processes (which rebuild the app from the environment)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls, text: str | None) -> GatewayConfig:
        """Inverse of ``to_env``; defaults when ``text`` is empty."""
        return cls(**json.loads(text)) if text else cls()


class EngineLink:
    """The worker's gRPC channel to the engine plus a background health flag and symbol list."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.timeout_s = config.engine_timeout_ms / 1000.0
        self.healthy = False
        self.symbols: frozenset[str] = frozenset()
        self._channel = self._new_channel()
        self.stub = pb_grpc.MatchingEngineStub(self._channel)
        self._opened_s = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.batcher: OrderBatcher | None = None
        if config.order_batch_inflight > 0:
            self.batcher = OrderBatcher(self, self.timeout_s, config.order_batch_inflight,
                                        config.order_batch_max)

    def _new_channel(self) -> grpc.aio.Channel:
        return grpc.aio.insecure_channel(self.config.engine_target, options=self.config.channel_options())

    async def start(self) -> None:
        """Probe once (so the flag is right from the first request), then keep probing."""
        await self.probe()
        self._task = asyncio.get_running_loop().create_task(self._probe_forever())

    async def close(self) -> None:
        """Stop probing and close the channel."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._channel.close()

    async def probe(self) -> None:
        """One Health call: updates ``healthy`` and the known symbols."""
        try:
            reply = await self.stub.Health(pb.HealthRequest(), timeout=self.timeout_s)
        except grpc.aio.AioRpcError:
            self.healthy = False
            return
        self.healthy = bool(reply.ok)
        if reply.symbols:
            self.symbols = frozenset(reply.symbols)

    async def _probe_forever(self) -> None:
        interval_s = self.config.health_interval_ms / 1000.0
        while True:
            await asyncio.sleep(interval_s)
            await self._maybe_recycle()
            await self.probe()

    async def _maybe_recycle(self) -> None:
        # Client-side max connection age: swap in a fresh channel, let the old one drain.
        age_ms = self.config.max_connection_age_ms
        if age_ms <= 0 or (time.monotonic() - self._opened_s) * 1000.0 < age_ms:
            return
        old = self._channel
        self._channel = self._new_channel()
        self.stub = pb_grpc.MatchingEngineStub(self._channel)
        self._opened_s = time.monotonic()
        await old.close(grace=self.timeout_s)

    def rpc_error(self, exc: grpc.aio.AioRpcError, field: str | None = None) -> ApiError:
        """Translate an engine error to the client-facing error (the one mapping place).

        ``field`` is named when the engine's message names none (NOT_FOUND of an order id).
        """
        return self.status_error(exc.code(), exc.details(), field)

    def status_error(self, code: grpc.StatusCode, details: str | None, field: str | None = None) -> ApiError:
        """``rpc_error`` for a status code and message (a batch reports them per order)."""
        status, error = _GRPC_TO_HTTP.get(code, (502, "engine_error"))
        detail = details or code.name.lower()
        if code == grpc.StatusCode.UNAVAILABLE:
            self.healthy = False
            if detail.startswith(STORE_UNAVAILABLE):  # the engine runs but cannot persist (disk full, read-only)
                error = "store_unavailable"
        # A 5xx is never the client's field, whatever the engine's message mentions (a path...).
        return ApiError(status, error, (field_in(detail) or field) if status < 500 else None, detail)


