"""A small HTTP/1.1 server with a chosen behaviour, run as its own process for tests.

Usage: python behaviour_server.py MODE [ARG]; prints "PORT <n>" once listening on 127.0.0.1.
Modes: ok, delay MS, stall (blocks the whole loop 200 ms once per second), status CODE,
garbage, reset, silent, chunked, close (Connection: close on every response),
timing (a fixed Server-Timing header: gateway 1.5 ms, engine 0.5 ms, db 0.25 ms),
require A|B|... (200 only when the request target and "name: value" header lines contain every
one of the '|'-separated strings, case-insensitively; else 401: proves what was on the wire).
serial MS (a fixed concurrency of 1: one request at a time, MS ms each, the others queue FIFO).
stall-once N (answers at once, but freezes the whole loop 300 ms once, after its N-th request: a
one-off pause such as a database checkpoint).
slow-every N:MS (every N-th request is answered after MS ms, the others at once).
Running in its own process keeps it off the load generator's GIL.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import struct
import sys
import time

import httptools

BODY = b'{"status":"ok"}'


TIMING = 'Server-Timing: gateway;dur=1.5, engine;dur=0.5;desc="match", db;dur=0.25, cache;desc=miss\r\n'


def response(status: int = 200, close: bool = False, extra: str = "") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 500: "Internal Server Error", 503: "Service Unavailable",
              429: "Too Many Requests"}
    head = (f"HTTP/1.1 {status} {reason.get(status, 'X')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n")
    if close:
        head += "Connection: close\r\n"
    return (head + extra).encode() + b"\r\n" + BODY


CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")


class SerialDesk:
    """One service desk for every connection: requests are answered one at a time, in arrival order."""

    def __init__(self) -> None:
        self.queue: collections.deque[asyncio.Transport] = collections.deque()
        self.busy = False

    def arrive(self, transport: asyncio.Transport, service_s: float) -> None:
        self.queue.append(transport)
        if not self.busy:
            self._serve_next(service_s)

    def _serve_next(self, service_s: float) -> None:
        self.busy = bool(self.queue)
        if self.busy:
            asyncio.get_running_loop().call_later(service_s, self._done, service_s)

    def _done(self, service_s: float) -> None:
        transport = self.queue.popleft()
        if not transport.is_closing():
            transport.write(response())
        self._serve_next(service_s)


DESK = SerialDesk()


ANSWERED = [0]  # stall-once, slow-every: requests answered so far


class Handler(asyncio.Protocol):
    def __init__(self, mode: str, arg: str | None) -> None:
        self.mode = mode
        self.arg = arg
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.seen: list[str] = []  # require mode: the target and header lines of this request

    def on_message_begin(self) -> None:
        self.seen = []

    def on_url(self, url: bytes) -> None:
        self.seen.append(url.decode("latin-1"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.seen.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        transport = self.transport
        assert transport is not None
        mode = self.mode
        if mode in ("ok", "stall"):
            transport.write(response())
        elif mode == "delay":
            asyncio.get_running_loop().call_later(float(self.arg or 5) / 1000, self._reply)
        elif mode == "status":
            transport.write(response(int(self.arg or 500)))
        elif mode == "garbage":
            transport.write(b"THIS IS NOT HTTP AT ALL\r\n\r\n")
        elif mode == "reset":
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif mode == "silent":
            pass
        elif mode == "timing":
            transport.write(response(extra=TIMING))
        elif mode == "chunked":
            transport.write(CHUNKED)
        elif mode == "close":
            transport.write(response(close=True))
            transport.close()
        elif mode == "require":
            seen = "\n".join(self.seen).lower()
            wanted = [part.lower() for part in (self.arg or "").split("|") if part]
            transport.write(response(200 if all(part in seen for part in wanted) else 401))
        elif mode == "serial":
            DESK.arrive(transport, float(self.arg or 5) / 1000)
        elif mode == "slow-every":
            every, delay_ms = (self.arg or "10:20").split(":")
            ANSWERED[0] += 1
            if ANSWERED[0] % int(every):
                transport.write(response())
            else:
                asyncio.get_running_loop().call_later(float(delay_ms) / 1000, self._reply)
        elif mode == "stall-once":
            transport.write(response())
            ANSWERED[0] += 1
            if ANSWERED[0] == int(self.arg or 100):
                time.sleep(0.3)

    def _reply(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response())


async def stall_forever() -> None:
    """Freeze the whole event loop for 200 ms at the start of every second (a GC-like pause)."""
    while True:
        await asyncio.sleep(1.0 - (time.monotonic() % 1.0))
        time.sleep(0.2)


async def main(mode: str, arg: str | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Handler(mode, arg), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stall = loop.create_task(stall_forever()) if mode == "stall" else None
    await server.serve_forever()
    if stall is not None:
        stall.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
