"""A misbehaving HTTP/1.1 server for the instrument's fault tests, run as its own process.

Usage: python hostile_server.py MODE [ARG]; prints "PORT <n>" once listening on 127.0.0.1.
Modes (ARG in brackets):
  never               accepts connections and reads requests but never answers
  no-accept           listens with a backlog of 1 and never accepts (connects hang once it is full)
  headers-only        the status line and headers (Content-Length 100) but never the body
  trickle [MS]        a 64-byte body sent one byte every MS ms (default 20)
  close-every [N]     a normal answer, but the connection closes after every N requests (default 3)
  drop-next [N]       N normal answers (keep-alive, default 1), then closes (FIN) on the next request unanswered
  reset-mid           half a response, then a TCP reset
  invalid             a status line that is not HTTP
  short-length        Content-Length 5 for a 15-byte body (the rest poisons the next response)
  long-length         Content-Length 1000 for a 15-byte body, then silence
  big-header [KB]     a header line of KB kilobytes (default 1024) that never seems to end
  big-body [MB]       a body of MB megabytes (default 10), Content-Length delimited
  restart [S]         answers; S seconds after the first request (default 1) it stops listening and drops
                      every connection for 2 s, then listens on the same port again
  bursts [N]          cycles of N answers each: 200, then 429, then 503 (default 50)
Running in its own process keeps it off the load generator's GIL.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys

import httptools

BODY = b'{"status":"ok"}'
REASONS = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}


def response(status: int = 200, body: bytes = BODY, length: int | None = None) -> bytes:
    """A complete response with ``Content-Length`` (``length`` may lie about the body)."""
    size = len(body) if length is None else length
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'X')}\r\nContent-Length: {size}\r\n\r\n"
    return head.encode() + body


class State:
    """What the server shares across connections: request count, open connections."""

    def __init__(self) -> None:
        self.requests = 0
        self.handlers: set[Handler] = set()
        self.first_request: asyncio.Event = asyncio.Event()


class Handler(asyncio.Protocol):
    """One connection; answers each complete request according to the mode."""

    def __init__(self, mode: str, arg: str | None, state: State) -> None:
        self.mode = mode
        self.arg = arg
        self.state = state
        self.served = 0
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.handlers.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.handlers.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.abort()

    def abort(self) -> None:
        """Reset the connection (SO_LINGER 0: RST instead of FIN)."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        self.served += 1
        state = self.state
        state.requests += 1
        state.first_request.set()
        mode, arg = self.mode, self.arg
        if mode == "never":
            pass
        elif mode == "headers-only":
            transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        elif mode == "trickle":
            asyncio.get_running_loop().create_task(self._trickle(float(arg or 20) / 1000))
        elif mode == "drop-next":
            if self.served > int(arg or 1):
                transport.close()
            else:
                transport.write(response())
        elif mode == "close-every":
            transport.write(response())
            if self.served >= int(arg or 3):
                transport.close()
        elif mode == "reset-mid":
            transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
            asyncio.get_running_loop().call_later(0.005, self.abort)
        elif mode == "invalid":
            transport.write(b"HTTP/9.Z banana\r\n\r\n")
        elif mode == "short-length":
            transport.write(response(length=5))
        elif mode == "long-length":
            transport.write(response(length=1000))
        elif mode == "big-header":
            asyncio.get_running_loop().create_task(self._big_header(int(arg or 1024)))
        elif mode == "big-body":
            transport.write(response(body=b"y" * (int(arg or 10) * 1024 * 1024)))
        elif mode == "bursts":
            phase = (state.requests // int(arg or 50)) % 3
            transport.write(response((200, 429, 503)[phase]))
        else:  # ok, restart
            transport.write(response())

    async def _trickle(self, gap_s: float) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n")
        for _ in range(64):
            await asyncio.sleep(gap_s)
            if transport.is_closing():
                return
            transport.write(b"z")

    async def _big_header(self, kilobytes: int) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
        chunk = b"h" * 1024
        for _ in range(kilobytes):
            if transport.is_closing():
                return
            transport.write(chunk)
            await asyncio.sleep(0)
        transport.write(b"\r\nContent-Length: 2\r\n\r\nok")


async def restart_later(
    loop: asyncio.AbstractEventLoop, server: asyncio.Server, state: State, mode: str, arg: str | None, port: int
) -> None:
    """Once requests flow: stop listening, reset every connection, wait 2 s, listen again."""
    await state.first_request.wait()
    await asyncio.sleep(float(arg or 1))
    server.close()
    for handler in list(state.handlers):
        handler.abort()
    await asyncio.sleep(2.0)
    again = await loop.create_server(lambda: Handler(mode, None, state), "127.0.0.1", port, backlog=1024)
    print("RESTARTED", flush=True)
    await again.serve_forever()


async def main(mode: str, arg: str | None) -> None:
    loop = asyncio.get_running_loop()
    if mode == "no-accept":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        print(f"PORT {listener.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()
    state = State()
    server = await loop.create_server(lambda: Handler(mode, arg, state), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    if mode == "restart":
        await restart_later(loop, server, state, mode, arg, port)
    else:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
