"""A third-party-shaped order API for tests: nothing like the bundled stack's.

Usage: python order_api_server.py; prints "PORT <n>" once listening on 127.0.0.1.

- ``POST /auth/token`` with ``{"user": "bench", "password": "s3cret"}`` -> ``{"access_token": "..."}``
- ``POST /api/v2/orders`` (``Authorization: Bearer <token>``), body ``{"instrument", "direction": "BUY"|"SELL",
  "kind": "LIMIT"|"MARKET", "px": "<dollars>", "qty"}`` -> 200 ``{"data": {"uuid": ..., "state": "OPEN"|"FILLED"}}``
- ``DELETE /api/v2/orders/<uuid>`` -> 200 ``{"data": {"uuid": ..., "state": "CANCELED"}}``, 404 when unknown
- ``PATCH /api/v2/orders/<uuid>`` with ``{"px", "qty"}`` -> 200 (amend a resting order)
- ``GET /stats`` (no auth) -> ``{"submitted", "cancelled", "amended", "rejected_auth"}``: the service's own counts
- ``GET /api/v2/orders/<uuid>`` -> the order

With ``ORDER_API_EXIT_AFTER=N`` in the environment the process exits (status 3) after its Nth
submitted order: a service that dies during a run.

Limit orders rest (OPEN), market orders fill at once (FILLED). Threaded (one thread per connection),
keep-alive, one write per response.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "tok-" + uuid.uuid4().hex
LOCK = threading.Lock()
ORDERS: dict[str, dict[str, Any]] = {}
STATS = {"submitted": 0, "cancelled": 0, "amended": 0, "rejected_auth": 0}
EXIT_AFTER = int(os.environ.get("ORDER_API_EXIT_AFTER") or 0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.wfile.write(head.encode() + body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        with LOCK:
            STATS["rejected_auth"] += 1
        self._reply(401, {"error": "unauthorised"})
        return False

    def do_GET(self) -> None:
        if self.path == "/stats":
            with LOCK:
                self._reply(200, dict(STATS))
        elif self.path.startswith("/api/v2/orders/"):
            order = ORDERS.get(self.path.rsplit("/", 1)[1])
            self._reply(200 if order else 404, {"data": order} if order else {"error": "not found"})
        else:
            self._reply(404, {"error": "no route"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/auth/token":
            ok = body.get("user") == "bench" and body.get("password") == "s3cret"
            self._reply(200 if ok else 403, {"access_token": TOKEN} if ok else {"error": "bad credentials"})
            return
        if self.path != "/api/v2/orders":
            self._reply(404, {"error": "no route"})
            return
        if not self._authorised():
            return
        if body.get("direction") not in ("BUY", "SELL") or body.get("kind") not in ("LIMIT", "MARKET"):
            self._reply(422, {"error": "bad enum", "got": body})
            return
        order = {"uuid": str(uuid.uuid4()), "instrument": body.get("instrument"), "px": body.get("px"),
                 "qty": body.get("qty"), "state": "OPEN" if body["kind"] == "LIMIT" else "FILLED"}
        with LOCK:
            ORDERS[order["uuid"]] = order
            STATS["submitted"] += 1
            if STATS["submitted"] == EXIT_AFTER:
                os._exit(3)
        self._reply(200, {"data": order})

    def do_DELETE(self) -> None:
        if not self.path.startswith("/api/v2/orders/") or not self._authorised():
            if not self.path.startswith("/api/v2/orders/"):
                self._reply(404, {"error": "no route"})
            return
        with LOCK:
            order = ORDERS.get(self.path.rsplit("/", 1)[1])
            if order is None or order["state"] != "OPEN":
                self._reply(404, {"error": "not open"})
                return
            order["state"] = "CANCELED"
            STATS["cancelled"] += 1
        self._reply(200, {"data": order})

    def do_PATCH(self) -> None:
        body = self._body()
        if not self.path.startswith("/api/v2/orders/") or not self._authorised():
            return
        with LOCK:
            order = ORDERS.get(self.path.rsplit("/", 1)[1])
            if order is None or order["state"] != "OPEN":
                self._reply(404, {"error": "not open"})
                return
            order.update(px=body.get("px", order["px"]), qty=body.get("qty", order["qty"]))
            STATS["amended"] += 1
        self._reply(200, {"data": order})

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
