"""Run one worker on a fresh event loop (uvloop when available), in this process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import threading
from collections.abc import Callable, Iterator

from hftperf.loadgen.plan import WorkerPlan
from hftperf.loadgen.transports import make_transport
from hftperf.loadgen.worker import Worker
from hftperf.loadgen.worker_summary import IntervalSink, WorkerSummary

__all__ = ["make_transport", "new_event_loop", "run_worker"]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop when uvloop is installed, else the default asyncio loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@contextlib.contextmanager
def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM stop the run gracefully (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        loop.add_signal_handler(signum, stop)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
            # remove_signal_handler leaves SIG_DFL: put back what the caller had (``hftperf run``
            # maps SIGTERM to KeyboardInterrupt, so a later SIGTERM still keeps the results).
            signal.signal(signum, previous[signum])


def run_worker(
    part: WorkerPlan,
    sink: IntervalSink,
    on_ready: Callable[[], int | None] | None = None,
    on_loop: Callable[[asyncio.AbstractEventLoop, Worker], None] | None = None,
) -> WorkerSummary:
    """Connect, wait for the common start (``on_ready`` may return it), run, and summarise."""
    loop = new_event_loop()
    try:
        worker = Worker(part, make_transport(part), sink)

        async def main() -> WorkerSummary:
            await worker.prepare()
            start_ns = on_ready() if on_ready is not None else None
            if start_ns is not None:
                worker.part = part.starting_at(start_ns)
            if on_loop is not None:
                on_loop(loop, worker)
            try:
                return await worker.run()
            finally:
                await worker.transport.close()

        # Long-lived objects (modules, numpy, histograms) leave the collector's sight: a full GC
        # pass over them mid-run is a multi-millisecond stall of the pacer (schedule lag).
        gc.collect()
        gc.freeze()
        try:
            with _stop_on_signals(loop, worker.request_stop):
                return loop.run_until_complete(main())
        finally:
            gc.unfreeze()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
