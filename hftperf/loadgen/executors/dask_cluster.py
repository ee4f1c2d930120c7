"""Load workers as tasks on a Dask distributed cluster (imported only with ``--cluster``).

``tcp://HOST:8786`` connects to a running scheduler; ``local:N`` starts a ``LocalCluster`` of N
worker processes on this machine. One load task runs on each Dask worker (pinned there, never
retried elsewhere: a rerun would send its share twice). Before each run the coordinator checks
that every worker runs this hftperf version and measures each worker's clock offset by a ping
exchange (``Client.run`` of the worker's ``time.time_ns``, the sample with the shortest round trip).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from hftperf.errors import InfrastructureError, TargetUnreachable
from hftperf.loadgen.executors import dask_task
from hftperf.loadgen.executors.base import ExecutorRun
from hftperf.loadgen.executors.dask_coordinator import Coordinator
from hftperf.loadgen.executors.safety import check_loopback_target, plan_host_port
from hftperf.loadgen.plan import LoadPlan, WorkerPlan
from hftperf.loadgen.result import Aggregator

__all__ = ["DaskExecutor", "connect"]

CONNECT_TIMEOUT_S = 5.0  # an address that does not answer fails well within 10 s
_PINGS = 5


@contextlib.contextmanager
def connect(spec: str, allow_remote_target: bool = False) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the cluster ``spec`` (``local:N`` or a scheduler address), closed after."""
    import dask.config
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S:g}s"}):
        cluster = None
        try:
            if spec.startswith("local:"):
                cluster = LocalCluster(n_workers=int(spec.split(":", 1)[1]), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
                client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
            else:
                client = Client(spec, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:  # whatever answers there (or nothing), it is not a usable scheduler
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
            if isinstance(exc, (OSError, TimeoutError)) and "Timed out" in str(exc):
                reason = f"no scheduler answered within {CONNECT_TIMEOUT_S:g}s"
            else:
                reason = f"not a Dask scheduler ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]})"
            raise InfrastructureError(f"cluster {spec}: {reason}") from None
        try:
            yield DaskExecutor(client, spec, allow_remote_target)
        finally:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=10)


class DaskExecutor:
    """Runs each part of a plan as a task on its own Dask worker."""

    def __init__(self, client: Any, name: str, allow_remote_target: bool = False) -> None:
        self.client = client
        self.name = name
        self.allow_remote_target = allow_remote_target
        self._addresses: list[str] = []

    def worker_addresses(self) -> list[str]:
        """The cluster's workers now, in a stable order."""
        return sorted(self.client.nthreads())

    def fit(self, plan: LoadPlan) -> LoadPlan:
        """One load worker per Dask worker, at most one per connection."""
        check_loopback_target(plan, self.allow_remote_target)
        self._addresses = self.worker_addresses()
        if not self._addresses:
            raise InfrastructureError(f"cluster {self.name}: no workers are connected to the scheduler")
        return replace(plan, workers=min(len(self._addresses), plan.connections))

    def describe(self) -> tuple[dict[str, Any], ...]:
        """Every worker's environment and clock offset now (for result.json's environment)."""
        return self._describe(self.worker_addresses())

    def _describe(self, addresses: list[str]) -> tuple[dict[str, Any], ...]:
        """Each worker's environment and clock offset; raise when hftperf versions differ."""
        from hftperf import __version__

        facts = self.client.run(dask_task.worker_facts, workers=addresses)
        other = {address: f["hftperf_version"] for address, f in facts.items() if f["hftperf_version"] != __version__}
        if other:
            listed = ", ".join(f"{address} has {version}" for address, version in sorted(other.items()))
            raise InfrastructureError(f"cluster {self.name}: load workers run another hftperf version ({listed}; "
                                      f"this is {__version__}): install the same version everywhere")
        offsets = self._clock_offsets(addresses)
        return tuple({"name": address, **facts[address], "clock_offset_us": offsets[address][0],
                      "clock_offset_uncertainty_us": offsets[address][1]} for address in addresses)

    def _clock_offsets(self, addresses: list[str]) -> dict[str, tuple[float, float]]:
        """Worker clock minus coordinator clock (µs) and its uncertainty (half the round trip)."""
        best: dict[str, tuple[float, float]] = {}
        for _ in range(_PINGS):
            sent_ns = time.time_ns()
            clocks = self.client.run(dask_task.clock_ns, workers=addresses)
            back_ns = time.time_ns()
            half_rtt_us = (back_ns - sent_ns) / 2e3
            for address, worker_ns in clocks.items():
                offset_us = (worker_ns - (sent_ns + back_ns) / 2) / 1e3
                if address not in best or half_rtt_us < best[address][1]:
                    best[address] = (round(offset_us, 1), round(half_rtt_us, 1))
        return best

    def _preflight(self, plan: LoadPlan, addresses: list[str]) -> None:
        host, port = plan_host_port(plan)
        reasons = self.client.run(dask_task.reach_target, host, port, min(plan.timeout_s, 5.0), workers=addresses)
        failed = {address: reason for address, reason in reasons.items() if reason}
        if failed:
            address, reason = sorted(failed.items())[0]
            raise TargetUnreachable(f"from load worker {address}: {reason}")

    def run(self, parts: list[WorkerPlan], aggregator: Aggregator, deadline_s: float) -> ExecutorRun:
        """Submit one task per part, start them together, merge what they stream back."""
        plan = parts[0].plan
        addresses = self._addresses[: len(parts)] if len(self._addresses) >= len(parts) else []
        current = set(self.worker_addresses())
        if not addresses or not set(addresses) <= current:
            raise InfrastructureError(f"cluster {self.name}: its workers changed before the run; run again")
        described = self._describe(addresses)
        self._preflight(plan, addresses)
        offsets_ns = [int(d["clock_offset_us"] * 1000) for d in described]
        run_id = uuid.uuid4().hex[:12]
        coordinator = Coordinator(self.client, run_id, addresses, plan, aggregator, deadline_s)
        with coordinator.subscribed():
            futures = [
                self.client.submit(dask_task.run_task, part, run_id, offsets_ns[k], self.allow_remote_target,
                                   key=f"hftperf-load-{run_id}-{k}", workers=[addresses[k]],
                                   allow_other_workers=False, retries=0, pure=False)
                for k, part in enumerate(parts)
            ]
            try:
                summaries, lost = coordinator.run(futures)
            finally:
                self.client.cancel(futures)
        workers = tuple({**d, **coordinator.feed.delivered[k].table_row(),
                         "lost": any(x.worker_index == k for x in lost)} for k, d in enumerate(described))
        return ExecutorRun(summaries, lost, workers)
