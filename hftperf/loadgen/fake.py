"""A transport that answers from memory after a fixed delay: for unit tests of scheduling.

Behaviour tests still run against real loopback servers; this one checks the pacing and
accounting logic without a network (httpx's MockTransport idea).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hftperf.loadgen.transport import OK, CompletionCallback

__all__ = ["FakeTransport"]


class FakeTransport:
    """Completes every request ``latency_s`` after it was sent, with ``outcome(index)``."""

    def __init__(self, slots: int, latency_s: float = 0.0,
                 outcome: Callable[[int], int] = lambda index: OK) -> None:
        self.slots = slots
        self.latency_s = latency_s
        self.outcome = outcome
        self.sent: list[int] = []  # request indexes, in send order
        self._pending: dict[int, asyncio.Handle] = {}
        self._on_complete: CompletionCallback | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self, on_complete: CompletionCallback) -> None:
        """Remember the callback."""
        self._loop = asyncio.get_running_loop()
        self._on_complete = on_complete

    def send(self, slot: int, request_index: int) -> None:
        """Schedule the answer for this request."""
        assert self._loop is not None and slot not in self._pending
        self.sent.append(request_index)
        self._pending[slot] = self._loop.call_later(self.latency_s, self._answer, slot, request_index)

    def _answer(self, slot: int, request_index: int) -> None:
        del self._pending[slot]
        assert self._on_complete is not None
        self._on_complete(slot, self.outcome(request_index), time.perf_counter_ns())

    def reset(self, slot: int) -> None:
        """Forget the slot's pending answer."""
        handle = self._pending.pop(slot, None)
        if handle is not None:
            handle.cancel()

    async def close(self) -> None:
        """Cancel every pending answer."""
        for slot in list(self._pending):
            self.reset(slot)
