"""The typed run configuration: TOML file, environment and CLI overrides, validated with key paths.

Precedence, written once in ``load_config``: defaults < TOML file < environment (``HFTPERF_*``)
< CLI overrides. Every message names where a value came from and what was expected, e.g.
``configs/x.toml: scenario[2].rate: expected a rate such as '1000/s' or '60000/m', got 'fast'``
(array indices count from 0, as in TOML and JSON paths).

TOML keys name the quantity, Python fields carry the unit: ``rate = "1000/s"`` fills
``rate_per_s: float = param(key="rate", unit="rate_per_s")``. ``load_params`` builds any frozen
dataclass declared this way, which is how scenarios validate their own keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from hftperf.errors import ConfigError, UsageError
from hftperf.params import (
    UNITS,
    apply_value,
    describe_value,
    fields_by_key,
    load_params,
    param,
    unknown_key_error,
)
from hftperf.redact import redact_url
from hftperf.thresholds import Threshold, parse_threshold

__all__ = [
    "ENV_VARS",
    "UNITS",
    "GrpcChannelOptions",
    "RequestConfig",
    "RunConfig",
    "ScenarioConfig",
    "StackOptions",
    "load_config",
    "load_params",
    "param",
    "read_toml",
]

T = TypeVar("T")

ENV_VARS = {  # environment variable -> [run] key
    "HFTPERF_TARGET": "target",
    "HFTPERF_GRPC_TARGET": "grpc_target",
    "HFTPERF_STACK": "stack",
    "HFTPERF_DURATION_SCALE": "duration_scale",
    "HFTPERF_OUT": "out",
    "HFTPERF_DOCKER_BASE_IMAGE": "stack.base_image",  # dotted: a key of another section
}
_TOP_LEVEL = ("run", "stack", "grpc", "scenario", "compare")  # [compare]: hftperf.compare.options
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# -- checks used by the sections ------------------------------------------------------------


def _check_http_url(url: str) -> None:
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme != "http" or not parts.hostname or not port_ok:
        raise ValueError(f"expected an http:// URL such as 'http://127.0.0.1:8080', got {redact_url(url)!r}")


def _check_grpc_target(target: str) -> None:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in target:
        raise ValueError(f"expected HOST:PORT such as '127.0.0.1:50051', got {target!r}")


def _check_db(db: str) -> None:
    if db not in ("sqlite", "postgres") and not db.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"expected 'sqlite', 'postgres' (docker stack) or a postgresql:// DSN, got {db!r}")


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"expected letters, digits, '.', '_' or '-' (it names files), got {name!r}")


def _check_positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"expected a positive number, got {value!r}")


# -- the sections ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StackOptions:
    """``[stack]``: how the bundled reference stack is started (when ``stack`` is not 'none')."""

    gateway_port: int = param(default=8080, min=1, max=65535)
    engine_port: int = param(default=50051, min=1, max=65535)
    workers: int = param(default=1, min=1)  # gateway worker processes
    db: str = param(default="sqlite", check=_check_db)  # 'sqlite', a postgresql:// DSN, 'postgres' (docker)
    data_dir: Path | None = None  # None: the stack's own state directory
    network: Literal["host", "bridge"] = "host"  # docker stack: host network, or bridge on 127.0.0.1
    base_image: str = "python:3.11-slim"  # docker stack: the stack image is built on this image

    @property
    def db_dsn(self) -> str | None:
        """The PostgreSQL DSN, or None for SQLite."""
        return None if self.db == "sqlite" else self.db


@dataclasses.dataclass(frozen=True)
class GrpcChannelOptions:
    """``[grpc]``: channel options for gRPC scenarios (0 s disables a timer)."""

    keepalive_time_s: float = param(key="keepalive_time", unit="duration_s", default=30.0)
    keepalive_timeout_s: float = param(key="keepalive_timeout", unit="duration_s", default=10.0)
    max_connection_idle_s: float = param(key="max_connection_idle", unit="duration_s", default=0.0)
    max_connection_age_s: float = param(key="max_connection_age", unit="duration_s", default=0.0)
    permit_without_calls: bool = False

    def channel_options(self) -> tuple[tuple[str, int], ...]:
        """Client channel arguments for ``grpc.aio.insecure_channel(target, options=...)``."""
        options = [("grpc.keepalive_permit_without_calls", int(self.permit_without_calls)),
                   ("grpc.http2.max_pings_without_data", 0)]
        if self.keepalive_time_s > 0:
            options += [("grpc.keepalive_time_ms", round(self.keepalive_time_s * 1000)),
                        ("grpc.keepalive_timeout_ms", round(self.keepalive_timeout_s * 1000))]
        if self.max_connection_idle_s > 0:
            options.append(("grpc.client_idle_timeout_ms", round(self.max_connection_idle_s * 1000)))
        return tuple(options)

    def server_options(self) -> tuple[tuple[str, int], ...]:
        """Matching server arguments: idle/age limits, and accepting our keepalive pings."""
        options = [("grpc.keepalive_permit_without_calls", int(self.permit_without_calls))]
        if self.keepalive_time_s > 0:  # a server answers pings more frequent than this with GOAWAY
            options.append(("grpc.http2.min_ping_interval_without_data_ms", round(self.keepalive_time_s * 1000)))
        if self.max_connection_idle_s > 0:
            options.append(("grpc.max_connection_idle_ms", round(self.max_connection_idle_s * 1000)))
        if self.max_connection_age_s > 0:
            options.append(("grpc.max_connection_age_ms", round(self.max_connection_age_s * 1000)))
        return tuple(options)


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

    def header_pairs(self) -> tuple[tuple[str, str], ...]:
        """Headers as (name, value) pairs, as ``RequestSpec`` takes them."""
        return tuple(self.headers.items())


@dataclasses.dataclass(frozen=True)
class _RunSection:
    """``[run]``: what to benchmark and where results go."""

    label: str = param(default="default", check=_check_name)
    stack: Literal["local", "none", "docker"] = "local"
    target: str | None = param(default=None, check=_check_http_url)
    grpc_target: str | None = param(default=None, check=_check_grpc_target)
    out_dir: Path | None = dataclasses.field(default=None, metadata={"key": "out"})
    duration_scale: float = param(default=1.0, check=_check_positive)
    repeat: int = param(default=1, min=1)
    deadline_s: float | None = param(key="deadline", unit="duration_s", default=None, check=_check_positive)
    redact_headers: tuple[str, ...] = ()  # more header names whose values never appear in output


@dataclasses.dataclass(frozen=True)
class _ScenarioCommon:
    """The keys every ``[[scenario]]`` has; all others go to ``ScenarioConfig.params``."""

    name: str = param(check=_check_name)
    kind: str | None = None
    warmup_s: float = param(key="warmup", unit="duration_s", default=1.0, scaled=True)
    duration_s: float = param(key="duration", unit="duration_s", default=10.0, scaled=True,
                              check=_check_positive)
    seed: int = 1
    thresholds: tuple[str, ...] = ()


_COMMON_KEYS = frozenset(fields_by_key(_ScenarioCommon))


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
                           duration_scale=self.duration_scale)

    def with_duration_scale(self, scale: float) -> ScenarioConfig:
        """The same scenario with durations at ``scale`` instead of the current scale."""
        factor = scale / self.duration_scale
        return dataclasses.replace(self, warmup_s=self.warmup_s * factor, duration_s=self.duration_s * factor,
                                   duration_scale=scale)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything ``hftperf run`` needs, after precedence and validation."""

    label: str = "default"
    stack: Literal["local", "none", "docker"] = "local"
    target: str | None = None  # http:// base URL of the service under test
    grpc_target: str | None = None  # host:port of the engine for gRPC scenarios
    out_dir: Path | None = None  # None: results/<UTC timestamp>-<label>, see resolved_out_dir
    duration_scale: float = 1.0
    repeat: int = 1
    deadline_s: float | None = None  # None: derived from the scenarios' planned time (hftperf.deadline)
    redact_headers: tuple[str, ...] = ()
    stack_options: StackOptions = StackOptions()
    grpc: GrpcChannelOptions = GrpcChannelOptions()
    scenarios: tuple[ScenarioConfig, ...] = ()
    source_path: Path | None = None
    source_sha256: str | None = None

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
        _check_positive(scale)
        return dataclasses.replace(self, duration_scale=scale,
                                   scenarios=tuple(s.with_duration_scale(scale) for s in self.scenarios))

    def resolved_out_dir(self, started_at: datetime) -> Path:
        """``out_dir``, or ``results/<UTC timestamp>-<label>`` for a run started at ``started_at``."""
        if self.out_dir is not None:
            return self.out_dir
        stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Path("results") / f"{stamp}-{self.label}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings, thresholds as their text) for result files."""
        data: dict[str, Any] = _jsonable(dataclasses.asdict(dataclasses.replace(self, scenarios=())))
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


# -- loading --------------------------------------------------------------------------------


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed document and the SHA-256 of the file's bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: expected UTF-8 text, got an invalid byte at offset {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return document, hashlib.sha256(data).hexdigest()


def _parse_scenario(table: Any, where: str, scale: float) -> ScenarioConfig:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table, got {describe_value(table)}")
    common = load_params(_ScenarioCommon, {k: v for k, v in table.items() if k in _COMMON_KEYS}, where,
                         duration_scale=scale)
    thresholds = []
    for index, text in enumerate(common.thresholds):
        try:
            thresholds.append(parse_threshold(text))
        except ValueError as exc:
            raise ConfigError(f"{where}.thresholds[{index}]: {exc}") from None
    return ScenarioConfig(
        name=common.name, kind=common.kind or common.name, warmup_s=common.warmup_s,
        duration_s=common.duration_s, seed=common.seed, thresholds=tuple(thresholds),
        params={k: v for k, v in table.items() if k not in _COMMON_KEYS}, where=where, duration_scale=scale,
    )


def _parse_scenarios(raw: Any, file: str, scale: float,
                     known_kinds: Collection[str] | Mapping[str, type | None] | None) -> tuple[ScenarioConfig, ...]:
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
        if params_type is not None:
            scenario.parse_params(params_type)  # fail now, before any stack starts
        scenarios.append(scenario)
    return tuple(scenarios)


def _override_where(key: str) -> str:
    return f"--{key.replace('_', '-')}" if "." not in key else f"override {key}"


def _resolve_stack(run: _RunSection, layer: Mapping[str, int], where: Mapping[str, str]) -> _RunSection:
    """A target set at a higher precedence than ``stack`` means 'use that service, start nothing'."""
    target_keys = [key for key in ("target", "grpc_target") if getattr(run, key) is not None]
    if not target_keys:
        if run.stack == "none":
            raise ConfigError(f"{where['stack']}: stack 'none' starts nothing, so a target is needed "
                              "(run.target / HFTPERF_TARGET / --target, or grpc_target)")
        return run
    if run.stack == "none":
        return run
    top = max(target_keys, key=lambda key: layer[key])
    if layer[top] > layer["stack"]:
        return dataclasses.replace(run, stack="none")
    raise ConfigError(f"{where['stack']}: stack {run.stack!r} starts its own service, but a target is "
                      f"also set ({where[top]}); use stack 'none' to benchmark an existing service")


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None,
                known_kinds: Collection[str] | Mapping[str, type | None] | None = None) -> RunConfig:
    """Load a run configuration: defaults < TOML file < environment < ``overrides``.

    ``known_kinds`` lists the scenario kinds; when it maps each kind to its params dataclass,
    every scenario's own keys are validated here too, so that bad params fail before a run.
    ``overrides`` uses [run] keys (``target``, ``out``, ``duration_scale``, ...) and dotted keys
    for the other sections (``stack.workers``, ``grpc.keepalive_time``); None values are
    skipped. ``environ`` defaults to no environment (pass ``os.environ`` from the CLI).
    Invalid files and environment raise ConfigError, invalid overrides UsageError.
    """
    document: dict[str, Any] = {}
    digest: str | None = None
    file = str(path) if path is not None else "defaults"
    if path is not None:
        document, digest = read_toml(path)
        for key in document:
            if key not in _TOP_LEVEL:
                raise unknown_key_error(f"{file}: {key}", key, _TOP_LEVEL)
    run_table = document.get("run", {})
    run = load_params(_RunSection, run_table, f"{file}: run")
    if path is not None and "label" not in run_table:
        run = dataclasses.replace(run, label=re.sub(r"[^A-Za-z0-9._-]", "-", path.stem) or "default")
    sections: dict[str, Any] = {
        "stack": load_params(StackOptions, document.get("stack", {}), f"{file}: stack"),
        "grpc": load_params(GrpcChannelOptions, document.get("grpc", {}), f"{file}: grpc"),
    }
    layer = {key: 1 if isinstance(run_table, Mapping) and key in run_table else 0
             for key in ("stack", "target", "grpc_target")}
    where = {key: f"{file}: run.{key}" if layer[key] else "the default" for key in layer}
    for variable, key in ENV_VARS.items():
        value = (environ or {}).get(variable, "")
        if value.strip() and "." in key:
            section, sub = key.split(".", 1)
            sections[section] = apply_value(sections[section], sub, value.strip(), f"environment variable {variable}")
        elif value.strip():
            run = apply_value(run, key, value.strip(), f"environment variable {variable}")
            layer[key], where[key] = 2, f"environment variable {variable}"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        try:
            if "." in key and key.split(".", 1)[0] in sections:
                section, sub = key.split(".", 1)
                sections[section] = apply_value(sections[section], sub, value, _override_where(key))
            else:
                run = apply_value(run, key, value, _override_where(key))
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if key in layer:
            layer[key], where[key] = 3, _override_where(key)
    run = _resolve_stack(run, layer, where)
    scenarios = (_parse_scenarios(document.get("scenario"), file, run.duration_scale, known_kinds)
                 if path is not None else ())
    return RunConfig(
        label=run.label, stack=run.stack, target=run.target, grpc_target=run.grpc_target,
        out_dir=run.out_dir, duration_scale=run.duration_scale, repeat=run.repeat,
        deadline_s=run.deadline_s, redact_headers=run.redact_headers,
        stack_options=sections["stack"], grpc=sections["grpc"], scenarios=scenarios,
        source_path=path, source_sha256=digest,
    )
