"""Run configuration: shipped suites, precedence, key-path errors, and the generic load_params."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from hftperf.config import (
    GrpcChannelOptions,
    RequestConfig,
    RunConfig,
    StackOptions,
    load_config,
    load_params,
    param,
)
from hftperf.errors import ConfigError, UsageError
from hftperf.thresholds import parse_threshold

REPO = Path(__file__).resolve().parents[2]
KINDS = {"health-sequential", "health-concurrent", "order-latency", "order-throughput", "grpc-order-latency",
         "book-scaling"}
SHIPPED = [REPO / "configs" / "default.toml", REPO / "configs" / "ci.toml"]

MINIMAL = """
[[scenario]]
name = "health-sequential"
"""


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path | None, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# -- proposed scenario parameters, as scenario modules would declare them ------------------


def _check_mix(mix: Mapping[str, float]) -> None:
    if abs(sum(mix.values()) - 1.0) > 1e-9:
        raise ValueError(f"expected shares that sum to 1, got {sum(mix.values())}")


@dataclasses.dataclass(frozen=True)
class OrderMixParams:
    symbols: tuple[str, ...] = ("BTC-USD",)
    mid_price: int = param(default=10_000, min=1)
    price_band: int = param(default=50, min=0)
    max_quantity: int = param(default=10, min=1)
    mix: Mapping[str, float] = param(default_factory=lambda: {"limit": 1.0}, check=_check_mix)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0)


@dataclasses.dataclass(frozen=True)
class HealthParams:
    connections: int = param(default=1, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0)
    request: RequestConfig = dataclasses.field(default_factory=lambda: RequestConfig(path="/health"))


@dataclasses.dataclass(frozen=True)
class OrderLatencyParams(OrderMixParams):
    rate_per_s: float = param(key="rate", unit="rate_per_s", default=500.0)
    connections: int = param(default=32, min=1)


@dataclasses.dataclass(frozen=True)
class OrderThroughputParams(OrderMixParams):
    start_rate_per_s: float = param(key="start_rate", unit="rate_per_s", default=250.0)
    step_rate_per_s: float = param(key="step_rate", unit="rate_per_s", default=250.0)
    max_rate_per_s: float = param(key="max_rate", unit="rate_per_s", default=5000.0)
    step_duration_s: float = param(key="step_duration", unit="duration_s", default=5.0, scaled=True)
    slo_p99_us: float = param(key="slo_p99", unit="duration_us", default=50_000.0)
    max_error_fraction: float = param(key="max_error_rate", unit="percent", default=0.001)
    connections: int = param(default=64, min=1)
    remeasure: int = param(default=2, min=0)


@dataclasses.dataclass(frozen=True)
class GrpcOrderParams(OrderMixParams):
    rate_per_s: float = param(key="rate", unit="rate_per_s", default=500.0)
    concurrency: int = param(default=16, min=1)


@dataclasses.dataclass(frozen=True)
class BookScalingParams:
    depths: tuple[int, ...] = (10, 100, 1000)
    samples_per_depth: int = param(default=1000, min=1)
    operations: tuple[Literal["insert", "cancel", "lookup"], ...] = ("insert", "cancel", "lookup")


PARAMS: dict[str, type] = {
    "health-sequential": HealthParams, "health-concurrent": HealthParams, "order-latency": OrderLatencyParams,
    "order-throughput": OrderThroughputParams, "grpc-order-latency": GrpcOrderParams,
    "book-scaling": BookScalingParams,
}


# -- shipped configs -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_parse(path: Path) -> None:
    config = load_config(path, known_kinds=KINDS)
    assert config.source_path == path
    assert config.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert config.label == path.stem and config.stack == "local" and config.target is None
    assert {s.kind for s in config.scenarios} == KINDS
    for scenario in config.scenarios:
        assert parse_threshold("error_rate < 0.1%") in scenario.thresholds
        params: object = scenario.parse_params(PARAMS[scenario.kind])  # the proposed params all validate
        assert dataclasses.is_dataclass(params)
    by_kind = {s.kind: s for s in config.scenarios}
    assert parse_threshold("throughput_rps >= 10000/s") in by_kind["health-concurrent"].thresholds
    assert parse_threshold("capacity_rps >= 1000/s") in by_kind["order-throughput"].thresholds
    assert parse_threshold("complexity <= O(log n)") in by_kind["book-scaling"].thresholds
    assert by_kind["book-scaling"].parse_params(BookScalingParams).depths == (10, 100, 1000, 10000, 100000)
    json.dumps(config.to_dict())


def test_ci_suite_measures_well_under_a_minute() -> None:
    config = load_config(SHIPPED[1], known_kinds=KINDS)
    total_s = 0.0
    for scenario in config.scenarios:
        total_s += scenario.warmup_s + scenario.duration_s
        if scenario.kind == "order-throughput":
            p = scenario.parse_params(OrderThroughputParams)
            steps = int((p.max_rate_per_s - p.start_rate_per_s) // p.step_rate_per_s) + 1
            total_s += steps * p.step_duration_s - scenario.duration_s
    assert total_s < 45


# -- precedence: defaults < file < environment < overrides --------------------------------


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config == RunConfig()
    assert (config.stack, config.duration_scale, config.repeat, config.scenarios) == ("local", 1.0, 1, ())
    assert config.stack_options == StackOptions(gateway_port=8080, engine_port=50051, workers=1, db="sqlite")


def test_file_overrides_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nduration_scale = 0.5\nlabel = "nightly"\n[stack]\nworkers = 2\n' + MINIMAL)
    config = load_config(path)
    assert (config.duration_scale, config.label, config.stack_options.workers) == (0.5, "nightly", 2)
    assert config.scenarios[0].duration_s == pytest.approx(5.0)  # default 10 s, scaled


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nduration_scale = 0.5\nout = "from-file"\n' + MINIMAL)
    config = load_config(path, environ={"HFTPERF_DURATION_SCALE": "0.25", "HFTPERF_OUT": "from-env",
                                        "UNRELATED": "x"})
    assert config.duration_scale == 0.25 and config.out_dir == Path("from-env")
    assert config.scenarios[0].duration_s == pytest.approx(2.5)


def test_overrides_beat_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nduration_scale = 0.5\n' + MINIMAL)
    config = load_config(path, overrides={"duration_scale": 2.0, "repeat": 3, "label": None,
                                          "stack.workers": 4, "grpc.keepalive_time": "5s"},
                         environ={"HFTPERF_DURATION_SCALE": "0.25"})
    assert (config.duration_scale, config.repeat, config.label) == (2.0, 3, "x")
    assert config.stack_options.workers == 4 and config.grpc.keepalive_time_s == 5.0


def test_a_target_set_later_than_the_stack_means_stack_none(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nstack = "local"\n' + MINIMAL)
    config = load_config(path, environ={"HFTPERF_TARGET": "http://127.0.0.1:9000"})
    assert (config.stack, config.target) == ("none", "http://127.0.0.1:9000")
    assert load_config(path, overrides={"grpc_target": "localhost:50051"}).stack == "none"


def test_stack_and_target_conflict_at_the_same_level(tmp_path: Path) -> None:
    message = config_error(None, environ={"HFTPERF_TARGET": "http://h:1"}, overrides={"stack": "local"})
    assert message.startswith("--stack: stack 'local' starts its own service, but a target is also set "
                              "(environment variable HFTPERF_TARGET)")
    path = write(tmp_path, '[run]\nstack = "none"\n' + MINIMAL)
    config = load_config(path)  # no target yet: the suite asks for one only if a scenario sends to it
    assert (config.stack, config.target, config.stack_source) == ("none", None, f"{path}: run.stack")


# -- bad input: ConfigError with file, key path and expectation -----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[runn]\nlabel = "x"\n' + MINIMAL,
         "{f}: runn: unknown key (did you mean 'run'?); expected one of: run, stack, grpc, scenario"),
        ('[run]\ndurration_scale = 2\n' + MINIMAL,
         "{f}: run.durration_scale: unknown key (did you mean 'duration_scale'?)"),
        ('[run]\nrepeat = "3"\n' + MINIMAL, "{f}: run.repeat: expected an integer, got '3'"),
        ('[run]\nrepeat = 0\n' + MINIMAL, "{f}: run.repeat: expected at least 1, got 0"),
        ('[run]\nstack = "k8s"\n' + MINIMAL,
         "{f}: run.stack: expected one of 'local', 'none', 'docker', 'compose', got 'k8s'"),
        ('[run]\ntarget = "https://x"\n' + MINIMAL, "{f}: run.target: expected an http:// URL such as"),
        ('[run]\ngrpc_target = "x"\nstack = "none"\n' + MINIMAL, "{f}: run.grpc_target: expected HOST:PORT"),
        ('[run]\nduration_scale = 0\n' + MINIMAL, "{f}: run.duration_scale: expected a positive number, got 0.0"),
        ('[stack]\ndb = "mysql://x"\n' + MINIMAL, "{f}: stack.db: expected 'sqlite', 'postgres' (docker stack) or a postgresql://"),
        ('[stack]\ngateway_port = 70000\n' + MINIMAL, "{f}: stack.gateway_port: expected at most 65535, got 70000"),
        ('[grpc]\nkeepalive_time = "soon"\n' + MINIMAL,
         "{f}: grpc.keepalive_time: expected a duration such as '250us', '10ms' or '5s', got 'soon'"),
        ('[grpc]\npermit_without_calls = 1\n' + MINIMAL,
         "{f}: grpc.permit_without_calls: expected true or false, got 1"),
        ('[stack]\nworkers = [1]\n' + MINIMAL, "{f}: stack.workers: expected an integer, got [1]"),
        ('run = 3\n' + MINIMAL, "{f}: run: expected a table, got 3"),
        ('[run]\n', "{f}: no scenarios; expected at least one [[scenario]] table"),
        ('[scenario]\nname = "a"\n', "{f}: scenario: expected an array of tables ([[scenario]]), got a table"),
        ('[[scenario]]\nkind = "health-sequential"\n',
         "{f}: scenario[0].name: missing required key; expected a string"),
        ('[[scenario]]\nname = "a b"\n', "{f}: scenario[0].name: expected letters, digits"),
        (MINIMAL + '[[scenario]]\nname = "health-sequential"\n',
         "{f}: scenario[1].name: duplicate scenario name 'health-sequential' (first at scenario[0])"),
        (MINIMAL + '[[scenario]]\nname = "b"\nkind = "nope"\n',
         "{f}: scenario[1].kind: unknown scenario kind 'nope'; expected one of: book-scaling, grpc-order-latency,"),
        ('[[scenario]]\nname = "nope"\n',
         "{f}: scenario[0].name: unknown scenario kind 'nope' (kind defaults to the name); expected one of:"),
        (MINIMAL + 'duration = "fast"\n',
         "{f}: scenario[0].duration: expected a duration such as '250us', '10ms' or '5s', got 'fast'"),
        (MINIMAL + 'duration = "0s"\n', "{f}: scenario[0].duration: expected a positive number, got 0.0"),
        (MINIMAL + 'seed = 1.5\n', "{f}: scenario[0].seed: expected an integer, got 1.5"),
        (MINIMAL + 'thresholds = "p99 < 5ms"\n',
         "{f}: scenario[0].thresholds: expected a list of strings, got 'p99 < 5ms'"),
        (MINIMAL + 'thresholds = ["p50 < 1ms", "p99 < 1000/s"]\n',
         "{f}: scenario[0].thresholds[1]: p99 expects a duration with a unit such as '50ms' or '250us', got '1000/s'"),
        (MINIMAL + 'thresholds = ["p98 < 1ms"]\n', "{f}: scenario[0].thresholds[0]: unknown metric 'p98'"),
        (MINIMAL + 'thresholds = [5]\n', "{f}: scenario[0].thresholds[0]: expected a string, got 5"),
        ('[run]\nlabel = "x"\nlabel = "y"\n', "{f}: invalid TOML: Cannot overwrite a value (at line 3"),
        ('[[scenario]\nname = "x"\n', "{f}: invalid TOML:"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    message = config_error(path, known_kinds=KINDS)
    assert message.startswith(expected.format(f=path)), message


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nlabel = "ok"\nrepeat = = 2\n')
    assert "line 3" in config_error(path)


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert config_error(missing) == f"{missing}: cannot read the configuration: No such file or directory"
    assert config_error(tmp_path).startswith(f"{tmp_path}: cannot read the configuration:")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[run]\nlabel = "\xff"\n')
    assert config_error(binary) == f"{binary}: expected UTF-8 text, got an invalid byte at offset 15"


def test_bad_environment_names_the_variable() -> None:
    message = config_error(None, environ={"HFTPERF_DURATION_SCALE": "fast"})
    assert message == "environment variable HFTPERF_DURATION_SCALE: expected a number, got 'fast'"
    message = config_error(None, environ={"HFTPERF_STACK": "cloud"})
    assert message.startswith("environment variable HFTPERF_STACK: expected one of 'local', 'none', 'docker'")
    assert load_config(None, environ={"HFTPERF_TARGET": "  "}).target is None  # blank = unset


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"duration_scale": "x"}, "--duration-scale: expected a number, got 'x'"),
        ({"target": "ftp://h"}, "--target: expected an http:// URL such as 'http://127.0.0.1:8080', got 'ftp://h'"),
        ({"repeat": 0}, "--repeat: expected at least 1, got 0"),
        ({"stack.workers": "two"}, "override stack.workers: expected an integer, got 'two'"),
        ({"flavour": "red"}, "--flavour: unknown key; expected one of: label, stack, target"),
        ({"out_dir": "x"}, "--out-dir: unknown key (did you mean 'out'?)"),
    ],
)
def test_bad_overrides_are_usage_errors(overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(UsageError) as info:
        load_config(None, overrides=overrides)
    assert str(info.value).startswith(expected), str(info.value)


def test_scenario_params_errors_name_the_scenario_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[[scenario]]\nname = "o"\nkind = "order-latency"\nrate = "fast"\n'
                 '[scenario.mix]\nlimit = 1.0\n')
    scenario = load_config(path, known_kinds=KINDS).scenarios[1]
    with pytest.raises(ConfigError) as info:
        scenario.parse_params(OrderLatencyParams)
    assert str(info.value) == f"{path}: scenario[1].rate: expected a rate such as '1000/s' or '60000/m', got 'fast'"
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(scenario, params={"mix": {"limit": 0.5}}).parse_params(OrderLatencyParams)
    assert str(info.value) == f"{path}: scenario[1].mix: expected shares that sum to 1, got 0.5"


def test_params_are_validated_at_load_when_kinds_map_to_params_types(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[[scenario]]\nname = "order-latency"\nconections = 3\n')
    assert load_config(path, known_kinds=KINDS).scenarios[1].params == {"conections": 3}
    message = config_error(path, known_kinds=PARAMS)
    assert message.startswith(f"{path}: scenario[1].conections: unknown key (did you mean 'connections'?)")


# -- load_params ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Inner:
    size_bytes: int = param(key="size", unit="size_bytes", default=0)


@dataclasses.dataclass(frozen=True)
class Sample:
    rate_per_s: float = param(key="rate", unit="rate_per_s")
    connections: int = param(default=1, min=1)
    step_s: float = param(key="step", unit="duration_s", default=1.0, scaled=True)
    slo_us: float = param(key="slo", unit="duration_us", default=50_000.0)
    errors_fraction: float = param(key="errors", unit="percent", default=0.0)
    mode: Literal["open", "closed"] = "open"
    depths: tuple[int, ...] = ()
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    inner: Inner = Inner()
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.mode == "closed" and self.rate_per_s > 1:
            raise ValueError("a closed loop takes no rate")


def test_load_params_converts_units_and_nests() -> None:
    sample = load_params(Sample, {"rate": "60000/m", "step": "500ms", "slo": "2ms", "errors": "0.5%",
                                  "depths": [1, 10], "headers": {"x-a": "1"}, "inner": {"size": "1KiB"},
                                  "path": "out/x"}, "f.toml: scenario[0]", duration_scale=0.1)
    assert sample.step_s == pytest.approx(0.05)
    assert sample == Sample(rate_per_s=1000.0, step_s=sample.step_s, slo_us=2000.0, errors_fraction=0.005,
                            depths=(1, 10), headers={"x-a": "1"}, inner=Inner(1024), path=Path("out/x"))


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({}, "f.toml: s.rate: missing required key; expected a rate such as '1000/s'"),
        ({"rate": "fast"}, "f.toml: s.rate: expected a rate such as '1000/s' or '60000/m', got 'fast'"),
        ({"rate": [1]}, "f.toml: s.rate: expected a rate such as '1000/s', got [1]"),
        ({"rate": 1, "rate_per_s": 1},
         "f.toml: s.rate_per_s: unknown key (did you mean 'rate'?); expected one of: rate, connections,"),
        ({"rate": 1, "connections": 0}, "f.toml: s.connections: expected at least 1, got 0"),
        ({"rate": 1, "connections": True}, "f.toml: s.connections: expected an integer, got True"),
        ({"rate": 1, "mode": "half"}, "f.toml: s.mode: expected one of 'open', 'closed', got 'half'"),
        ({"rate": 1, "depths": [1, "x"]}, "f.toml: s.depths[1]: expected an integer, got 'x'"),
        ({"rate": 1, "headers": {"a": 1}}, "f.toml: s.headers.a: expected a string, got an integer ([redacted])"),
        ({"rate": 1, "inner": {"size": 1.5}},
         "f.toml: s.inner.size: expected a size such as '64KiB' or '10MB', got 1.5"),
        ({"rate": 1, "inner": {"sise": 1}}, "f.toml: s.inner.sise: unknown key (did you mean 'size'?)"),
        ({"rate": 1, "inner": 3}, "f.toml: s.inner: expected a table, got 3"),
        ({"rate": 1, "errors": "5"}, "f.toml: s.errors: expected a percentage such as '0.1%', got '5'"),
        ({"rate": 5, "mode": "closed"}, "f.toml: s: a closed loop takes no rate"),
    ],
)
def test_load_params_errors(mapping: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_params(Sample, mapping, "f.toml: s")
    assert str(info.value).startswith(expected), str(info.value)


def test_load_params_rejects_non_dataclasses_and_unknown_units() -> None:
    with pytest.raises(TypeError):
        load_params(dict, {}, "x")
    with pytest.raises(ValueError, match="unknown unit 'parsecs'"):
        param(unit="parsecs")


# -- helpers ----------------------------------------------------------------------------------


def test_select_and_duration_scale() -> None:
    config = load_config(SHIPPED[0])
    chosen = config.select(["order-latency", "health-sequential"])
    assert chosen.scenario_names() == ["health-sequential", "order-latency"]  # file order
    assert config.select([]) is config
    with pytest.raises(ConfigError, match=r"unknown scenario 'nope' in .*default.toml; known: health-sequential, "):
        config.select(["nope"])
    half = config.with_duration_scale(0.5)
    assert half.scenarios[0].duration_s == pytest.approx(config.scenarios[0].duration_s / 2)
    assert half.with_duration_scale(1.0).scenarios[0].duration_s == pytest.approx(config.scenarios[0].duration_s)
    step = half.select(["order-throughput"]).scenarios[0].parse_params(OrderThroughputParams).step_duration_s
    assert step == pytest.approx(2.5)


def test_resolved_out_dir() -> None:
    started = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)
    assert RunConfig(label="ci").resolved_out_dir(started) == Path("results/20240501T123005Z-ci")
    assert RunConfig(out_dir=Path("x")).resolved_out_dir(started) == Path("x")


def test_grpc_channel_options() -> None:
    options = dict(GrpcChannelOptions(keepalive_time_s=20, keepalive_timeout_s=5, max_connection_idle_s=60,
                                      permit_without_calls=True).channel_options())
    assert options["grpc.keepalive_time_ms"] == 20_000 and options["grpc.keepalive_timeout_ms"] == 5_000
    assert options["grpc.client_idle_timeout_ms"] == 60_000 and options["grpc.keepalive_permit_without_calls"] == 1
    assert "grpc.keepalive_time_ms" not in dict(GrpcChannelOptions(keepalive_time_s=0).channel_options())
    with pytest.raises(ConfigError, match=r"grpc\.max_connection_age: unknown key"):  # server-side: not pretended
        load_params(GrpcChannelOptions, {"max_connection_age": "5m"}, "f.toml: grpc")


def test_stack_options_db_dsn() -> None:
    assert StackOptions().db_dsn is None
    assert StackOptions(db="postgresql://u@h/db").db_dsn == "postgresql://u@h/db"


def test_docker_stack_options_and_base_image_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nstack = "docker"\n[stack]\nnetwork = "bridge"\ndb = "postgres"\n'
                 'base_image = "from-toml:1"\n' + MINIMAL)
    config = load_config(path)
    assert config.stack == "docker" and config.stack_options.network == "bridge"
    assert config.stack_options.db == "postgres" and config.stack_options.base_image == "from-toml:1"
    from_env = load_config(path, environ={"HFTPERF_DOCKER_BASE_IMAGE": "hftperf-base:bookworm"})
    assert from_env.stack_options.base_image == "hftperf-base:bookworm"  # environment beats the file
    assert load_config(None).stack_options == StackOptions()  # host network, python:3.11-slim
    assert StackOptions().network == "host" and StackOptions().base_image == "python:3.11-slim"


def test_unknown_network_mode_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[stack]\nnetwork = "overlay"\n' + MINIMAL)
    with pytest.raises(ConfigError, match=r"x\.toml: stack\.network: .*'host'.*'bridge'"):
        load_config(path)


def test_cluster_from_file_environment_and_flag_in_that_order(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\ncluster = "tcp://10.0.0.5:8786"\n' + MINIMAL)
    assert load_config(path).cluster == "tcp://10.0.0.5:8786"
    assert load_config(path, environ={"HFTPERF_CLUSTER": "local:3"}).cluster == "local:3"
    assert load_config(path, {"cluster": "local:2"}, environ={"HFTPERF_CLUSTER": "local:3"}).cluster == "local:2"
    assert load_config(write(tmp_path, MINIMAL, "plain.toml")).cluster is None


def test_a_bad_cluster_address_names_the_key(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, '[run]\ncluster = "sched:8786"\n' + MINIMAL))
    assert "run.cluster" in message and "tcp://HOST:8786, or local:N" in message
    with pytest.raises(UsageError, match=r"--cluster: .*local:N"):
        load_config(write(tmp_path, MINIMAL, "y.toml"), {"cluster": "local:0"})


def test_max_steal_is_a_percentage_of_the_cpu_time(tmp_path: Path) -> None:
    assert load_config(None).max_steal_share == 0.10
    assert load_config(write(tmp_path, '[run]\nmax_steal = "25%"\n' + MINIMAL)).max_steal_share == 0.25
    message = config_error(write(tmp_path, '[run]\nmax_steal = "150%"\n' + MINIMAL, "bad.toml"))
    assert "max_steal" in message and "bad.toml" in message and "\n" not in message
