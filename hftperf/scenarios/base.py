"""What a scenario is: a kind with typed params that turns a ScenarioConfig into an outcome.

A scenario module holds one class satisfying :class:`Scenario`; ``scenarios/__init__.py``
lists them by kind (one line each). Scenarios drive ``hftperf.loadgen`` (or measure in
process) and return a :class:`ScenarioOutcome`: plain values that
``hftperf.scenario_results.scenario_result`` turns into a ``ScenarioResult``.

A scenario also declares what the layers around it would otherwise guess from its name: the
protocols it needs from the target (``protocols``), its planned time (``planned_s``), whether it
can run in ``ab`` (``ab_refusal``) and its result shape (``shape``: which metrics compare and
which report sections it has, see ``hftperf.shapes``). Every one of them is optional: the helper
functions here give the defaults, so plug-ins written against the first protocol keep working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hftperf.config import ScenarioConfig, StageConfig
from hftperf.histogram import LatencyHistogram
from hftperf.loadgen import Executor, IntervalReport, LoadResult, Stage
from hftperf.shapes import CLOSED_LOOP, OPEN_LOOP
from hftperf.units import format_duration_us, format_rate

__all__ = [
    "DEFAULT_PROTOCOLS",
    "DEFAULT_TIMEOUT_S",
    "RunContext",
    "Scenario",
    "ScenarioOutcome",
    "ab_refusal",
    "default_planned_s",
    "plan_stages",
    "planned_s",
    "protocols",
    "request_paths",
    "scenario_shape",
    "shifted",
    "stage_figures",
    "target_phrase",
]

DEFAULT_PROTOCOLS: frozenset[str] = frozenset({"http"})  # a scenario that declares none sends HTTP
_PROTOCOL_NAMES = {"http": "HTTP", "grpc": "gRPC"}
DEFAULT_TIMEOUT_S = 10.0  # a scenario whose params have no timeout: assume this much drain


def _never_stop() -> bool:
    return False


@dataclass(frozen=True, init=False)
class RunContext:
    """Where and how a scenario runs: its targets by protocol, gRPC options, and where its intervals go.

    ``targets`` maps a protocol to its address: "http" to a base URL (``http://127.0.0.1:8080``),
    "grpc" to ``HOST:PORT``. ``target_url`` and ``grpc_target`` read it (and, as keywords of the
    constructor, still fill it, for scenario code written before the mapping).
    """

    targets: Mapping[str, str]
    grpc_channel_options: tuple[tuple[str, Any], ...]
    workers: int | None  # load-generating processes (None: loadgen's default)
    executor: Executor | None  # where load workers run (None: local processes)
    # Every interval measured (progress display and .hlog writer); capacity steps shift theirs.
    on_interval: Callable[[IntervalReport], None] | None
    # Set by the runner on Ctrl-C between steps of multi-step scenarios.
    stop_requested: Callable[[], bool]

    def __init__(self, targets: Mapping[str, str] | None = None, *,
                 grpc_channel_options: tuple[tuple[str, Any], ...] = (), workers: int | None = None,
                 executor: Executor | None = None, on_interval: Callable[[IntervalReport], None] | None = None,
                 stop_requested: Callable[[], bool] = _never_stop,
                 target_url: str | None = None, grpc_target: str | None = None) -> None:
        merged = {**(targets or {}), **({"http": target_url} if target_url else {}),
                  **({"grpc": grpc_target} if grpc_target else {})}
        for name, value in (("targets", merged), ("grpc_channel_options", grpc_channel_options),
                            ("workers", workers), ("executor", executor), ("on_interval", on_interval),
                            ("stop_requested", stop_requested)):
            object.__setattr__(self, name, value)

    @property
    def target_url(self) -> str:
        """The http base URL ("" when the run has no HTTP target)."""
        return self.targets.get("http", "")

    @property
    def grpc_target(self) -> str | None:
        """The gRPC ``HOST:PORT`` (None when the run has no gRPC target)."""
        return self.targets.get("grpc")


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
    """A registered scenario kind.

    Optional members (read through the helpers below, which give the defaults):
    ``protocols`` (frozenset of "http", "grpc"; empty: measures in process; default {"http"}),
    ``planned_s(config, params)`` (seconds, for the run's deadline; default warm-up + duration +
    one timeout), ``ab_refusal`` (why ``ab`` cannot run it; default: derived from ``protocols``),
    ``shape(params)`` (the result shape's name; default open or closed loop by ``rate_per_s``),
    ``request_paths(params)`` (paths below the target URL).
    """

    kind: str  # the registry name
    summary: str  # one line for `hftperf scenarios`

    @property
    def params_type(self) -> type:
        """The frozen dataclass of the kind-specific keys (see ``config.param``)."""

    def run(self, config: ScenarioConfig, params: Any, context: RunContext) -> ScenarioOutcome:
        """Run once with validated ``params`` (an instance of ``params_type``)."""


def protocols(scenario: Scenario, params: Any = None) -> frozenset[str]:
    """The protocols the scenario needs addresses for: its ``protocols_for(params)`` when it has one
    and ``params`` are given (a scenario whose target API is chosen by a key), else its
    ``protocols``; default {"http"}."""
    chosen = getattr(scenario, "protocols_for", None)
    if params is not None and callable(chosen):
        return frozenset(chosen(params))
    declared = getattr(scenario, "protocols", None)
    return DEFAULT_PROTOCOLS if declared is None else frozenset(declared)


def default_planned_s(config: ScenarioConfig, params: Any) -> float:
    """Warm-up, measured time (the stages' total for a staged scenario) and one timeout of drain
    (``params.timeout_s`` if it has one)."""
    timeout_s = float(getattr(params, "timeout_s", DEFAULT_TIMEOUT_S))
    return config.warmup_s + config.duration_s + timeout_s


def planned_s(scenario: Scenario, config: ScenarioConfig, params: Any) -> float:
    """The time one run of the scenario is planned to take (its ``planned_s``, else the default)."""
    planned = getattr(scenario, "planned_s", None)
    return float(planned(config, params)) if callable(planned) else default_planned_s(config, params)


def target_phrase(protocol: str) -> str:
    """``an HTTP target``, ``a gRPC target``: how messages name a protocol's target."""
    name = _PROTOCOL_NAMES.get(protocol, protocol)
    return f"{'an' if name[0].lower() in 'aehiou' else 'a'} {name} target"


def ab_refusal(scenario: Scenario) -> str | None:
    """Why ``hftperf ab`` cannot run the scenario (it swaps HTTP targets A and B), or None when it can."""
    declared = getattr(scenario, "ab_refusal", None)
    if declared is not None:
        return str(declared)
    needed = protocols(scenario)
    if not needed:
        return "measures in process, not a target"
    if "http" not in needed:
        return f"needs {' or '.join(target_phrase(p) for p in sorted(needed))}; ab compares HTTP targets"
    return None


def scenario_shape(scenario: Scenario, params: Any) -> str:
    """The name of the result shape a run gives (its ``shape(params)``; default by ``params.rate_per_s``)."""
    shape = getattr(scenario, "shape", None)
    if callable(shape):
        return str(shape(params))
    if isinstance(shape, str):
        return shape
    return OPEN_LOOP if getattr(params, "rate_per_s", None) is not None else CLOSED_LOOP


def request_paths(scenario: Scenario, params: Any) -> tuple[str, ...]:
    """The paths a scenario requests below the target URL (its optional ``request_paths(params)``)."""
    paths = getattr(scenario, "request_paths", None)
    return tuple(paths(params)) if callable(paths) else ()


def shifted(report: IntervalReport, offset_s: float) -> IntervalReport:
    """The same interval report, its start moved by ``offset_s`` (for multi-step scenarios)."""
    record = dataclasses.replace(report.record, start_s=report.record.start_s + offset_s)
    return dataclasses.replace(report, record=record)


def plan_stages(stages: tuple[StageConfig, ...]) -> tuple[Stage, ...]:
    """A scenario's validated ``stages`` as the load generator's schedule stages."""
    return tuple(Stage(stage.rate_per_s, stage.duration_s, stage.ramp) for stage in stages)


def stage_figures(result: LoadResult) -> dict[str, Any]:
    """A stepped run's per-stage figures (``stages``) and one workload line per stage: asked against sent."""
    if not result.stages:
        return {}
    lines = {}
    for stage in result.stages:
        asked = stage.stage
        how = f"ramp to {format_rate(asked.rate_per_s)}" if asked.ramp else format_rate(asked.rate_per_s)
        latency = stage.latency
        p99 = format_duration_us(latency.value_at_percentile(99)) if latency.total_count else "-"
        lines[f"stage {stage.index}"] = (
            f"asked {how} for {asked.duration_s:g}s ({stage.expected_requests:,.0f} due), sent {stage.sent:,} "
            f"({format_rate(stage.sent / asked.duration_s)}), ok {stage.ok:,}, failed {stage.failed:,} "
            f"(not sent {stage.not_sent:,}), p99 {p99}")
    return {"stages": [stage.to_dict() for stage in result.stages], "summary": lines}
