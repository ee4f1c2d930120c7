"""The ``[[scenario]]`` tables: the keys every scenario has, its stages, its request, and their parsing.

A scenario's own keys stay as written in ``ScenarioConfig.params`` until the scenario asks for
them with ``parse_params`` (``load_config`` does so once up front when it knows each kind's
params type, so that bad params fail before a stack starts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from hftperf.config.checks import check_name, check_positive
from hftperf.errors import ConfigError
from hftperf.loadgen.request import check_template
from hftperf.params import describe_value, fields_by_key, load_params, param
from hftperf.thresholds import Threshold, parse_threshold

__all__ = ["RequestConfig", "ScenarioConfig", "StageConfig", "parse_scenarios", "stages_param"]

T = TypeVar("T")


def _check_request_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"expected a path starting with '/', got {path!r}")


@dataclasses.dataclass(frozen=True)
class RequestConfig:
    """``[scenario.request]``: an HTTP request relative to the run's target URL."""

    method: str = "GET"
    path: str = param(default="/", check=_check_request_path)
    body: str = ""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    template: bool = False  # expand ${seq}, ${rand:LO:HI}, ${choice:a|b} per request

    def __post_init__(self) -> None:
        if self.template:
            try:
                check_template(self.body)
            except ValueError as exc:
                raise ValueError(f"body: {exc}") from None

    def header_pairs(self) -> tuple[tuple[str, str], ...]:
        """Headers as (name, value) pairs, as ``RequestSpec`` takes them."""
        return tuple(self.headers.items())


@dataclasses.dataclass(frozen=True)
class StageConfig:
    """One of a scenario's ``stages``: a rate held, or ramped to from the previous one, for a duration."""

    rate_per_s: float = param(key="rate", unit="rate_per_s", check=check_positive)
    duration_s: float = param(key="duration", unit="duration_s", scaled=True, check=check_positive)
    ramp: bool = False


def _check_stages(stages: tuple[StageConfig, ...]) -> None:
    if not stages:
        raise ValueError("expected at least one stage like {rate = \"500/s\", duration = \"10s\"}")


def stages_param() -> Any:
    """The ``stages`` key of an open-loop scenario's params (empty: the scenario's ``rate`` and ``duration``)."""
    return param(default=(), check=_check_stages)


@dataclasses.dataclass(frozen=True)
class _StagesOnly:
    stages: tuple[StageConfig, ...] = stages_param()


@dataclasses.dataclass(frozen=True)
class _ScenarioCommon:
    """The keys every ``[[scenario]]`` has; all others go to ``ScenarioConfig.params``."""

    name: str = param(check=check_name)
    kind: str | None = None
    warmup_s: float = param(key="warmup", unit="duration_s", default=1.0, scaled=True)
    duration_s: float = param(key="duration", unit="duration_s", default=10.0, scaled=True,
                              check=check_positive)
    seed: int = 1
    thresholds: tuple[str, ...] = ()


_COMMON_KEYS = tuple(fields_by_key(_ScenarioCommon))  # in declaration order, for messages


@dataclasses.dataclass(frozen=True)
class ScenarioConfig:
    """One ``[[scenario]]``: warm-up and duration already multiplied by the duration scale."""

    name: str
    kind: str
    warmup_s: float
    duration_s: float
    seed: int
    thresholds: tuple[Threshold, ...]
    params: Mapping[str, Any]  # the scenario-specific keys, as written (see parse_params)
    where: str = ""  # 'configs/x.toml: scenario[2]', the prefix for messages about params
    duration_scale: float = 1.0

    def parse_params(self, cls: type[T]) -> T:
        """Validate ``params`` into dataclass ``cls`` (``scaled`` fields get the duration scale)."""
        return load_params(cls, self.params, self.where or f"scenario {self.name}",
                           duration_scale=self.duration_scale, also_known=_COMMON_KEYS)

    def with_duration_scale(self, scale: float) -> ScenarioConfig:
        """The same scenario with durations at ``scale`` instead of the current scale."""
        factor = scale / self.duration_scale
        return dataclasses.replace(self, warmup_s=self.warmup_s * factor, duration_s=self.duration_s * factor,
                                   duration_scale=scale)


def _parse_scenario(table: Any, where: str, scale: float) -> ScenarioConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table, got {describe_value(table)}")
    common = load_params(_ScenarioCommon, {k: v for k, v in table.items() if k in _COMMON_KEYS}, where,
                         duration_scale=scale)
    duration_s = common.duration_s
    if "stages" in table:  # the stages set the rate and the measured time
        clash = [key for key in ("rate", "duration") if key in table]
        if clash:
            raise ConfigError(f"{where}.stages: not together with {' or '.join(clash)} "
                              "(the stages give the rates and durations)")
        stages = load_params(_StagesOnly, {"stages": table["stages"]}, where, duration_scale=scale).stages
        duration_s = sum(stage.duration_s for stage in stages)
    thresholds = []
    for index, text in enumerate(common.thresholds):
        try:
            thresholds.append(parse_threshold(text))
        except ValueError as exc:
            raise ConfigError(f"{where}.thresholds[{index}]: {exc}") from None
    return ScenarioConfig(
        name=common.name, kind=common.kind or common.name, warmup_s=common.warmup_s,
        duration_s=duration_s, seed=common.seed, thresholds=tuple(thresholds),
        params={k: v for k, v in table.items() if k not in _COMMON_KEYS}, where=where, duration_scale=scale,
    )


def parse_scenarios(raw: Any, file: str, scale: float,
                    known_kinds: Collection[str] | Mapping[str, type | None] | None,
                    api: Any = None) -> tuple[ScenarioConfig, ...]:
    """The file's ``scenario`` array as ``ScenarioConfig``s: names unique, kinds known, params checked.

    ``api`` (the file's ``[api]``) fills the ``api`` key of a scenario whose params have one and
    that does not set its own.
    """
    if raw is None or raw == []:
        raise ConfigError(f"{file}: no scenarios; expected at least one [[scenario]] table")
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: scenario: expected an array of tables ([[scenario]]), got {describe_value(raw)}")
    scenarios: list[ScenarioConfig] = []
    first_index: dict[str, int] = {}
    for index, table in enumerate(raw):
        where = f"{file}: scenario[{index}]"
        scenario = _parse_scenario(table, where, scale)
        if scenario.name in first_index:
            raise ConfigError(f"{where}.name: duplicate scenario name {scenario.name!r} "
                              f"(first at scenario[{first_index[scenario.name]}])")
        first_index[scenario.name] = index
        if known_kinds is not None and scenario.kind not in known_kinds:
            key, note = ("kind", "") if "kind" in table else ("name", " (kind defaults to the name)")
            raise ConfigError(f"{where}.{key}: unknown scenario kind {scenario.kind!r}{note}; "
                              f"expected one of: {', '.join(sorted(known_kinds))}")
        params_type = known_kinds.get(scenario.kind) if isinstance(known_kinds, Mapping) else None
        if (api is not None and params_type is not None and "api" in fields_by_key(params_type)
                and "api" not in scenario.params):  # the suite's [api] / api = ... for its order scenarios
            scenario = dataclasses.replace(scenario, params={**scenario.params, "api": api})
        if params_type is not None:
            scenario.parse_params(params_type)  # fail now, before any stack starts
        scenarios.append(scenario)
    return tuple(scenarios)
