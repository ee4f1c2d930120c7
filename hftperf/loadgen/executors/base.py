"""The Executor protocol: where a plan's load workers run, and what it reports about them.

An executor takes the per-worker parts of a plan and an Aggregator, runs the parts at one common
start instant, feeds every interval sample it receives to the aggregator (the merge itself is the
aggregator's, the same for every executor) and returns the workers' end-of-run summaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hftperf.loadgen.plan import LoadPlan, WorkerPlan
from hftperf.loadgen.result import Aggregator
from hftperf.loadgen.worker_summary import WorkerSummary

__all__ = ["WORKER_LOST", "Executor", "ExecutorRun", "LostWorker"]

WORKER_LOST = "worker lost"  # the not_sent reason of requests a lost load worker was due to send


@dataclass(frozen=True)
class LostWorker:
    """A load worker that died or stopped answering mid-run, and the share it did not deliver."""

    name: str  # e.g. "tcp://10.0.0.7:40211 (worker 1 of 4)"
    worker_index: int
    lost_after_s: float  # seconds after the end of warm-up (negative: lost during warm-up)
    not_sent: int  # open loop: its measured requests that were due but never reported sent
    in_flight: int  # sent in the intervals it delivered, never answered in them
    not_sent_by_stage: tuple[int, ...] = ()  # stepped plans: ``not_sent`` split by stage (intended time)
    in_flight_by_stage: tuple[int, ...] = ()  # stepped plans: ``in_flight`` split by stage (intended time)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape in result figures and ``hftperf load --json``."""
        return {"name": self.name, "worker_index": self.worker_index, "lost_after_s": round(self.lost_after_s, 3),
                "not_sent": self.not_sent, "in_flight": self.in_flight,
                **({"not_sent_by_stage": list(self.not_sent_by_stage)} if self.not_sent_by_stage else {}),
                **({"in_flight_by_stage": list(self.in_flight_by_stage)} if self.in_flight_by_stage else {})}


@dataclass(frozen=True)
class ExecutorRun:
    """What an executor hands back: summaries (one per part, lost ones synthesised) and facts."""

    summaries: list[WorkerSummary]
    lost: tuple[LostWorker, ...] = ()
    workers: tuple[dict[str, Any], ...] = field(default=())  # per load worker: host, cores, version, offset


class Executor(Protocol):
    """Where load workers run: local processes or the workers of a Dask cluster."""

    name: str  # "local" or the cluster address

    def fit(self, plan: LoadPlan) -> LoadPlan:
        """The plan with the number of load workers this executor runs it on."""

    def describe(self) -> tuple[dict[str, Any], ...]:
        """Each load worker's environment (host, cores, versions, clock offset); empty for local."""

    def run(self, parts: list[WorkerPlan], aggregator: Aggregator, deadline_s: float) -> ExecutorRun:
        """Run every part from one common start; feed their intervals to ``aggregator``."""
