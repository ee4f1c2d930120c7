"""The gateway's order path: request validation, JSON bodies and the hand-written ASGI fast path.

``POST /orders`` and ``GET /health`` are the gateway's hot routes. :class:`FastPath` serves
them straight from the ASGI scope, ahead of FastAPI/Starlette (routing, middleware, Request
and Response objects cost ~1/3 of the gateway's CPU per order); every other request, and the
lifespan, goes to the FastAPI app. Both paths share the functions here, so status codes, JSON
errors naming the field, the ``Server-Timing`` header and the 64 KiB body limit are the same.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from hftperf.reference_engine.proto import matching_pb2 as pb

__all__ = [
    "MAX_BODY_BYTES",
    "ApiError",
    "FastPath",
    "OrderAnswer",
    "field_in",
    "fill_dicts",
    "health_body",
    "json_body",
    "order_dict",
    "parse_order",
    "server_timing",
]

log = logging.getLogger("hftperf.gateway")

MAX_BODY_BYTES = 64 * 1024
_INT64_MAX = 2**63 - 1
_ORDER_FIELDS = ("symbol", "side", "type", "price", "quantity", "time_in_force", "client_order_id")
_ORDER_FIELD_SET = frozenset(_ORDER_FIELDS)
_SIDES = {"buy": pb.BUY, "sell": pb.SELL}
_TYPES = {"limit": pb.LIMIT, "market": pb.MARKET}
_TIFS = {"gtc": pb.GTC, "ioc": pb.IOC}
_SIDE_NAMES = {pb.BUY: "buy", pb.SELL: "sell"}
_TYPE_NAMES = {pb.LIMIT: "limit", pb.MARKET: "market"}
_TIF_NAMES = {pb.GTC: "gtc", pb.IOC: "ioc"}
_STATUS_NAMES = {
    pb.NEW: "new",
    pb.PARTIALLY_FILLED: "partially_filled",
    pb.FILLED: "filled",
    pb.CANCELLED: "cancelled",
    pb.REJECTED: "rejected",
}
_TOO_LARGE = f"body must be at most {MAX_BODY_BYTES} bytes"
# (status, JSON payload, engine µs, db µs) of an answered order.
OrderAnswer = tuple[int, dict[str, Any], float, float]


class ApiError(Exception):
    """A client-facing error: HTTP status, error code, offending field and a message."""

    def __init__(self, status: int, error: str, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.field, self.message = status, error, field, message

    def payload(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": self.error, "field": self.field, "message": self.message}


def field_in(message: str) -> str | None:
    """The first request field a message names (the engine names it in its error text)."""
    text = message.lower().replace("price_ticks", "price").replace("order id", "order_id")
    found = [(text.find(f), f) for f in (*_ORDER_FIELDS, "order_id", "depth") if f in text]
    return min(found)[1] if found else None


def server_timing(t0_ns: int, engine_us: float, db_us: float) -> str:
    """The ``Server-Timing`` value: gateway time since ``t0_ns``, engine and db as reported."""
    gateway_ms = (time.perf_counter_ns() - t0_ns) / 1e6
    return f"gateway;dur={gateway_ms:.3f}, engine;dur={engine_us / 1000.0:.3f}, db;dur={db_us / 1000.0:.3f}"


def json_body(payload: Any) -> bytes:
    """Compact JSON bytes, as every gateway response body is written."""
    return json.dumps(payload, separators=(",", ":")).encode()


def order_dict(o: pb.OrderReport) -> dict[str, Any]:
    """The JSON form of an engine order report."""
    report: dict[str, Any] = {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id or None,
        "symbol": o.symbol,
        "side": _SIDE_NAMES.get(o.side),
        "type": _TYPE_NAMES.get(o.type),
        "time_in_force": _TIF_NAMES.get(o.time_in_force),
        "price": o.price_ticks if o.type == pb.LIMIT else None,
        "quantity": o.quantity,
        "filled_quantity": o.filled_quantity,
        "remaining_quantity": o.remaining_quantity,
        "status": _STATUS_NAMES.get(o.status, "unknown"),
    }
    if o.reject_reason:
        report["reject_reason"] = o.reject_reason
    return report


def fill_dicts(fills: Sequence[pb.Fill]) -> list[dict[str, int]]:
    """The JSON form of fills."""
    return [
        {
            "fill_id": f.fill_id,
            "maker_order_id": f.maker_order_id,
            "taker_order_id": f.taker_order_id,
            "price": f.price_ticks,
            "quantity": f.quantity,
        }
        for f in fills
    ]


def _int_field(obj: dict[str, Any], name: str, minimum: int) -> int:
    value = obj.get(name)
    if value is None:
        raise ApiError(422, "missing_field", name, f"{name} is required")
    if type(value) is not int or not minimum <= value <= _INT64_MAX:
        unit = " (ticks)" if name == "price" else ""
        raise ApiError(422, "invalid_field", name, f"{name} must be an integer >= {minimum}{unit}")
    return value


def _enum_field(obj: dict[str, Any], name: str, choices: Mapping[str, int], default: int | None) -> int:
    value = obj.get(name)
    if value is None:
        if default is None:
            raise ApiError(422, "missing_field", name, f"{name} is required")
        return default
    if not isinstance(value, str) or value.lower() not in choices:
        raise ApiError(422, "invalid_field", name, f"{name} must be one of {', '.join(choices)}")
    return choices[value.lower()]


def parse_order(body: bytes, symbols: frozenset[str]) -> pb.OrderRequest:
    """Validate a POST /orders body into an engine request, naming the first bad field."""
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ApiError(400, "malformed_json", "body", f"body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "malformed_json", "body", "body must be a JSON object")
    if not _ORDER_FIELD_SET.issuperset(obj):  # a typo ("qty") must not be ignored silently
        unknown = sorted(set(obj) - _ORDER_FIELD_SET)[0]
        raise ApiError(422, "unknown_field", unknown[:64],
                       f"unknown field {unknown[:64]!r} (expected: {', '.join(_ORDER_FIELDS)})")
    symbol = obj.get("symbol")
    if symbol is None:
        raise ApiError(422, "missing_field", "symbol", "symbol is required")
    if not isinstance(symbol, str) or not symbol or (symbols and symbol not in symbols):
        raise ApiError(422, "unknown_symbol", "symbol", f"unknown symbol {symbol!r}")
    side = _enum_field(obj, "side", _SIDES, None)
    order_type = _enum_field(obj, "type", _TYPES, None)
    price = 0
    if order_type == pb.LIMIT or obj.get("price") is not None:
        price = _int_field(obj, "price", 1)
    quantity = _int_field(obj, "quantity", 1)
    tif = _enum_field(obj, "time_in_force", _TIFS, pb.TIME_IN_FORCE_UNSPECIFIED)
    client_id = obj.get("client_order_id")
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
        raise ApiError(422, "invalid_field", "client_order_id", "client_order_id must be a string of <= 64 chars")
    try:
        return pb.OrderRequest(
            symbol=symbol, side=side, type=order_type, price_ticks=price,  # type: ignore[arg-type]
            quantity=quantity, time_in_force=tif, client_order_id=client_id or "",  # type: ignore[arg-type]
        )
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON but not UTF-8
        name = "symbol" if not _encodable(symbol) else "client_order_id"
        raise ApiError(422, "invalid_field", name, f"{name} must be valid Unicode (no lone surrogates)") from None


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def health_body(healthy: bool) -> bytes:
    """The ``GET /health`` body."""
    return json.dumps({"status": "ok" if healthy else "unavailable", "engine": "up" if healthy else "down"}).encode()


class FastPath:
    """ASGI app serving ``POST /orders`` and ``GET /health`` itself, everything else via ``app``.

    ``place_order`` answers a raw body (raising :class:`ApiError`); ``health`` gives the
    health status and body. Exactly these (method, path) pairs are taken: ``/orders/``,
    ``HEAD /health`` and the rest keep FastAPI's behaviour (redirects, 405s, 404s).
    """

    def __init__(self, app: ASGIApp, place_order: Callable[[bytes], Awaitable[OrderAnswer]],
                 health: Callable[[], tuple[int, bytes]]) -> None:
        """Wrap ``app``."""
        self.app = app
        self._place_order = place_order
        self._health = health

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI connection."""
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/orders" and scope["method"] == "POST":
                await self._orders(scope, receive, send)
                return
            if path == "/health" and scope["method"] == "GET":
                t0 = time.perf_counter_ns()  # no engine call and no logging: the cheapest request
                status, body = self._health()
                await _send(send, status, body, server_timing(t0, 0.0, 0.0))
                return
        await self.app(scope, receive, send)

    async def _orders(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter_ns()
        engine_us = db_us = 0.0
        try:
            body = await _receive_body(scope, receive)
            if body is None:
                return  # the client went away: nobody to answer
            status, payload, engine_us, db_us = await self._place_order(body)
        except ApiError as err:
            status, payload = err.status, err.payload()
        except Exception as exc:  # a bug: answer like the app's error handler, never hang
            log.exception("POST /orders failed")
            status, payload = 500, ApiError(500, "http_error", None, str(exc)).payload()
        await _send(send, status, json_body(payload), server_timing(t0, engine_us, db_us))


async def _receive_body(scope: Scope, receive: Receive) -> bytes | None:
    """The request body (None if the client disconnected); over MAX_BODY_BYTES is a 413."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit() or int(value) > MAX_BODY_BYTES:
                raise ApiError(413, "body_too_large", "body", _TOO_LARGE)
            break
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect
        chunk = message.get("body", b"")
        if chunk:
            body = body + chunk if body else chunk
            if len(body) > MAX_BODY_BYTES:
                raise ApiError(413, "body_too_large", "body", _TOO_LARGE)
        if not message.get("more_body", False):
            return body


async def _send(send: Send, status: int, body: bytes, timing: str) -> None:
    headers = [
        (b"server-timing", timing.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
