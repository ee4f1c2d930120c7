"""Multi-process fan-out: K worker processes, one common start time, intervals streamed back.

Each child connects, reports ready, waits for the parent's start time (perf_counter_ns is
CLOCK_MONOTONIC, shared by every process on the machine), runs, and streams its interval
samples through a pipe. The parent merges them losslessly (HDR add, summed counters).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import signal
import threading
import time
from typing import Any

from hftperf.errors import InfrastructureError
from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.worker_summary import WorkerSummary

__all__ = ["run_pool"]

_START_MARGIN_NS = 100_000_000  # time for every child to receive "go" before the start
_READY_TIMEOUT_S = 60.0


def _child_main(part: WorkerPlan, conn: multiprocessing.connection.Connection) -> None:
    """Body of one worker process (spawned): run the worker, talk to the parent over ``conn``."""
    from hftperf.loadgen.runner import run_worker

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent relays Ctrl-C as a "stop" message

    def on_ready() -> int | None:
        conn.send(("ready",))
        message = conn.recv()
        if message[0] == "stop":
            raise SystemExit(0)
        return int(message[1])

    def on_loop(loop: Any, worker: Any) -> None:
        def on_message() -> None:
            try:
                message = conn.recv()
            except EOFError:
                message = ("stop",)
            if message[0] == "stop":
                loop.remove_reader(conn.fileno())
                worker.request_stop()
            elif message[0] == "finish":  # the parent saw enough: end the schedule now
                worker.finish_early()

        loop.add_reader(conn.fileno(), on_message)

    try:
        summary = run_worker(part, lambda sample: conn.send(("interval", sample)), on_ready, on_loop)
        conn.send(("done", summary))
    except SystemExit:
        pass
    except BaseException as exc:  # report anything to the parent, which raises a clean error
        conn.send(("error", f"worker {part.worker_index}: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_pool(parts: list[WorkerPlan], aggregator: Aggregator, deadline_s: float) -> list[WorkerSummary]:
    """Run every part in its own process; return their summaries (interrupt-safe)."""
    context = multiprocessing.get_context("spawn")
    pipes = []
    processes = []
    for part in parts:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_child_main, args=(part, child_end), daemon=True,
                                  name=f"hftperf-worker-{part.worker_index}")
        process.start()
        child_end.close()
        pipes.append(parent_end)
        processes.append(process)
    try:
        return _coordinate(pipes, processes, aggregator, deadline_s)
    finally:
        for process in processes:
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join(timeout=2.0)
        for pipe in pipes:
            pipe.close()


def _coordinate(pipes: list[multiprocessing.connection.Connection], processes: list[Any], aggregator: Aggregator,
                deadline_s: float) -> list[WorkerSummary]:
    """Start all workers together, collect intervals and summaries until each is done."""
    ready = 0
    summaries: list[WorkerSummary] = []
    live = list(pipes)
    give_up_at = time.monotonic() + _READY_TIMEOUT_S
    started = False
    stop_sent = finish_sent = False
    interrupted: list[int] = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous_handlers = {signum: signal.getsignal(signum) for signum in stop_signals} if in_main_thread else {}
    for signum in previous_handlers:  # both stop the workers gracefully, as in one process
        signal.signal(signum, lambda signum, frame: interrupted.append(signum))
    try:
        while live:
            if interrupted and not stop_sent:
                for pipe in live:
                    _send_quietly(pipe, ("stop",))
                stop_sent = True
            if aggregator.finish_requested and not finish_sent and started:
                for pipe in live:
                    _send_quietly(pipe, ("finish",))
                finish_sent = True
            if time.monotonic() > give_up_at:
                raise InfrastructureError("load generator workers did not finish in time; stopped them")
            for ready_pipe in multiprocessing.connection.wait(live, timeout=0.2):
                assert isinstance(ready_pipe, multiprocessing.connection.Connection)
                pipe = ready_pipe
                try:
                    message = pipe.recv()
                except EOFError:
                    live.remove(pipe)
                    continue
                kind = message[0]
                if kind == "ready":
                    ready += 1
                    if ready == len(pipes) and not started:
                        start_ns = time.perf_counter_ns() + _START_MARGIN_NS
                        for other in pipes:
                            _send_quietly(other, ("go", start_ns))
                        started = True
                        give_up_at = time.monotonic() + deadline_s
                elif kind == "interval":
                    aggregator.add(message[1])
                elif kind == "done":
                    summaries.append(message[1])
                    live.remove(pipe)
                elif kind == "error":
                    raise InfrastructureError(message[1])
        if len(summaries) != len(pipes):
            dead = [p.name for p in processes if p.exitcode not in (0, None)]
            raise InfrastructureError(f"load generator worker process died: {', '.join(dead) or 'unknown'}")
        return summaries
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _send_quietly(pipe: Any, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.send(message)
