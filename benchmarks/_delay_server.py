"""A keep-alive HTTP/1.1 server that answers every request after a precise fixed delay.

Usage: python _delay_server.py DELAY_US; prints "PORT <n>" once listening on 127.0.0.1.
One thread per connection sleeps with time.sleep (nanosleep: tens of µs of slack), so a delay
of 2,105 µs really is 105 µs more than 2,000 µs. An asyncio server could not show that: its
event loop waits in epoll with millisecond resolution, which rounds small delays up to 1 ms.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"ok"}'


def serve(connection: socket.socket, delay_s: float) -> None:
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    with connection:
        while True:
            while b"\r\n\r\n" not in pending:
                data = connection.recv(65536)
                if not data:
                    return
                pending += data
            _, _, pending = pending.partition(b"\r\n\r\n")  # GET requests: no body
            time.sleep(delay_s)
            connection.sendall(RESPONSE)


def main() -> None:
    delay_s = float(sys.argv[1]) / 1e6
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve, args=(connection, delay_s), daemon=True).start()


if __name__ == "__main__":
    main()
