"""The end of one worker's run: what is left over is censored or counted, and the ``WorkerSummary``.

When the worker stops (after the backlog's timeout in open loop, or on an interrupt) some measured
requests may still be unanswered, and in open loop some that fell due in the measured period may
never have been sent. Open loop records each of them in the latency histogram at the time it had
waited by then, a lower bound (counted as censored), and counts it as ``timeout`` or
``not_sent``; closed loop and interrupted runs count the unanswered ones as in flight. Stepped
schedules count each in the stage of its intended time as well.

None of this runs per request: :class:`~hftperf.loadgen.worker.Worker` calls it once, before
its last interval is cut. The summary and the interval sink are what a worker hands back, so the
executors and the aggregator import them from here without the worker itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hftperf.loadgen.recorder import IntervalSample
from hftperf.loadgen.schedule import stage_at_ns
from hftperf.loadgen.transport import ErrorClass

if TYPE_CHECKING:
    from hftperf.loadgen.worker import Worker

__all__ = ["IntervalSink", "WorkerSummary", "record_in_flight", "record_not_sent", "summarize"]

IntervalSink = Callable[[IntervalSample], None]


@dataclass(frozen=True)
class WorkerSummary:
    """End-of-run counts that are not per-interval: what was left over at the end."""

    in_flight: int  # measured requests unanswered when the run stopped (closed loop or interrupted)
    not_sent: int  # open loop: requests due in the measured period never sent (also an error class)
    warmup_requests: int  # requests sent during warm-up (not recorded)
    measured_s: float  # length of the measured period actually run
    interrupted: bool
    drain_s: float = 0.0  # time after the measured period spent on the backlog and the last answers


def record_in_flight(worker: Worker, end_ns: int, censor: bool) -> int:
    """Reset every busy slot; censor its measured request at ``end - intended`` or count it in flight.

    Returns the number counted in flight (0 when censoring).
    """
    recorder = worker.recorder
    in_flight = 0
    for slot, busy in enumerate(worker.busy):
        if busy:
            worker.transport.reset(slot)
            worker.busy[slot] = False
            if not worker.measured[slot]:
                continue
            tally = recorder.stages[worker.stage_of[slot]] if worker.stage_bounds_ns else None
            if censor:  # unanswered at the cut-off: it took at least this long
                recorder.errors[ErrorClass.TIMEOUT] += 1
                recorder.latency_ns.append(end_ns - worker.intended_ns[slot])
                recorder.censored += 1
                if tally is not None:
                    tally.errors[ErrorClass.TIMEOUT] += 1
                    tally.latency_ns.append(end_ns - worker.intended_ns[slot])
                    tally.censored += 1
            else:
                in_flight += 1
                if tally is not None:
                    tally.in_flight += 1
    return in_flight


def record_not_sent(worker: Worker, end_ns: int, censor: bool) -> int:
    """Count the measured requests due before the end that never went out (and censor them).

    Each is recorded at ``end - intended``: after the backlog's timeout that is at least the
    timeout, so the latest due requests do not pull the percentiles down.
    """
    schedule = worker.schedule
    due = schedule.count_due(min(end_ns, worker.stop_at_ns) - worker.t0_ns - 1)
    first = max(worker.next_index, schedule.count_due(worker.measure_from_ns - worker.t0_ns - 1))
    count = max(0, due - first)
    if not count:
        return 0
    recorder = worker.recorder
    recorder.errors[ErrorClass.NOT_SENT] += count
    if censor:
        recorder.censored += count
        base_ns = end_ns - worker.t0_ns
        recorder.latency_ns.extend(base_ns - schedule.due_ns(i) for i in range(first, due))
    if worker.stage_bounds_ns:
        offset_ns = worker.t0_ns - worker.measure_from_ns  # schedule time -> time from the end of warm-up
        for i in range(first, due):
            due_ns = schedule.due_ns(i)
            tally = recorder.stages[stage_at_ns(worker.stage_bounds_ns, due_ns + offset_ns)]
            tally.errors[ErrorClass.NOT_SENT] += 1
            if censor:
                tally.censored += 1
                tally.latency_ns.append(end_ns - worker.t0_ns - due_ns)
    return count


def summarize(worker: Worker, end_ns: int, in_flight: int, not_sent: int) -> WorkerSummary:
    """The worker's summary at ``end_ns``, with the counts of what was left over."""
    return WorkerSummary(
        in_flight=in_flight,
        not_sent=not_sent,
        warmup_requests=worker.warmup_requests,
        measured_s=max(0.0, (min(end_ns, worker.stop_at_ns) - worker.measure_from_ns) / 1e9),
        interrupted=worker.interrupted,
        drain_s=max(0.0, (end_ns - worker.stop_at_ns) / 1e9) if worker.open_loop else 0.0,
    )
