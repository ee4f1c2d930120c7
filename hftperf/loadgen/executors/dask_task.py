"""What runs on a Dask worker: one load worker as a task, streaming its intervals as events.

The task connects, reports "ready" and waits for the coordinator's start instant (wall clock of
the coordinator, in ns), which it turns into its own ``perf_counter_ns`` using the clock offset the
coordinator measured for this worker. Every interval sample and the final summary go back as
``log_event`` messages on the run's topic (Dask's structured events: pushed through the
scheduler to the subscribed client, in order per worker). Messages are lists of msgpack types;
the payload is the pickled sample, whose histograms are already compressed HDR encodings, so the
coordinator adds exactly what the local pool adds.

``go`` and ``stop`` reach the task through ``Client.run`` on its worker, which calls
:func:`deliver_go` / :func:`deliver_stop` in the worker process; they find the task through
``_ACTIVE``, the registry of this process's running load tasks.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hftperf.loadgen.executors.safety import check_loopback_target
from hftperf.loadgen.plan import WorkerPlan

__all__ = ["clock_ns", "deliver_go", "deliver_stop", "reach_target", "run_task", "topic_for", "worker_facts"]

_GO_TIMEOUT_S = 60.0


@dataclass
class _Control:
    """How the coordinator's go and stop reach one running load task."""

    go: threading.Event = field(default_factory=threading.Event)
    start_wall_ns: int = 0
    stop_requested: bool = False
    loop: Any = None
    worker: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_ACTIVE: dict[str, list[_Control]] = {}  # run id -> the load tasks of that run in this process
_ACTIVE_LOCK = threading.Lock()


def topic_for(run_id: str) -> str:
    """The event topic of one run."""
    return f"hftperf-load-{run_id}"


def worker_facts() -> dict[str, Any]:
    """This worker's environment for the result (host, cores, versions)."""
    import platform

    from hftperf import __version__

    return {"host": socket.gethostname(), "cores": os.cpu_count() or 1, "hftperf_version": __version__,
            "python_version": platform.python_version(), "pid": os.getpid()}


def clock_ns() -> int:
    """This worker's wall clock (for the coordinator's ping exchange)."""
    return time.time_ns()


def reach_target(host: str, port: int, timeout_s: float) -> str | None:
    """None when a TCP connection to the target opens from this worker, else the reason."""
    from hftperf.errors import TargetUnreachable
    from hftperf.loadgen import check_reachable

    try:
        check_reachable(host, port, timeout_s)
    except TargetUnreachable as exc:
        return str(exc)
    return None


def deliver_go(run_id: str, start_wall_ns: int) -> int:
    """Release this process's load tasks of ``run_id`` at the coordinator's start instant."""
    with _ACTIVE_LOCK:
        controls = list(_ACTIVE.get(run_id, ()))
    for control in controls:
        control.start_wall_ns = start_wall_ns
        control.go.set()
    return len(controls)


def deliver_stop(run_id: str) -> int:
    """Stop this process's load tasks of ``run_id`` gracefully (as Ctrl-C does locally)."""
    with _ACTIVE_LOCK:
        controls = list(_ACTIVE.get(run_id, ()))
    for control in controls:
        with control.lock:
            control.stop_requested = True
            if control.loop is not None:
                control.loop.call_soon_threadsafe(control.worker.request_stop)
        control.go.set()
    return len(controls)


def run_task(part: WorkerPlan, run_id: str, offset_ns: int, allow_remote_target: bool) -> None:
    """The body of one load task; everything it measured travels as events, nothing is returned."""
    from distributed import get_worker

    dask_worker = get_worker()
    topic = topic_for(run_id)
    index = part.worker_index

    def send(*message: Any) -> None:
        dask_worker.log_event(topic, list(message))

    control = _Control()
    with _ACTIVE_LOCK:
        _ACTIVE.setdefault(run_id, []).append(control)
    paused = _pause_profiler(dask_worker)
    try:
        check_loopback_target(part.plan, allow_remote_target)  # resolved here, on the worker
        summary = _run(part, control, offset_ns, lambda sample: send("interval", index, pickle.dumps(sample)),
                       lambda: send("ready", index))
        if summary is None:  # stopped before the start: it measured nothing
            from hftperf.loadgen.worker_summary import WorkerSummary

            summary = WorkerSummary(in_flight=0, not_sent=0, warmup_requests=0, measured_s=0.0, interrupted=True)
        send("done", index, pickle.dumps(summary))
    except BaseException as exc:  # reported to the coordinator, which raises a clean one-line error
        send("error", index, f"{type(exc).__name__}: {exc}")
    finally:
        for callback in paused:
            dask_worker.loop.add_callback(callback.start)
        with _ACTIVE_LOCK:
            remaining = [c for c in _ACTIVE.get(run_id, ()) if c is not control]
            if remaining:
                _ACTIVE[run_id] = remaining
            else:
                _ACTIVE.pop(run_id, None)


def _pause_profiler(dask_worker: Any) -> list[Any]:
    """Stop the worker's statistical profiler for the task's lifetime; return what to restart.

    Every 10 ms it takes the GIL on the worker's event loop to walk the stack of each running
    task: for the load task's hot loop that is a stall of the pacer every 10 ms.
    """
    callbacks = [dask_worker.periodic_callbacks.get(name) for name in ("profile", "profile-cycle")]
    running = [callback for callback in callbacks if callback is not None and callback.is_running()]
    for callback in running:
        dask_worker.loop.add_callback(callback.stop)  # periodic callbacks belong to the loop's thread
    return running


class _Stopped(Exception):
    """The coordinator stopped the run before it started."""


def _run(part: WorkerPlan, control: _Control, offset_ns: int, sink: Any, announce: Any) -> Any:
    from hftperf.loadgen.runner import run_worker

    def on_ready() -> int:
        announce()
        if not control.go.wait(_GO_TIMEOUT_S) or control.stop_requested:
            raise _Stopped
        # The start instant is the coordinator's wall clock; this clock runs offset_ns ahead of it.
        wait_ns = control.start_wall_ns + offset_ns - time.time_ns()
        return time.perf_counter_ns() + wait_ns

    def on_loop(loop: Any, worker: Any) -> None:
        with control.lock:
            control.loop, control.worker = loop, worker
            if control.stop_requested:
                worker.request_stop()

    try:
        return run_worker(part, sink, on_ready, on_loop)
    except _Stopped:
        return None
