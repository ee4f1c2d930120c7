"""Local processes: one worker in this process, several in spawned processes (``loadgen.pool``)."""

from __future__ import annotations

from typing import Any

from hftperf.loadgen.executors.base import ExecutorRun
from hftperf.loadgen.plan import LoadPlan, WorkerPlan
from hftperf.loadgen.result import Aggregator

__all__ = ["LocalProcesses"]


class LocalProcesses:
    """Today's behaviour: the plan's ``workers`` as processes on this machine."""

    name = "local"

    def fit(self, plan: LoadPlan) -> LoadPlan:
        """Local processes take the plan's worker count as it is."""
        return plan

    def describe(self) -> tuple[dict[str, Any], ...]:
        """Nothing to list: the workers are this machine's processes."""
        return ()

    def run(self, parts: list[WorkerPlan], aggregator: Aggregator, deadline_s: float) -> ExecutorRun:
        """One part runs here (no process start-up); more run in a process each."""
        if len(parts) == 1:
            from hftperf.loadgen.runner import run_worker

            workers: list[Any] = []

            def sink(sample: Any) -> None:
                aggregator.add(sample)
                if aggregator.finish_requested and workers:
                    workers[0].finish_early()

            return ExecutorRun([run_worker(parts[0], sink, on_loop=lambda loop, worker: workers.append(worker))])
        from hftperf.loadgen.pool import run_pool

        return ExecutorRun(run_pool(parts, aggregator, deadline_s))
