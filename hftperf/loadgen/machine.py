"""The machine's own state while it measures: its load average and the CPU time its hypervisor withheld.

*Steal* is the time a virtual CPU was ready to run but the hypervisor ran something else (the
8th field of the ``cpu`` line of ``/proc/stat``). On a shared cloud or CI machine it is the direct
measure of a noisy neighbour: every process here, the load generator and a local target alike,
stood still for that share of the interval, and a latency tail measured then is partly the host's.
It is evidence in the instrument-quality section beside the machine's load, read straight from
``/proc`` (two integers per interval on the hot path's side: no library needed, none cheaper).
"""

from __future__ import annotations

import os

__all__ = ["StealMeter", "load_1m"]

_PROC_STAT = "/proc/stat"


def load_1m() -> float | None:
    """The machine's 1-minute load average (None where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return None


def _cpu_times(path: str) -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot; None where ``/proc/stat`` has no steal field."""
    try:
        with open(path, "rb") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != b"cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
    values = [int(v) for v in fields[1:9]]
    return values[7], sum(values)


class StealMeter:
    """The share of the machine's CPU time stolen by the hypervisor since the previous reading."""

    def __init__(self, path: str = _PROC_STAT) -> None:
        self._path = path
        self._last = _cpu_times(path)

    def share(self) -> float | None:
        """Stolen share (0..1) of all CPUs' time since the last call; None when unknown or no time passed."""
        now = _cpu_times(self._path)
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return max(0.0, (now[0] - last[0]) / (now[1] - last[1]))
