"""Where load workers run: local processes (the default) or a Dask distributed cluster.

``open_executor(None)`` is today's process pool; ``open_executor("local:2")`` or
``open_executor("tcp://HOST:8786")`` imports ``distributed`` (the ``cluster`` extra) only then.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from hftperf.errors import UsageError
from hftperf.loadgen.executors.base import WORKER_LOST, Executor, ExecutorRun, LostWorker
from hftperf.loadgen.executors.local import LocalProcesses

__all__ = ["WORKER_LOST", "Executor", "ExecutorRun", "LocalProcesses", "LostWorker", "check_cluster_address",
           "open_executor"]

_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://[^\s/]+(:\d+)?/?$")
_LOCAL = re.compile(r"^local:([1-9]\d{0,2})$")


def check_cluster_address(text: str) -> str:
    """``local:N`` (1..999) or a scheduler address ``tcp://HOST:PORT``; ValueError otherwise."""
    text = text.strip()
    if _LOCAL.match(text) or _ADDRESS.match(text):
        return text
    raise ValueError(f"expected a scheduler address such as tcp://HOST:8786, or local:N, got {text!r}")


@contextlib.contextmanager
def open_executor(cluster: str | None, allow_remote_target: bool = False) -> Iterator[Executor]:
    """The executor for ``cluster`` (None: local processes), closed when the block ends."""
    if not cluster:
        yield LocalProcesses()
        return
    try:
        address = check_cluster_address(cluster)
    except ValueError as exc:
        raise UsageError(f"--cluster: {exc}") from None
    try:
        import distributed  # noqa: F401 - only here: without a cluster it is never imported
    except ImportError as exc:
        raise UsageError(f"--cluster needs the 'cluster' extra (pip install 'hftperf[cluster]'): {exc}") from None
    from hftperf.loadgen.executors.dask_cluster import connect

    with connect(address, allow_remote_target) as executor:
        yield executor
