"""The ``[run]`` section and ``RunConfig``, the one typed value a run is configured by.

``RunSection`` is the ``[run]`` table as ``load_params`` fills it (TOML keys, units, checks);
``RunConfig`` is what ``load_config`` returns once precedence is applied: the ``[run]`` values,
the side sections and the scenarios, with selection, rescaling and the JSON form for result files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hftperf.config.checks import check_cluster, check_grpc_target, check_http_url, check_name, check_positive
from hftperf.config.scenario import ScenarioConfig
from hftperf.config.sections import GrpcChannelOptions, HistoryOptions, StackOptions
from hftperf.errors import ConfigError
from hftperf.params import param
from hftperf.redact import redact_url
from hftperf.results_dir import unique_dir

__all__ = ["RunConfig", "RunSection"]


@dataclasses.dataclass(frozen=True)
class RunSection:
    """``[run]``: what to benchmark and where results go."""

    label: str = param(default="default", check=check_name)
    stack: Literal["local", "none", "docker", "compose"] = "local"
    target: str | None = param(default=None, check=check_http_url)
    grpc_target: str | None = param(default=None, check=check_grpc_target)
    out_dir: Path | None = dataclasses.field(default=None, metadata={"key": "out"})
    duration_scale: float = param(default=1.0, check=check_positive)
    repeat: int = param(default=1, min=1)
    deadline_s: float | None = param(key="deadline", unit="duration_s", default=None, check=check_positive)
    redact_headers: tuple[str, ...] = ()  # more header names whose values never appear in output
    cluster: str | None = param(default=None, check=check_cluster)  # Dask scheduler address or local:N
    # pacer-lag p99 above max(this, 10% of the p50): the scenario's thresholds are INCONCLUSIVE
    max_pacer_lag_us: float = param(key="max_pacer_lag", unit="duration_us", default=1_000.0, check=check_positive)
    # the machine's CPU steal in a measured interval above this: the scenario's thresholds are INCONCLUSIVE
    max_steal_share: float = param(key="max_steal", unit="percent", default=0.10)
    retry_inconclusive: int = param(default=1, min=0)  # re-run an inconclusive scenario this many times


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything ``hftperf run`` needs, after precedence and validation."""

    label: str = "default"
    stack: Literal["local", "none", "docker", "compose"] = "local"
    target: str | None = None  # http:// base URL of the service under test
    grpc_target: str | None = None  # host:port of the engine for gRPC scenarios
    out_dir: Path | None = None  # None: results/<UTC timestamp>-<label>, see resolved_out_dir
    duration_scale: float = 1.0
    repeat: int = 1
    deadline_s: float | None = None  # None: derived from the scenarios' planned time (hftperf.deadline)
    redact_headers: tuple[str, ...] = ()
    cluster: str | None = None  # load workers on this Dask cluster ("tcp://HOST:8786", "local:N"); None: local
    max_pacer_lag_us: float = 1_000.0  # floor of the pacer-lag bound (hftperf.instrument)
    max_steal_share: float = 0.10  # CPU steal of an interval above this starves the machine (hftperf.instrument)
    retry_inconclusive: int = 1
    stack_options: StackOptions = StackOptions()
    grpc: GrpcChannelOptions = GrpcChannelOptions()
    history: HistoryOptions = HistoryOptions()
    scenarios: tuple[ScenarioConfig, ...] = ()
    source_path: Path | None = None
    source_sha256: str | None = None
    stack_source: str = "the default"  # where ``stack`` was set (named when stack 'none' lacks a target)

    def scenario_names(self) -> list[str]:
        """Names of the scenarios, in file order."""
        return [scenario.name for scenario in self.scenarios]

    def select(self, names: Iterable[str]) -> RunConfig:
        """Only the named scenarios (file order); no names keeps all; unknown names raise ConfigError."""
        wanted = set(names)
        unknown = sorted(wanted - set(self.scenario_names()))
        if unknown:
            source = self.source_path or "the configuration"
            raise ConfigError(f"unknown scenario {unknown[0]!r} in {source}; "
                              f"known: {', '.join(self.scenario_names()) or 'none'}")
        if not wanted:
            return self
        return dataclasses.replace(self, scenarios=tuple(s for s in self.scenarios if s.name in wanted))

    def with_duration_scale(self, scale: float) -> RunConfig:
        """The same run with every scenario's durations at ``scale``."""
        check_positive(scale)
        return dataclasses.replace(self, duration_scale=scale,
                                   scenarios=tuple(s.with_duration_scale(scale) for s in self.scenarios))

    def resolved_out_dir(self, started_at: datetime) -> Path:
        """``out_dir``, or ``results/<UTC timestamp>-<label>`` for a run started at ``started_at``."""
        if self.out_dir is not None:
            return self.out_dir
        stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return unique_dir(Path("results") / f"{stamp}-{self.label}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings, thresholds as their text) for result files."""
        data: dict[str, Any] = _jsonable(dataclasses.asdict(dataclasses.replace(self, scenarios=())))
        if self.history.url:
            data["history"]["url"] = redact_url(self.history.url)
        data["scenarios"] = [
            {**_jsonable({k: v for k, v in dataclasses.asdict(s).items() if k not in ("thresholds", "where")}),
             "thresholds": [t.text for t in s.thresholds]}
            for s in self.scenarios
        ]
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)  # paths, TOML dates
