"""HTTP gateway of the reference stack: FastAPI on uvicorn in front of the gRPC matching engine.

Each worker holds ONE long-lived ``grpc.aio`` channel to the engine (keepalive configurable)
and a background health probe, so ``GET /health`` never calls the engine. Every response
carries ``Server-Timing: gateway;dur=..., engine;dur=..., db;dur=...`` (milliseconds).

Routes are plain Starlette routes on the FastAPI app with hand-written validation and
``json``: FastAPI's pydantic request/response models cost more than the whole rest of the
handler at these rates (see benchmarks/reference_stack.py). ``POST /orders`` and
``GET /health`` are served by a hand-written ASGI fast path in front of the app, with the same
functions (:mod:`.gateway_orders`), and concurrent orders share ``SubmitOrderBatch`` calls
(:mod:`.gateway_batch`): a unary call per order cost more CPU than everything else it needs.

Run: ``python -m hftperf.reference_engine.gateway --port 8080 --engine 127.0.0.1:50051``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning
from hftperf.reference_engine.gateway_batch import OrderBatcher
from hftperf.reference_engine.gateway_orders import (
    MAX_BODY_BYTES,
    ApiError,
    FastPath,
    OrderAnswer,
    field_in,
    fill_dicts,
    health_body,
    json_body,
    order_dict,
    parse_order,
    server_timing,
)
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.reference_engine.store import STORE_UNAVAILABLE

__all__ = ["MAX_BODY_BYTES", "GatewayConfig", "app_from_env", "create_app", "main", "serve"]

_MAX_DEPTH = 1000
_ENV_KEY = "HFTPERF_GATEWAY_CONFIG"
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
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


class _EngineLink:
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


def _json_response(
    status: int, payload: Any, t0_ns: int, engine_us: float = 0.0, db_us: float = 0.0
) -> Response:
    headers = {"server-timing": server_timing(t0_ns, engine_us, db_us)}
    return Response(json_body(payload), status_code=status, headers=headers, media_type="application/json")


def _error_response(err: ApiError, t0_ns: int) -> Response:
    return _json_response(err.status, err.payload(), t0_ns)


def _levels(levels: Sequence[pb.PriceLevel]) -> list[dict[str, int]]:
    return [{"price": lv.price_ticks, "quantity": lv.quantity, "order_count": lv.order_count} for lv in levels]


def _is_decimal(text: str) -> bool:
    """Only ASCII digits: ``str.isdigit`` also accepts "²", which ``int()`` refuses."""
    return text.isascii() and text.isdigit()


async def _read_body(request: Request) -> bytes:
    """The request body, refusing anything over MAX_BODY_BYTES without buffering it all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not _is_decimal(declared) or int(declared) > MAX_BODY_BYTES):
        raise ApiError(413, "body_too_large", "body", f"body must be at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", "body", f"body must be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _order_id(request: Request) -> int:
    raw = request.path_params["order_id"]
    if not _is_decimal(raw) or not 0 < int(raw) < 2**64:
        raise ApiError(422, "invalid_field", "order_id", "order_id must be a positive integer")
    return int(raw)


def create_app(config: GatewayConfig) -> ASGIApp:
    """Build the gateway app; its lifespan opens and closes the engine channel.

    The FastAPI app serves every route; unless ``config.starlette_only``, :class:`FastPath`
    in front of it serves ``POST /orders`` and ``GET /health`` with the same functions.
    """
    link: _EngineLink | None = None
    bodies = {True: health_body(True), False: health_body(False)}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        nonlocal link
        link = _EngineLink(config)
        await link.start()
        # Everything alive now (modules, app, channel) lives as long as the worker: keep it out
        # of the cyclic GC, whose full passes over it stalled every request for 15-35 ms (p99).
        gc.freeze()
        try:
            yield
        finally:
            await link.close()

    def engine() -> _EngineLink:
        assert link is not None, "lifespan not started"
        return link

    def health_status() -> tuple[int, bytes]:
        ok = engine().healthy
        return 200 if ok else 503, bodies[ok]

    async def health(request: Request) -> Response:
        # No engine call and no logging: this is the cheapest request the gateway serves.
        t0 = time.perf_counter_ns()
        status, body = health_status()
        headers = {"server-timing": server_timing(t0, 0.0, 0.0)}
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def place_order(body: bytes) -> OrderAnswer:
        """Validate, submit and answer one order body; errors raise :class:`ApiError`."""
        eng = engine()
        order = parse_order(body, eng.symbols)
        try:
            if eng.batcher is None:
                reply = await eng.stub.SubmitOrder(order, timeout=eng.timeout_s)
                engine_us, store_us = reply.timing.engine_us, reply.timing.store_us
            else:
                result = await eng.batcher.submit(order)
                reply, engine_us, store_us = result.response, result.engine_us, result.store_us
                if result.code:
                    code = _STATUS_CODES.get(result.code, grpc.StatusCode.UNKNOWN)
                    raise eng.status_error(code, reply.order.reject_reason)
        except grpc.aio.AioRpcError as exc:
            raise eng.rpc_error(exc) from None
        except RuntimeError as exc:  # a malformed batch answer
            raise ApiError(502, "engine_error", None, str(exc)) from None
        payload = order_dict(reply.order)
        payload["fills"] = fill_dicts(reply.fills)
        status = 201
        if reply.order.status == pb.REJECTED:
            status = 422
            reason = reply.order.reject_reason
            payload.update(error="rejected", field=field_in(reason), message=reason)
        return status, payload, engine_us, store_us

    async def submit_order(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        try:
            status, payload, engine_us, store_us = await place_order(await _read_body(request))
        except ApiError as err:
            return _error_response(err, t0)
        return _json_response(status, payload, t0, engine_us, store_us)

    async def get_order(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        eng = engine()
        try:
            order_id = _order_id(request)
            rpc_t0 = time.perf_counter_ns()
            reply = await eng.stub.GetOrder(pb.GetOrderRequest(order_id=order_id), timeout=eng.timeout_s)
        except ApiError as err:
            return _error_response(err, t0)
        except grpc.aio.AioRpcError as exc:
            return _error_response(eng.rpc_error(exc, "order_id"), t0)
        rpc_us = (time.perf_counter_ns() - rpc_t0) / 1000.0
        payload = order_dict(reply.order)
        payload["fills"] = fill_dicts(reply.fills)
        return _json_response(200, payload, t0, rpc_us)

    async def cancel_order(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        eng = engine()
        try:
            req = pb.CancelOrderRequest(order_id=_order_id(request))
            reply = await eng.stub.CancelOrder(req, timeout=eng.timeout_s)
        except ApiError as err:
            return _error_response(err, t0)
        except grpc.aio.AioRpcError as exc:
            return _error_response(eng.rpc_error(exc, "order_id"), t0)
        payload = order_dict(reply.order)
        payload["cancelled"] = reply.cancelled
        return _json_response(200, payload, t0, reply.timing.engine_us, reply.timing.store_us)

    async def get_book(request: Request) -> Response:
        t0 = time.perf_counter_ns()
        eng = engine()
        symbol = request.path_params["symbol"]
        raw_depth = request.query_params.get("depth", "10")
        try:
            if not _is_decimal(raw_depth) or not 1 <= int(raw_depth) <= _MAX_DEPTH:
                raise ApiError(422, "invalid_field", "depth", f"depth must be an integer in 1..{_MAX_DEPTH}")
            if eng.symbols and symbol not in eng.symbols:
                raise ApiError(404, "unknown_symbol", "symbol", f"unknown symbol {symbol!r}")
            rpc_t0 = time.perf_counter_ns()
            book = await eng.stub.GetBook(pb.GetBookRequest(symbol=symbol, depth=int(raw_depth)), timeout=eng.timeout_s)
        except ApiError as err:
            return _error_response(err, t0)
        except grpc.aio.AioRpcError as exc:
            return _error_response(eng.rpc_error(exc, "symbol"), t0)
        rpc_us = (time.perf_counter_ns() - rpc_t0) / 1000.0
        payload = {
            "symbol": book.symbol or symbol,
            "sequence": book.sequence,
            "bids": _levels(book.bids),
            "asks": _levels(book.asks),
        }
        return _json_response(200, payload, t0, rpc_us)

    async def http_error(request: Request, exc: Exception) -> Response:
        # Unknown routes and wrong methods get the same JSON shape and Server-Timing header.
        t0 = time.perf_counter_ns()
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        error = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        response = _error_response(ApiError(status, error, None, str(getattr(exc, "detail", exc))), t0)
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    app = FastAPI(title="hftperf gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_route("/health", health, methods=["GET"], include_in_schema=False)
    app.add_route("/orders", submit_order, methods=["POST"], include_in_schema=False)
    app.add_route("/orders/{order_id}", get_order, methods=["GET"], include_in_schema=False)
    app.add_route("/orders/{order_id}", cancel_order, methods=["DELETE"], include_in_schema=False)
    app.add_route("/book/{symbol}", get_book, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, http_error)
    if config.starlette_only:
        return app
    return FastPath(app, place_order, health_status)


def app_from_env() -> ASGIApp:
    """uvicorn factory for worker processes: the config travels in an environment variable."""
    return create_app(GatewayConfig.from_env(os.environ.get(_ENV_KEY)))


def serve(config: GatewayConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    """Run uvicorn (uvloop, httptools, no access log) with ``workers`` processes; blocks."""
    import uvicorn

    os.environ[_ENV_KEY] = config.to_env()
    uvicorn.run(
        "hftperf.reference_engine.gateway:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level="info",
        backlog=4096,
        timeout_graceful_shutdown=5,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hftperf.reference_engine.gateway", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=DEFAULT_HOST, help="listen address (default: loopback only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--engine", default=GatewayConfig.engine_target, help="engine gRPC target host:port")
    p.add_argument("--workers", type=int, default=1)
    for field in dataclasses.fields(GatewayConfig):  # one flag per tuning knob, same name
        if field.name != "engine_target":
            flag = "--" + field.name.replace("_", "-")
            if field.type in ("bool", bool):
                p.add_argument(flag, action="store_true")
            else:
                p.add_argument(flag, type=int, default=field.default)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Process entry point: parse flags and serve until SIGTERM/SIGINT."""
    args = vars(_parser().parse_args(argv))
    host, port, workers, target = args.pop("host"), args.pop("port"), args.pop("workers"), args.pop("engine")
    if (warning := exposure_warning(host, "gateway")) is not None:
        print(f"gateway: warning: {warning}", file=sys.stderr, flush=True)
    serve(GatewayConfig(engine_target=target, **args), host=host, port=port, workers=workers)


if __name__ == "__main__":
    main()
