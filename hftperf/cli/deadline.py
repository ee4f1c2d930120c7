"""The watchdog that keeps ``hftperf run`` within its deadline, whatever the target does.

At the deadline it interrupts the run the way Ctrl-C does (SIGINT to this process): the load
generator drains for half a second, the suite keeps every scenario measured so far and writes
result.json. If the process is still alive ``grace_s`` later (a step stuck where no signal
reaches), it terminates its child processes and ends itself with exit status 2. Only the CLI
ends the process, so this lives here and not in the library.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path
from types import TracebackType

from hftperf.deadline import GRACE_S
from hftperf.errors import ExitCode

__all__ = ["Watchdog"]


def _child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc; empty elsewhere)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


class Watchdog:
    """A context manager: soft stop at ``deadline_s`` from entry, hard stop ``grace_s`` later."""

    def __init__(self, deadline_s: float, grace_s: float = GRACE_S) -> None:
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.expired = False
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._active = False

    def __enter__(self) -> Watchdog:
        # Both timers are listed before either starts, and a failure while starting them (the soft
        # stop's SIGINT can strike here when the deadline is a few ms) cancels both: a with block
        # whose __enter__ raises gets no __exit__, and a hard stop left running would end the process.
        self._timers = [threading.Timer(self.deadline_s + self.grace_s, self._hard_stop),
                        threading.Timer(self.deadline_s, self._soft_stop)]
        with self._lock:
            self._active = True
        try:
            for timer in self._timers:
                timer.daemon = True
                timer.start()
        except BaseException:
            self._disarm()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._disarm()

    def _disarm(self) -> None:
        """No stop after this, even from a timer that is already firing."""
        with self._lock:
            self._active = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def message(self) -> str:
        """One line for the user: what happened at the deadline."""
        return (
            f"the run reached its deadline of {self.deadline_s:g}s and was stopped; "
            "result.json holds what was measured until then (set [run] deadline or --deadline)"
        )

    def _soft_stop(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.expired = True
        os.kill(os.getpid(), signal.SIGINT)  # handled like Ctrl-C: drain, keep results

    def _hard_stop(self) -> None:
        with self._lock:
            if not self._active:
                return
        sys.stderr.write(
            f"hftperf: error: {self.message()}; it did not stop within {self.grace_s:g}s "
            f"more, so it was ended (exit {int(ExitCode.ERROR)})\n"
        )
        sys.stderr.flush()
        for pid in _child_pids(os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        os._exit(int(ExitCode.ERROR))
