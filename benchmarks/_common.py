"""Shared helpers for the benchmark scripts: nginx on loopback, machine facts, markdown output."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return {status} '{body}'; }}
  }}
}}
"""


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, attempts: int = 100) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port (50 ms between attempts)."""
    for _ in range(attempts):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return
        time.sleep(0.05)


@contextlib.contextmanager
def nginx_server(workers: int = 1, status: int = 200,
                 body: str = '{"status":"ok","venue":"bench"}') -> Iterator[str]:
    """Run nginx (Debian package) on a free 127.0.0.1 port answering every request with ``status`` and ``body``."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx not found: apt-get install nginx-light")
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-") as tmp:
        port = free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, status=status, body=body))
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", tmp], stderr=subprocess.PIPE)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            process.wait(timeout=10)


def machine() -> str:
    """One line describing the machine the figures come from."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        match = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if match:
            model = match.group(1).strip()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{model}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def median(values: list[float]) -> float:
    """Median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def replace_section(path: Path, marker: str, text: str) -> None:
    """Replace the block between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` (or append)."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
