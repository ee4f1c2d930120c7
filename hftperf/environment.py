"""Run metadata collected when a run starts, and the check that two runs are comparable.

The idea is pyperf's ``_collect_metadata.py``: record what can change a benchmark's figures
(interpreter, OS, CPU, the target, the stack, the code and the config) so that a later
``compare`` can warn when two results come from different set-ups (pyperf's
``_CHECKED_METADATA``). Collection never fails for lack of information: a value that cannot be
found is ``None`` (no git, not a checkout, no ``/proc/cpuinfo``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKED_METADATA",
    "collect_environment",
    "cpu_model",
    "file_sha256",
    "git_state",
    "metadata_mismatches",
    "utc_now_iso",
]

# Keys whose difference makes two runs' figures incomparable (compare warns about each one).
# Not checked on purpose: hostname (identical CI runners differ by name), git_commit (what a
# comparison is usually about) and the config (a changed threshold does not change a figure).
CHECKED_METADATA: tuple[str, ...] = (
    "hftperf_version",
    "python_implementation",
    "python_version",
    "os",
    "kernel",
    "machine",
    "cpu_model",
    "cpu_count",
    "cpu_count_usable",
    "target",
    "stack",
    "network_mode",
)

_GIT_TIMEOUT_S = 5.0
_CPUINFO = Path("/proc/cpuinfo")
_CPUINFO_MODEL_KEYS = ("model name", "hardware", "processor", "cpu model", "cpu")


def utc_now_iso() -> str:
    """The current wall-clock time as UTC ISO-8601 with microseconds and a ``Z`` suffix."""
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="microseconds").replace("+00:00", "Z")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (raises OSError when it cannot be read)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cpu_model(cpuinfo: Path = _CPUINFO) -> str | None:
    """The CPU's model name (from /proc/cpuinfo on Linux, sysctl on macOS), or None."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if sep and value and key not in fields:
            fields[key] = value
    for key in _CPUINFO_MODEL_KEYS:
        # x86 "processor" is the CPU index ("0"); on some ARM kernels it is the model name
        if key in fields and not fields[key].isdigit():
            return " ".join(fields[key].split())
    if sys.platform == "darwin":
        brand = _run_quietly(["sysctl", "-n", "machdep.cpu.brand_string"], None)
        if brand:
            return brand
    return platform.processor() or None


def _run_quietly(args: list[str], cwd: Path | None) -> str | None:
    """stdout of a short command, stripped; None when it is missing, fails or hangs."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")  # git status: take no index lock
    try:
        completed = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout containing ``directory``; (None, None) otherwise.

    Dirty means tracked files differ from the commit (untracked files do not count, as with
    ``git describe --dirty``). No error when git is not installed.
    """
    commit = _run_quietly(["git", "rev-parse", "--verify", "HEAD"], directory)
    if not commit:
        return None, None
    status = _run_quietly(["git", "status", "--porcelain", "--untracked-files=no"], directory)
    return commit, (bool(status) if status is not None else None)


def _usable_cpus() -> int | None:
    """CPUs this process may run on (affinity), which can be fewer than the machine has."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0))
        except OSError:
            return None
    return os.cpu_count()


def collect_environment(
    target: str | None,
    stack: str | None,
    config_path: Path | None,
    config_sha256: str | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's metadata as a JSON-ready dict (every standard key present, None when unknown).

    ``config_sha256`` is computed from ``config_path`` when not given (None if unreadable).
    ``extra`` entries (``network_mode``, ``grpc_target``, ...) are added last and win.
    """
    from hftperf import __version__

    if config_path is not None and config_sha256 is None:
        try:
            config_sha256 = file_sha256(config_path)
        except OSError:
            config_sha256 = None
    commit, dirty = git_state(Path.cwd())
    environment: dict[str, Any] = {
        "hftperf_version": __version__,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "os": platform.system(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": _usable_cpus(),
        "hostname": socket.gethostname(),
        "target": target,
        "stack": stack,
        "network_mode": None,
        "git_commit": commit,
        "git_dirty": dirty,
        "config_path": str(config_path) if config_path is not None else None,
        "config_sha256": config_sha256,
        "started_at": utc_now_iso(),
    }
    if extra:
        environment.update(extra)
    return environment


def _shown(env: Mapping[str, Any], key: str) -> str:
    return repr(env[key]) if key in env else "(missing)"


def metadata_mismatches(env_a: Mapping[str, Any], env_b: Mapping[str, Any]) -> list[str]:
    """One readable line per checked key whose value differs, in CHECKED_METADATA order.

    An absent key counts as None (unknown either way); it is shown as ``(missing)``.
    """
    return [
        f"{key}: {_shown(env_a, key)} vs {_shown(env_b, key)}"
        for key in CHECKED_METADATA
        if env_a.get(key) != env_b.get(key)
    ]
