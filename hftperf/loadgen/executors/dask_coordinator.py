"""The coordinator's loop for a cluster run: ready, one start instant, merge, watch for lost workers.

Events arrive on the client's thread and are queued; this loop (the caller's thread) feeds them to
the IntervalFeed, so live progress and interval logs are driven from the same thread as locally.
A worker is lost when it leaves the scheduler, when its task fails outside hftperf's control, or
when it has been silent too long (an unreachable host stays listed until the scheduler's TTL).
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from hftperf.errors import InfrastructureError
from hftperf.loadgen.executors import dask_task
from hftperf.loadgen.executors.base import LostWorker
from hftperf.loadgen.executors.feed import IntervalFeed
from hftperf.loadgen.plan import LoadPlan
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.worker_summary import WorkerSummary

__all__ = ["Coordinator"]

_START_MARGIN_NS = 500_000_000  # the go message reaches every worker well within this
_READY_TIMEOUT_S = 30.0
_POLL_S = 0.2
_CHECK_EVERY_S = 0.5
_SILENCE_S = 5.0  # no message for this long while sending: the worker is written off


class Coordinator:
    """One cluster run, from "ready" to the last summary."""

    def __init__(self, client: Any, run_id: str, addresses: list[str], plan: LoadPlan, aggregator: Aggregator,
                 deadline_s: float) -> None:
        self.client = client
        self.run_id = run_id
        self.addresses = addresses
        self.plan = plan
        self.feed = IntervalFeed(plan, aggregator)
        self.deadline_s = deadline_s
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.summaries: dict[int, WorkerSummary] = {}
        self.lost: list[LostWorker] = []
        self.live = set(range(len(addresses)))
        self.ready: set[int] = set()
        self.heard = [time.monotonic()] * len(addresses)
        self.start_wall_ns: int | None = None

    @contextlib.contextmanager
    def subscribed(self) -> Iterator[None]:
        """Receive the run's events (subscribe before submitting, so nothing is missed)."""
        topic = dask_task.topic_for(self.run_id)
        self.client.subscribe_topic(topic, lambda event: self.inbox.put(event[1]))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(topic)

    def run(self, futures: list[Any]) -> tuple[list[WorkerSummary], tuple[LostWorker, ...]]:
        """Drive the run to its end; Ctrl-C / SIGTERM stop the workers gracefully."""
        interrupted: list[int] = []
        in_main = threading.current_thread() is threading.main_thread()
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {s: signal.getsignal(s) for s in signals} if in_main else {}
        for signum in previous:
            signal.signal(signum, lambda signum, frame: interrupted.append(signum))
        try:
            self._loop(futures, interrupted)
        except BaseException:
            self._broadcast(dask_task.deliver_stop, self.run_id)  # a task is not ended by cancelling it
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.feed.finish()
        summaries = [self.summaries[k] for k in range(len(self.addresses))]
        return summaries, tuple(sorted(self.lost, key=lambda x: x.worker_index))

    def _loop(self, futures: list[Any], interrupted: list[int]) -> None:
        ready_by = time.monotonic() + _READY_TIMEOUT_S
        give_up_at: float | None = None
        next_check = 0.0
        stop_sent = False
        while self.live:
            if interrupted and not stop_sent:
                self._broadcast(dask_task.deliver_stop, self.run_id)
                stop_sent = True
            with contextlib.suppress(queue.Empty):
                self._handle(self.inbox.get(timeout=_POLL_S))
                while True:
                    self._handle(self.inbox.get_nowait())
            now = time.monotonic()
            if self.start_wall_ns is None and self.live and self.live <= self.ready:
                self._go()
                give_up_at = now + self.deadline_s
            if now >= next_check:
                next_check = now + _CHECK_EVERY_S
                self._watch(futures, now, ready_by, give_up_at)

    def _handle(self, message: list[Any]) -> None:
        kind, index = message[0], int(message[1])
        if index not in self.live:
            return
        self.heard[index] = time.monotonic()
        if kind == "ready":
            self.ready.add(index)
        elif kind == "interval":
            self.feed.add(index, pickle.loads(message[2]))
        elif kind == "done":
            self.summaries[index] = pickle.loads(message[2])
            self.live.discard(index)
        elif kind == "error":
            self._broadcast(dask_task.deliver_stop, self.run_id)
            raise InfrastructureError(f"load worker {index} ({self.addresses[index]}): {message[2]}")

    def _go(self) -> None:
        """Send every worker one start instant on the coordinator's wall clock."""
        self.start_wall_ns = time.time_ns() + _START_MARGIN_NS
        self._broadcast(dask_task.deliver_go, self.run_id, self.start_wall_ns)
        # Nothing is due from a worker before its first interval, after the warm-up: count its
        # silence from then (``heard`` lies in the future until it speaks).
        first_s = _START_MARGIN_NS / 1e9 + self.plan.warmup_s + self.plan.interval_s
        self.heard = [time.monotonic() + first_s] * len(self.addresses)

    def _broadcast(self, function: Any, *args: Any) -> None:
        addresses = [self.addresses[k] for k in sorted(self.live)]
        if addresses:
            with contextlib.suppress(Exception):  # a lost worker is found by _watch, not here
                self.client.run(function, *args, workers=addresses, on_error="ignore")

    def _silence_limit_s(self) -> float:
        """How long a worker may be quiet: a few intervals, plus one timeout while it drains."""
        plan = self.plan
        limit_s = max(_SILENCE_S, 3 * plan.interval_s)
        if self.start_wall_ns is not None:
            elapsed_s = (time.time_ns() - self.start_wall_ns) / 1e9
            if elapsed_s > plan.warmup_s + plan.duration_s - plan.interval_s:
                limit_s += plan.interval_s + plan.timeout_s + 1.0
        return limit_s

    def _watch(self, futures: list[Any], now: float, ready_by: float, give_up_at: float | None) -> None:
        """Write off workers that left, failed, fell silent, or outlived the deadline."""
        try:
            present = set(self.client.nthreads())
        except Exception as exc:  # the scheduler itself is gone
            raise InfrastructureError(f"lost the cluster's scheduler: {type(exc).__name__}: {exc}") from None
        for k in sorted(self.live):
            reason = None
            if self.addresses[k] not in present:
                reason = "left the cluster"
            elif futures[k].status in ("error", "cancelled", "lost"):
                reason = f"its task ended ({futures[k].status})"
            elif self.start_wall_ns is None and now > ready_by and k not in self.ready:
                reason = f"not ready within {_READY_TIMEOUT_S:g}s"
            elif self.start_wall_ns is not None and now - self.heard[k] > self._silence_limit_s():
                reason = f"silent for {now - self.heard[k]:.1f}s"
            elif give_up_at is not None and now > give_up_at:
                reason = "did not finish by the run's deadline"
            if reason is not None:
                self._lose(k, reason)
        if len(self.lost) == len(self.addresses):
            raise InfrastructureError(f"every load worker was lost; the first: {self.lost[0].name}")

    def _lose(self, k: int, reason: str) -> None:
        self.live.discard(k)
        self.ready.discard(k)
        self.feed.lose(k)
        lost_after_s = 0.0
        if self.start_wall_ns is not None:
            lost_after_s = (time.time_ns() - self.start_wall_ns) / 1e9 - self.plan.warmup_s
        name = f"{self.addresses[k]} (load worker {k} of {len(self.addresses)}: {reason})"
        lost, summary = self.feed.lost_share(k, name, lost_after_s)
        self.lost.append(lost)
        self.summaries[k] = summary
