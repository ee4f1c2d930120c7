"""Real storage faults for the stack's tests: a tiny tmpfs to fill, a read-only bind mount.

Needs root and a kernel that lets this process mount (a plain container usually does not):
callers skip, with the reason, when :func:`mount` raises :class:`MountUnavailable`.
``chmod`` would not do: the tests run as root, which ignores file permissions.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MountUnavailable", "fill_up", "read_only_bind", "tmpfs"]


class MountUnavailable(Exception):
    """This process may not mount file systems here."""


def _run(*argv: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MountUnavailable(f"{' '.join(argv)}: {exc}") from None
    if done.returncode != 0:
        raise MountUnavailable(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")


def _unmount(path: Path) -> None:
    # Lazy: a process we started may still hold a file there; the mount goes once it exits.
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False, timeout=10)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``"2m"``) on ``path`` (created) for the block."""
    path.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        _unmount(path)


@contextlib.contextmanager
def read_only_bind(path: Path) -> Iterator[Path]:
    """Make ``path`` read-only for the block (a read-only bind mount of itself)."""
    _run("mount", "--bind", str(path), str(path))
    try:
        _run("mount", "-o", "remount,ro,bind", str(path))
        yield path
    finally:
        _unmount(path)


def fill_up(path: Path) -> Path:
    """Write a file in ``path`` until its file system has no space left; return the file."""
    filler = path / "filler"
    chunk = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                return filler
    finally:
        os.close(fd)
