"""Fuzzing what users hand to hftperf: configs, thresholds, units, result.json and .hlog files.

Every bad input must end in the one error class for it (ConfigError for configuration,
ValueError from the pure parsers, DataError for results) with a one-line message that names
the file; never another exception, which the CLI would show as a traceback.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hftperf.config import RunConfig, load_config
from hftperf.errors import ConfigError, DataError
from hftperf.hlog import IntervalLog, read_hlog
from hftperf.result import RunResult, load_result
from hftperf.scenarios import REGISTRY
from hftperf.thresholds import METRICS, Threshold, parse_threshold
from hftperf.units import parse_duration_s, parse_duration_us, parse_percent, parse_rate_per_s, parse_size_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "results-small"
KINDS = {kind: scenario_type.params_type for kind, scenario_type in REGISTRY.items()}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies -----------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # no lone surrogates: files are UTF-8
UNIT_TEXT = st.one_of(
    TEXT,
    st.from_regex(r"\A-?[0-9]{0,4}(\.[0-9]{0,3})?(e[+-]?[0-9]{1,3})?\s?(us|µs|ms|s|m|h|/s|/m|%|KiB|MB|x)?\Z"),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0", "-0s", "1e-320s", "10", "", " ", "5 s", "1/0"]),
)
KEYS = st.sampled_from(
    [
        "name",
        "kind",
        "warmup",
        "duration",
        "seed",
        "thresholds",
        "timeout",
        "connections",
        "rate",
        "request",
        "path",
        "method",
        "headers",
        "body",
        "template",
        "label",
        "stack",
        "target",
        "grpc_target",
        "out",
        "duration_scale",
        "repeat",
        "deadline",
        "redact_headers",
        "workers",
        "db",
        "gateway_port",
        "engine_port",
        "keepalive_time",
        "start_rate",
        "step_rate",
        "max_rate",
        "step_duration",
        "slo_p99",
        "depths",
        "samples_per_depth",
        "operations",
        "mix",
        "bogus",
        "Name",
        "",
    ]
)
SCALARS = st.one_of(
    UNIT_TEXT,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.sampled_from(
        [
            "health-sequential",
            "order-latency",
            "order-throughput",
            "book-scaling",
            "local",
            "none",
            "http://127.0.0.1:1",
            "p99 < 50ms",
            "error_rate < 0.1%",
            "/health",
            "GET",
        ]
    ),
    st.datetimes(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
SCENARIO = st.one_of(
    st.dictionaries(KEYS, VALUES, max_size=8).map(lambda table: {"name": "health-sequential", **table}),
    st.dictionaries(KEYS, VALUES, max_size=8),
)
DOCUMENT = st.fixed_dictionaries(
    {},
    optional={
        "run": st.dictionaries(KEYS, VALUES, max_size=5),
        "stack": st.dictionaries(KEYS, VALUES, max_size=4),
        "grpc": st.dictionaries(KEYS, VALUES, max_size=3),
        "scenario": st.one_of(st.lists(SCENARIO, max_size=3), VALUES),
        "bogus": VALUES,
    },
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, once DEL (which JSON leaves as is) is escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return value.isoformat()  # datetime


def _toml(document: dict[str, Any]) -> str:
    lines = []
    scenario_last = sorted(document.items(), key=lambda item: item[0] == "scenario")  # tables after keys
    for key, value in scenario_last:
        if key == "scenario" and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            lines += [
                "[[scenario]]\n" + "".join(f"{_toml_value(k)} = {_toml_value(v)}\n" for k, v in t.items())
                for t in value
            ]
        else:
            lines.append(f"{_toml_value(key)} = {_toml_value(value)}\n")
    return "".join(lines)


def _one_line_naming(message: str, name: str) -> None:
    assert "\n" not in message and message.strip(), message
    assert name in message, message


# -- configuration --------------------------------------------------------------------------


@FUZZ
@given(document=DOCUMENT)
def test_any_config_document_loads_or_raises_config_error(tmp_path: Path, document: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(_toml(document), encoding="utf-8")
    tomllib.loads(path.read_text())  # the generator writes valid TOML: what is fuzzed is the content
    try:
        config = load_config(path, known_kinds=KINDS)
    except ConfigError as exc:
        _one_line_naming(str(exc), str(path))
    else:
        assert isinstance(config, RunConfig) and config.scenarios


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(data=b"\xff\xfe[run]")
@example(data=b'[run]\nlabel = "x"\n[run]\n')
@example(data=b"[[scenario]]\nname = 'health-sequential'\nduration = 1e400\n")
def test_arbitrary_bytes_as_a_config_raise_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bytes.toml"
    path.write_bytes(data)
    try:
        load_config(path, known_kinds=KINDS)
    except ConfigError as exc:
        _one_line_naming(str(exc), str(path))


@FUZZ
@given(
    variable=st.sampled_from(
        ["HFTPERF_TARGET", "HFTPERF_GRPC_TARGET", "HFTPERF_STACK", "HFTPERF_DURATION_SCALE", "HFTPERF_OUT"]
    ),
    value=UNIT_TEXT,
)
def test_environment_values_load_or_name_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    path = tmp_path / "env.toml"
    path.write_text('[run]\nstack = "none"\ntarget = "http://127.0.0.1:1"\n[[scenario]]\nname = "health-sequential"\n')
    try:
        load_config(path, environ={variable: value}, known_kinds=KINDS)
    except ConfigError as exc:
        _one_line_naming(str(exc), variable if value.strip() and variable in str(exc) else str(path))


# -- thresholds and units -------------------------------------------------------------------

THRESHOLD_TEXT = st.one_of(
    st.text(max_size=30),  # the parser takes any str
    st.builds(
        lambda m, op, v: f"{m} {op} {v}",
        st.sampled_from([*METRICS, "p100", "P99", "rps", ""]),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "=<", ""]),
        UNIT_TEXT,
    ),
)


@FUZZ
@given(text=THRESHOLD_TEXT)
@example(text="p99 < 1e400ms")
@example(text="error_rate < nan%")
@example(text="throughput_rps >= -5/s")
def test_threshold_parser_returns_a_threshold_or_value_error(text: str) -> None:
    try:
        threshold = parse_threshold(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(threshold, Threshold) and threshold.metric in METRICS
        assert math.isfinite(threshold.limit) and threshold.limit >= 0


@pytest.mark.parametrize(
    "parse", [parse_duration_s, parse_duration_us, parse_rate_per_s, parse_percent, parse_size_bytes]
)
@FUZZ
@given(value=st.one_of(UNIT_TEXT, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none()))
def test_unit_parsers_return_finite_non_negative_numbers_or_value_error(parse: Any, value: Any) -> None:
    try:
        number = parse(value)
    except ValueError as exc:
        assert "\n" not in str(exc)
    else:
        assert math.isfinite(number) and number >= 0, (value, number)


# -- results ----------------------------------------------------------------------------------


def _mutations(document: Any) -> list[tuple[list[Any], Any]]:
    """Every (path, value) leaf and container of a JSON document."""
    found: list[tuple[list[Any], Any]] = [([], document)]
    if isinstance(document, dict):
        for key, value in document.items():
            found += [([key, *path], leaf) for path, leaf in _mutations(value)]
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += [([index, *path], leaf) for path, leaf in _mutations(value)]
    return found


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
RESULT_TEXT = (DATA / "result.json").read_text()
RESULT_PATHS = [path for path, _ in _mutations(json.loads(RESULT_TEXT)) if path]


def _set(document: Any, path: list[Any], value: Any, delete: bool) -> None:
    for key in path[:-1]:
        document = document[key]
    if delete:
        del document[path[-1]]
    else:
        document[path[-1]] = value


@FUZZ
@given(path=st.sampled_from(RESULT_PATHS), value=JSON_VALUES, delete=st.booleans())
def test_hand_edited_result_json_loads_or_raises_data_error(
    tmp_path: Path, path: list[Any], value: Any, delete: bool
) -> None:
    document = json.loads(RESULT_TEXT)
    _set(document, path, value, delete)
    file = tmp_path / "result.json"
    file.write_text(json.dumps(document))
    try:
        run = load_result(file)
    except DataError as exc:
        _one_line_naming(str(exc), str(file))
    else:
        assert isinstance(run, RunResult)


@FUZZ
@given(
    cut=st.integers(0, len(RESULT_TEXT)),
    flips=st.lists(st.tuples(st.integers(0, len(RESULT_TEXT) - 1), st.integers(0, 255)), max_size=4),
)
def test_truncated_or_corrupted_result_json_raises_data_error(
    tmp_path: Path, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(RESULT_TEXT.encode())
    for offset, byte in flips:
        data[offset] = byte
    file = tmp_path / "result.json"
    file.write_bytes(bytes(data[:cut]) if cut < len(data) or not flips else bytes(data))
    try:
        load_result(file)
    except DataError as exc:
        _one_line_naming(str(exc), str(file))


HLOG = (DATA / "health-sequential.hlog").read_bytes()


@FUZZ
@given(
    cut=st.integers(0, len(HLOG)),
    flips=st.lists(st.tuples(st.integers(0, len(HLOG) - 1), st.integers(0, 255)), max_size=4),
    junk=st.sampled_from(
        [
            b"",
            b"\n1.0,2.0,3.0,HISTFAAAA\n",
            b"\nTag=x,1,1,1,\n",
            b"\n#[StartTime: x]\n",
            b"\n1,1,1,HISTFAAAACXicLYyxDQAgCAT/URBX+kNQOmWABb\n",
        ]
    ),
)
def test_truncated_or_corrupted_hlog_raises_data_error(
    tmp_path: Path, cut: int, flips: list[tuple[int, int]], junk: bytes
) -> None:
    data = bytearray(HLOG[:cut])
    for offset, byte in flips:
        if offset < len(data):
            data[offset] = byte
    file = tmp_path / "fuzz.hlog"
    file.write_bytes(bytes(data) + junk)
    try:
        log = read_hlog(file)
    except DataError as exc:
        _one_line_naming(str(exc), str(file))
    else:
        assert isinstance(log, IntervalLog)


ENCODED = json.loads(RESULT_TEXT)["scenarios"][0]["histogram"]


@FUZZ
@given(
    flips=st.lists(
        st.tuples(
            st.integers(0, len(ENCODED) - 1),
            st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_a_corrupted_histogram_in_result_json_raises_data_error(tmp_path: Path, flips: list[tuple[int, str]]) -> None:
    """Valid base64, broken content (the compressed counts, the header): DataError, never zlib/struct errors."""
    chars = list(ENCODED)
    for offset, char in flips:
        chars[offset] = char
    document = json.loads(RESULT_TEXT)
    document["scenarios"][0]["histogram"] = "".join(chars)
    file = tmp_path / "result.json"
    file.write_text(json.dumps(document))
    try:
        load_result(file)
    except DataError as exc:
        _one_line_naming(str(exc), str(file))
