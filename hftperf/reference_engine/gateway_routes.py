"""The gateway's routes: health, submit, get, cancel and book, each timed into ``Server-Timing``.

Plain Starlette handlers with hand-written validation and ``json``: FastAPI's pydantic models cost
more than the whole rest of a handler at these rates (see benchmarks/reference_stack.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import grpc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from hftperf.reference_engine.gateway_link import STATUS_CODES, EngineLink
from hftperf.reference_engine.gateway_orders import (
    MAX_BODY_BYTES,
    ApiError,
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

__all__ = ["GatewayRoutes"]

_MAX_DEPTH = 1000


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


class GatewayRoutes:
    """Every handler of one worker; ``link`` is set by the app's lifespan."""

    def __init__(self) -> None:
        self.link: EngineLink | None = None
        self._bodies = {True: health_body(True), False: health_body(False)}

    def engine(self) -> EngineLink:
        """The worker's engine link (the app's lifespan opens it)."""
        assert self.link is not None, "lifespan not started"
        return self.link

    def health_status(self) -> tuple[int, bytes]:
        """(status, body) of GET /health, from the background probe."""
        ok = self.engine().healthy
        return 200 if ok else 503, self._bodies[ok]

    async def health(self, request: Request) -> Response:
        """Health."""
        # No engine call and no logging: this is the cheapest request the gateway serves.
        t0 = time.perf_counter_ns()
        status, body = self.health_status()
        headers = {"server-timing": server_timing(t0, 0.0, 0.0)}
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def place_order(self, body: bytes) -> OrderAnswer:
        """Validate, submit and answer one order body; errors raise :class:`ApiError`."""
        eng = self.engine()
        order = parse_order(body, eng.symbols)
        try:
            if eng.batcher is None:
                reply = await eng.stub.SubmitOrder(order, timeout=eng.timeout_s)
                engine_us, store_us = reply.timing.engine_us, reply.timing.store_us
            else:
                result = await eng.batcher.submit(order)
                reply, engine_us, store_us = result.response, result.engine_us, result.store_us
                if result.code:
                    code = STATUS_CODES.get(result.code, grpc.StatusCode.UNKNOWN)
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

    async def submit_order(self, request: Request) -> Response:
        """Submit order."""
        t0 = time.perf_counter_ns()
        try:
            status, payload, engine_us, store_us = await self.place_order(await _read_body(request))
        except ApiError as err:
            return _error_response(err, t0)
        return _json_response(status, payload, t0, engine_us, store_us)

    async def get_order(self, request: Request) -> Response:
        """Get order."""
        t0 = time.perf_counter_ns()
        eng = self.engine()
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

    async def cancel_order(self, request: Request) -> Response:
        """Cancel order."""
        t0 = time.perf_counter_ns()
        eng = self.engine()
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

    async def get_book(self, request: Request) -> Response:
        """Get book."""
        t0 = time.perf_counter_ns()
        eng = self.engine()
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

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Unknown routes, wrong methods and unexpected errors as JSON."""
        # Unknown routes and wrong methods get the same JSON shape and Server-Timing header.
        t0 = time.perf_counter_ns()
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        error = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        response = _error_response(ApiError(status, error, None, str(getattr(exc, "detail", exc))), t0)
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response
