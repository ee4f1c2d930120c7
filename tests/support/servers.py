"""Start behaviour_server.py in a subprocess and hand out its base URL."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from hftperf.reference_engine.backends import StackConfig

SERVER = Path(__file__).with_name("behaviour_server.py")
HOSTILE_SERVER = Path(__file__).with_name("hostile_server.py")


ORDER_API_SERVER = Path(__file__).with_name("order_api_server.py")


@contextlib.contextmanager
def script_server(script: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a test server script that prints "PORT <n>" once listening; yield ``http://127.0.0.1:<n>``."""
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"{script.name} {' '.join(args)} did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        process.kill()
        process.wait(timeout=10)


def behaviour_server(mode: str, arg: str | None = None,
                     script: Path = SERVER) -> contextlib.AbstractContextManager[str]:
    """Run the server with ``mode`` and yield ``http://127.0.0.1:<port>``."""
    return script_server(script, mode, *([arg] if arg is not None else []))


def order_api_server(exit_after: int = 0) -> contextlib.AbstractContextManager[str]:
    """Run the third-party-shaped order API (tests/support/order_api_server.py); it dies after
    ``exit_after`` submitted orders when that is not 0."""
    return script_server(ORDER_API_SERVER, env={"ORDER_API_EXIT_AFTER": str(exit_after)})


def hostile_server(mode: str, arg: str | None = None) -> contextlib.AbstractContextManager[str]:
    """Run hostile_server.py with ``mode`` and yield its base URL."""
    return behaviour_server(mode, arg, script=HOSTILE_SERVER)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just released), never one this process was
    handed before: two calls in a row can otherwise get the same port back from the kernel."""
    import socket

    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_free(port: int) -> bool:
    """True when a new listener could bind ``port`` on 127.0.0.1 (TIME_WAIT leftovers do not count)."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gateway_stack_config(root: Path, name: str, mode: str, symbols: tuple[str, ...]) -> StackConfig:
    """A stack on free ports under ``root``; ``mode`` "starlette-only" turns the gateway's fast path off."""
    return StackConfig(
        name=name,
        gateway_args=("--starlette-only",) if mode == "starlette-only" else (),
        gateway_port=free_port(),
        engine_port=free_port(),
        data_dir=root / "data",
        state_dir=root / "state",
        symbols=symbols,
    )
