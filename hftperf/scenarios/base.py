"""What a scenario is: a kind with typed params that turns a ScenarioConfig into an outcome.

A scenario module holds one class satisfying :class:`Scenario`; ``scenarios/__init__.py``
lists them by kind (one line each). Scenarios drive ``hftperf.loadgen`` (or measure in
process, like book-scaling) and return a :class:`ScenarioOutcome`: plain values the run
module turns into a ``ScenarioResult`` with thresholds checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hftperf.config import ScenarioConfig
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import IntervalReport, LoadResult

__all__ = ["RunContext", "Scenario", "ScenarioOutcome", "shifted"]


@dataclass(frozen=True)
class RunContext:
    """Where and how a scenario runs: targets, gRPC options, and where its intervals go."""

    target_url: str  # http base URL of the gateway/service, e.g. "http://127.0.0.1:8080"
    grpc_target: str | None = None  # "host:port" of the engine for gRPC scenarios
    grpc_channel_options: tuple[tuple[str, Any], ...] = ()
    workers: int | None = None  # load-generating processes (None: loadgen's default)
    # Every interval measured (progress display and .hlog writer); capacity steps shift theirs.
    on_interval: Callable[[IntervalReport], None] | None = None
    # Set by the runner on Ctrl-C between steps of multi-step scenarios.
    stop_requested: Callable[[], bool] = field(default=lambda: False)


@dataclass(frozen=True)
class ScenarioOutcome:
    """What a scenario measured.

    Load scenarios set ``load`` (its counts, histograms and intervals become the result's);
    in-process scenarios leave it None and give ``operations`` and ``latency`` instead.
    ``figures`` holds scenario-specific values; keys named like threshold metrics
    (``capacity_rps``, ``complexity``) are checked against thresholds.
    """

    kind: str  # "closed-loop", "open-loop", "capacity", "complexity"
    load: LoadResult | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    extra_histograms: dict[str, LatencyHistogram] = field(default_factory=dict)
    operations: int = 0  # in-process scenarios: operations measured
    duration_s: float = 0.0  # in-process scenarios: measured time
    latency: LatencyHistogram | None = None  # in-process scenarios: the headline latency
    interrupted: bool = False


class Scenario(Protocol):
    """A registered scenario kind."""

    kind: str  # the registry name, e.g. "health-concurrent"
    summary: str  # one line for `hftperf scenarios`

    @property
    def params_type(self) -> type:
        """The frozen dataclass of the kind-specific keys (see ``config.param``)."""

    def run(self, config: ScenarioConfig, params: Any, context: RunContext) -> ScenarioOutcome:
        """Run once with validated ``params`` (an instance of ``params_type``)."""


def shifted(report: IntervalReport, offset_s: float) -> IntervalReport:
    """The same interval report, its start moved by ``offset_s`` (for multi-step scenarios)."""
    record = dataclasses.replace(report.record, start_s=report.record.start_s + offset_s)
    return dataclasses.replace(report, record=record)
