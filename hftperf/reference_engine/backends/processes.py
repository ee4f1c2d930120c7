"""Processes and ports on this machine, as the stack backends see them.

Whether something listens on a port (and waiting until nothing does), whether a process group
still has a live member (read from ``/proc``, so uvicorn's workers count too), whether a pid is
still the process we started (pids are recycled), stopping a group with SIGTERM then SIGKILL,
and the tail of a log file. The local backend runs each component in its own session, so its
pid is also its process group id; the Docker and compose backends ask only about ports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from pathlib import Path

from hftperf.errors import InfrastructureError
from hftperf.reference_engine.bind import socket_family

__all__ = ["group_alive", "is_ours", "port_in_use", "read_log_tail", "stop_group", "wait_port_free"]

_POLL_S = 0.05


def read_log_tail(path: Path, lines: int, start_offset: int = 0) -> str:
    """The last ``lines`` lines of a log file after byte ``start_offset`` ('' when missing)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(start_offset, f.tell() - 256 * max(lines, 1)))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on ``host:port`` (TIME_WAIT leftovers do not count)."""
    # SO_REUSEADDR: ignore TIME_WAIT leftovers of a stack just stopped, fail only on a listener.
    with socket.socket(socket_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except socket.gaierror as exc:
            raise InfrastructureError(f"cannot listen on {host!r}: {exc.strerror}") from None
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                reason = (exc.strerror or str(exc)).lower()
                raise InfrastructureError(
                    f"cannot listen on {host}: it is not an address of this machine ({reason}); "
                    f"use --host 127.0.0.1 (the default) or one of this machine's addresses"
                ) from None
            return True
    return False


def wait_port_free(host: str, port: int, timeout_s: float = 5.0) -> None:
    """Wait up to ``timeout_s`` until nothing listens on ``host:port`` any more."""
    deadline = time.monotonic() + timeout_s
    while port_in_use(host, port) and time.monotonic() < deadline:
        time.sleep(_POLL_S)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, process group) of a live pid from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process of the group exists (uvicorn workers included)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)  # reap our own child, if it is one
    if not Path("/proc").is_dir():  # not Linux: the signal-0 probe is the best we have
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None and stat[1] == pgid and stat[0] != "Z":
                return True
    return False


def is_ours(pid: int, module: str) -> bool:
    """Guard against a recycled pid: the leader, if alive, must run ``module``."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True  # leader gone: only its group (our workers) can be left
    except PermissionError:
        return False
    return not cmdline or module.encode() in cmdline  # empty: a zombie leader


def stop_group(pgid: int, stop_timeout_s: float) -> None:
    """SIGTERM the group and wait up to ``stop_timeout_s``; then SIGKILL and wait up to 5 s."""
    for sig, wait_s in ((signal.SIGTERM, stop_timeout_s), (signal.SIGKILL, 5.0)):
        if not group_alive(pgid):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
