"""Precise event-loop wake-ups on Linux: a timerfd armed at a CLOCK_MONOTONIC deadline.

uvloop's timers are millisecond-grained, so without help an open-loop pacer must either wake
up to a millisecond late or spin on the CPU it shares with the target. A timerfd (armed with
nanosecond resolution, timer slack lowered to 1 ns) lets the loop sleep in epoll until just
before a request is due; the pacer spins only the last few microseconds.
``time.perf_counter_ns()`` reads CLOCK_MONOTONIC on Linux, so its values are timerfd deadlines.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time
from collections.abc import Callable

__all__ = ["PreciseTimer", "precise_timer_available"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1
_PR_SET_TIMERSLACK = 29


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    if "clock_gettime(CLOCK_MONOTONIC)" not in time.get_clock_info("perf_counter").implementation:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 - raises AttributeError when missing
        libc.timerfd_settime  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def precise_timer_available() -> bool:
    """True on Linux with timerfd and a CLOCK_MONOTONIC perf_counter."""
    return _LIBC is not None


class PreciseTimer:
    """One-shot wake-up of ``callback`` on ``loop`` at a perf_counter_ns deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        if _LIBC is None:
            raise OSError("timerfd is not available")
        self._fd = _LIBC.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        _LIBC.prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0)  # wake within ~µs, not the default 50 µs
        self._loop = loop
        self._callback = callback
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self.armed = False
        loop.add_reader(self._fd, self._on_ready)

    def arm_at(self, deadline_ns: int) -> None:
        """Fire once at ``deadline_ns`` (perf_counter_ns clock); re-arming replaces the deadline."""
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
        assert _LIBC is not None
        _LIBC.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None)
        self.armed = True

    def _on_ready(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return  # disarmed or re-armed after it fired
        self.armed = False
        self._callback()

    def close(self) -> None:
        """Stop watching and close the descriptor."""
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
