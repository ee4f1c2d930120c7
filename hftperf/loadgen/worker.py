"""One load-generating event loop: schedule → transport → recorder, with a hard deadline.

Closed loop: each slot sends its next request as soon as the previous answer arrives.
Open loop: request i is due at ``start + schedule.due_ns(i)``; it goes out on an idle slot at
that moment (or as soon as one frees up), and its latency counts from the *intended* time.
Pacing reads ``time.perf_counter_ns()``: the event loop's timers (millisecond-grained in
uvloop) only wake the pacer shortly before a request is due, and it spins the last stretch.

The send delay of each request is split at the moment a connection became free for it:
before that it waited for a connection (the target's saturation), after it the pacer was late
(the instrument's error). At the end of the measured period scheduling stops but the backlog
(requests due in the period that found no free connection) is still sent as connections free
up, for at most the request timeout. What is unsent or unanswered then is censored or counted
by :mod:`hftperf.loadgen.worker_summary`, which also holds the ``WorkerSummary`` a run returns.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable

from hftperf.loadgen.machine import StealMeter, load_1m
from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.recorder import Recorder
from hftperf.loadgen.schedule import stage_at_ns
from hftperf.loadgen.server_timing import parse_server_timing
from hftperf.loadgen.timer import PreciseTimer, precise_timer_available
from hftperf.loadgen.transport import OK, ErrorClass, Transport
from hftperf.loadgen.worker_summary import (
    IntervalSink,
    WorkerSummary,
    record_in_flight,
    record_not_sent,
    summarize,
)

__all__ = ["IntervalSink", "Worker", "WorkerSummary"]

_perf_ns = time.perf_counter_ns
_SPIN_WINDOW_NS = 1_500_000  # wake this early and spin: uvloop timers fire up to ~1 ms late
_SPIN_WINDOW_TIMERFD_NS = 60_000  # timerfd wake-ups come ~50 µs late: 60 µs halves the CPU of 150 µs
# at 5,000 req/s (42% vs 86% of a core) for a schedule-lag p99 of ~30 µs instead of ~2 µs.
_CONNECT_BACKOFF_S = 0.01  # closed loop: pause a slot after a failed connect, no hot spin
_CONNECT_ERRORS = (ErrorClass.CONNECT_REFUSED, ErrorClass.CONNECT_ERROR, ErrorClass.GRPC_UNAVAILABLE)


class Worker:
    """Runs one worker's share of a load plan on the current event loop."""

    def __init__(self, part: WorkerPlan, transport: Transport, sink: IntervalSink) -> None:
        plan = part.plan
        self.part = part
        self.transport = transport
        self.sink = sink
        self.schedule = plan.schedule_for(part.worker_index)
        self.open_loop = self.schedule.open_loop
        self.recorder = Recorder(self.open_loop, plan.highest_us, stages=len(plan.stages))
        self.stage_bounds_ns = plan.stage_bounds_ns()  # from the end of warm-up; empty: not stepped
        slots = transport.slots
        self.stage_of = [0] * slots  # stepped: the stage of the slot's request (by intended time)
        self.busy = [False] * slots
        self.measured = [False] * slots
        self.intended_ns = [0] * slots
        self.sent_ns = [0] * slots
        self.idle: list[int] = []
        self.free_since_ns = 0  # open loop: since when some slot has been idle without a break
        self.backlog_until_ns = 0  # open loop: set at the end while due requests are still unsent
        self.next_index = 0
        self.next_due_ns = 0
        self.warmup_requests = 0
        self.sending = False
        self.interrupted = False
        self.t0_ns = self.measure_from_ns = self.stop_at_ns = 0
        self.timeout_ns = int(plan.timeout_s * 1e9)
        self._interval_index = 0
        self._cut_start_ns = 0
        self.drain_deadline_ns = 0
        self._wake: asyncio.Handle | None = None
        self._wake_pending = False
        self._timer: PreciseTimer | None = None
        self._spin_window_ns = _SPIN_WINDOW_NS
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cpu_mark_ns = 0
        self._steal = StealMeter()  # the machine's CPU steal per interval (instrument evidence)
        self._tag_of: Callable[[int], str] | None = None  # slot -> operation of its request (tagging sources)
        self._take_counts: Callable[[], dict[str, int]] | None = None

    # run ----------------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Open the transport's connections (before the common start time)."""
        self._loop = asyncio.get_running_loop()
        if self.part.plan.request.capture_server_timing and hasattr(self.transport, "on_captured"):
            self.transport.on_captured = self._on_server_timing  # type: ignore[attr-defined]
        tagger = getattr(self.transport, "tagger", None)
        self._tag_of = tagger() if tagger is not None else None
        self._take_counts = getattr(self.transport, "take_counts", None)
        getattr(self.transport, "bind_worker", _no_binding)(self)  # streams record per-message histograms
        await self.transport.open(self.on_complete)

    async def run(self) -> WorkerSummary:
        """Run warm-up and measured period, drain, and deliver the last interval."""
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        plan = self.part.plan
        start_ns = self.part.start_ns or _perf_ns()
        await asyncio.sleep(max(0.0, (start_ns - _perf_ns()) / 1e9))
        self.t0_ns = start_ns
        self.measure_from_ns = start_ns + int(plan.warmup_s * 1e9)
        self.stop_at_ns = self.measure_from_ns + int(plan.duration_s * 1e9)
        self._cut_start_ns = self.measure_from_ns
        self.free_since_ns = start_ns
        self._done = loop.create_future()
        self.sending = True
        timers = [loop.call_later(max(0.0, (self.stop_at_ns - _perf_ns()) / 1e9), self._on_stop_timer),
                  loop.call_later(max(0.0, (self.measure_from_ns - _perf_ns()) / 1e9), self._end_warmup)]
        housekeeping = loop.create_task(self._housekeeping())
        self._mark_cpu()
        if not self.open_loop:
            for slot in range(self.transport.slots):
                self._dispatch(slot, _perf_ns())
        else:
            if precise_timer_available():
                self._timer = PreciseTimer(loop, self._on_wake)
                self._spin_window_ns = _SPIN_WINDOW_TIMERFD_NS
            self.idle = list(range(self.transport.slots))
            self.next_due_ns = self.t0_ns + self.schedule.due_ns(0)
            self._pump()
        try:
            await self._done
        finally:
            for timer in timers:
                timer.cancel()
            housekeeping.cancel()
            self._cancel_wake()
            if self._timer is not None:
                self._timer.close()
        return self._finish()

    def request_stop(self) -> None:
        """Stop sending now (SIGINT/SIGTERM); the run drains briefly and reports what it has."""
        self.interrupted = True
        if not self.sending:  # already draining: an interrupt shortens the wait
            self.drain_deadline_ns = min(self.drain_deadline_ns, _perf_ns() + int(0.5e9))
        self._stop_sending()

    def finish_early(self) -> None:
        """End the schedule now, as if it ended here: the backlog and the last answers as at a normal end."""
        if not self.sending or self.interrupted:
            return
        now = _perf_ns()
        if self.measure_from_ns <= now < self.stop_at_ns:
            self.stop_at_ns = now
            self._on_stop_timer()

    # hot path -----------------------------------------------------------------------------
    def _dispatch(self, slot: int, intended_ns: int) -> None:
        now = _perf_ns()
        self.busy[slot] = True
        self.intended_ns[slot] = intended_ns
        self.sent_ns[slot] = now
        if intended_ns >= self.measure_from_ns:
            self.measured[slot] = True
            recorder = self.recorder
            recorder.sent += 1
            if self.open_loop:
                free_ns = self.free_since_ns
                waited = free_ns > intended_ns
                if waited:  # due while every slot was busy: the target's wait, then ours
                    recorder.wait_ns.append(free_ns - intended_ns)
                    recorder.lag_ns.append(now - free_ns)
                else:  # no wait: the recorder adds the zeros per interval (lag entries - wait entries)
                    recorder.lag_ns.append(now - intended_ns)
                if self.stage_bounds_ns:
                    stage = self.stage_of[slot] = stage_at_ns(self.stage_bounds_ns, intended_ns - self.measure_from_ns)
                    tally = recorder.stages[stage]
                    tally.sent += 1
                    tally.connection_waits += waited
        else:
            self.measured[slot] = False
            self.warmup_requests += 1
        index = self.next_index
        self.next_index = index + 1
        self.transport.send(slot, index)

    def on_complete(self, slot: int, outcome: int, done_ns: int) -> None:
        """Transport callback: record the outcome and, in closed loop, send the next request."""
        busy = self.busy
        if not busy[slot]:
            return  # a late callback for a request already timed out
        busy[slot] = False
        if self.measured[slot]:
            recorder = self.recorder
            if self.stage_bounds_ns:
                self._tally_outcome(slot, outcome, done_ns)
            if outcome == OK:
                recorder.ok += 1
                recorder.latency_ns.append(done_ns - self.intended_ns[slot])
                if self._tag_of is not None:  # a flow's operation: its latency in a histogram of its own
                    tag = self._tag_of(slot)
                    buffer = recorder.operations_ns.get(tag)
                    if buffer is None:
                        buffer = recorder.operations_ns[tag] = array("q")
                    buffer.append(done_ns - self.intended_ns[slot])
            else:
                recorder.errors[outcome] += 1
        if not self.sending:
            self._maybe_done()
        elif not self.open_loop:
            if outcome == OK or outcome not in _CONNECT_ERRORS:
                self._dispatch(slot, _perf_ns())
            else:
                assert self._loop is not None
                self._loop.call_later(_CONNECT_BACKOFF_S, self._redispatch, slot)
        else:
            idle = self.idle
            if not idle:  # the first free slot after all were busy: waiting requests can go now
                self.free_since_ns = done_ns
            idle.append(slot)
            if not self._wake_pending or self.next_due_ns <= done_ns:
                self._pump()

    def _tally_outcome(self, slot: int, outcome: int, done_ns: int) -> None:
        """Stepped schedules: count the outcome in the stage of the request's intended time."""
        tally = self.recorder.stages[self.stage_of[slot]]
        if outcome == OK:
            tally.ok += 1
            tally.latency_ns.append(done_ns - self.intended_ns[slot])
        else:
            tally.errors[outcome] += 1

    def _on_server_timing(self, slot: int, value: bytes) -> None:
        """Record the Server-Timing parts of a successful measured response."""
        if not self.measured[slot]:
            return
        buffers = self.recorder.server_timing_ns
        for name, duration_ns in parse_server_timing(value):
            buffer = buffers.get(name)
            if buffer is None:
                buffer = buffers[name] = array("q")
            buffer.append(duration_ns)

    def _redispatch(self, slot: int) -> None:
        if self.sending and not self.busy[slot]:
            self._dispatch(slot, _perf_ns())
        elif not self.sending:
            self._maybe_done()

    # open-loop pacing ---------------------------------------------------------------------
    def _pump(self) -> None:
        """Send every request that is due while idle slots last, then arrange the next wake-up."""
        schedule = self.schedule
        idle = self.idle
        now = _perf_ns()
        while self.sending and idle and self.next_due_ns <= now:
            if self.next_due_ns >= self.stop_at_ns:
                self._stop_sending()
                return
            self._dispatch(idle.pop(), self.next_due_ns)
            self.next_due_ns = self.t0_ns + schedule.due_ns(self.next_index)
            now = _perf_ns()
        if self.sending and idle and not self._wake_pending:
            self._schedule_wake(self.next_due_ns - now)

    def _schedule_wake(self, wait_ns: int) -> None:
        """Wake shortly before the next request is due (timerfd or loop timer), then spin."""
        assert self._loop is not None
        self._wake_pending = True
        if wait_ns <= self._spin_window_ns:
            self._wake = self._loop.call_soon(self._on_wake)
        elif self._timer is not None:
            self._timer.arm_at(self.next_due_ns - self._spin_window_ns)
        else:
            self._wake = self._loop.call_later((wait_ns - self._spin_window_ns) / 1e9, self._on_wake)

    def _on_wake(self) -> None:
        self._wake = None
        self._wake_pending = False
        self._pump()

    def _cancel_wake(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        self._wake_pending = False  # a timerfd that still fires finds sending off and does nothing

    # timers ---------------------------------------------------------------------------------
    def _on_stop_timer(self) -> None:
        # Loop timers may fire a little early: re-arm until the deadline has really passed.
        remaining_ns = self.stop_at_ns - _perf_ns()
        assert self._loop is not None
        if remaining_ns > 0:
            self._loop.call_later(remaining_ns / 1e9, self._on_stop_timer)
            return
        if self.open_loop and self.sending:
            self._pump()  # send what fell due just before the end
            if self.sending and self.next_due_ns < self.stop_at_ns and not self.interrupted:
                # Requests due in the period still wait for a connection: keep sending them as
                # connections free up (_pump stops at the first one due after the end).
                self.backlog_until_ns = self.stop_at_ns + self.timeout_ns
                return
        self._stop_sending()

    def _end_warmup(self) -> None:
        """The measured period starts: CPU from now, and the source's warm-up counters dropped."""
        self._mark_cpu()
        if self._take_counts is not None:
            self._take_counts()

    def _mark_cpu(self) -> None:
        """Start counting the process's CPU for the next interval (again at the end of warm-up)."""
        self._cpu_mark_ns = time.process_time_ns()
        self._steal.share()

    def _stop_sending(self) -> None:
        if self.sending:
            self.sending = False
            # Answers may arrive until every request has timed out; an interrupt waits less.
            # Open loop: the backlog and its answers share one timeout after the end.
            now = _perf_ns()
            if self.interrupted:
                self.drain_deadline_ns = now + int(0.5e9)
            elif self.open_loop:  # already past when the backlog's time ran out: cut off now
                self.drain_deadline_ns = self.stop_at_ns + self.timeout_ns
            else:
                self.drain_deadline_ns = now + self.timeout_ns + int(1e9)
            self._cancel_wake()
        self._maybe_done()

    def _done_set(self) -> bool:
        return self._done is None or self._done.done()

    def _maybe_done(self) -> None:
        if not self._done_set() and not any(self.busy):
            self._done.set_result(None)  # type: ignore[union-attr]

    async def _housekeeping(self) -> None:
        """Cut intervals, time out overdue requests, and end the drain at the hard deadline."""
        plan = self.part.plan
        check_s = min(0.05, plan.timeout_s / 10)
        interval_ns = int(plan.interval_s * 1e9)
        next_cut_ns = self.measure_from_ns + interval_ns
        while True:
            await asyncio.sleep(check_s)
            now = _perf_ns()
            limit_ns = now - self.timeout_ns
            for slot, busy in enumerate(self.busy):
                if busy and self.sent_ns[slot] < limit_ns:
                    self.transport.reset(slot)
                    self.on_complete(slot, ErrorClass.TIMEOUT, now)
            # The last interval is cut in _finish, so it also holds the answers of the drain.
            while now >= next_cut_ns and next_cut_ns < self.stop_at_ns:
                self._cut(next_cut_ns)
                next_cut_ns += interval_ns
            if self.sending and self.backlog_until_ns and now >= self.backlog_until_ns:
                self._stop_sending()  # the backlog's time is up: what is left is censored in _finish
            if not self.sending and now >= self.drain_deadline_ns and not self._done_set():
                self._done.set_result(None)  # type: ignore[union-attr]

    def _cut(self, end_ns: int) -> None:
        """Deliver the interval from the previous cut to ``end_ns``."""
        start_ns = self._cut_start_ns
        if end_ns <= start_ns:
            return
        cpu_ns = time.process_time_ns()
        sample = self.recorder.rotate(
            self._interval_index,
            (start_ns - self.measure_from_ns) / 1e9,
            (end_ns - start_ns) / 1e9,
            cpu_s=(cpu_ns - self._cpu_mark_ns) / 1e9,
            load_1m=load_1m(),
            steal_share=self._steal.share(),
            counts=self._take_counts() if self._take_counts is not None else None,
        )
        self._cpu_mark_ns = cpu_ns
        self._interval_index += 1
        self._cut_start_ns = end_ns
        self.sink(sample)

    def _finish(self) -> WorkerSummary:
        end_ns = _perf_ns()
        censor = self.open_loop and not self.interrupted
        in_flight = record_in_flight(self, end_ns, censor)
        not_sent = record_not_sent(self, end_ns, censor) if self.open_loop else 0
        self._cut(end_ns)
        return summarize(self, end_ns, in_flight, not_sent)


def _no_binding(worker: Worker) -> None:
    """A transport without per-message histograms needs nothing of its worker."""
