"""The serialized run result (``result.json``): dataclasses, schema id and history, atomic save/load.

``result.json`` is the contract between a run and everything after it (report, compare, merge):
those start only from files. Its shape is documented in ``docs/result-schema.md`` and checked
against the JSON Schema shipped in ``hftperf/schemas/`` whenever a file is loaded.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from hftperf.atomic import write_atomically
from hftperf.errors import DataError
from hftperf.redact import redact_data

__all__ = [
    "RESULT_FILE",
    "SCHEMA",
    "RunResult",
    "ScenarioResult",
    "ThresholdResult",
    "build_run_result",
    "error_rate",
    "load_result",
    "save_result",
    "validate_document",
]

# result.json format history (bump the number for any change a reader could notice, add a
# line here and in docs/result-schema.md, and ship a new hftperf/schemas/result-N.schema.json):
#
# hftperf.result/1 - first version: environment, scenarios (counts, errors by class,
#                    latency_us summary, base64 HDR histogram and extra histograms with their
#                    out-of-range counts, figures, thresholds with headroom, hlog, repeat_index),
#                    passed / interrupted flags, UTC ISO-8601 start and end times.
# hftperf.result/2 - thresholds and scenarios carry ``inconclusive`` (the load generator fell
#                    behind: INCONCLUSIVE instead of MEETS/FAILS); open-loop scenarios record
#                    ``pacer_lag`` and ``connection_wait`` instead of ``schedule_lag``, requests
#                    due but never sent count in ``requests`` and as the error class ``not_sent``,
#                    and ``figures.censored`` counts latency values that are lower bounds.
#                    /1 files still read (no inconclusive verdicts, ``schedule_lag`` kept).
# hftperf.result/3 - scenarios carry ``scenario_kind``, the registry kind that ran (``kind`` stays the
#                    result shape: closed-loop, open-loop, capacity, complexity). /1 and /2 files
#                    still read, their ``scenario_kind`` null.
SCHEMA = "hftperf.result/3"
RESULT_FILE = "result.json"

_SCHEMA_PREFIX = "hftperf.result/"
_SCHEMA_FILES = {"hftperf.result/1": "result-1.schema.json", "hftperf.result/2": "result-2.schema.json",
                 SCHEMA: "result-3.schema.json"}


def error_rate(failed: int, requests: int) -> float:
    """Failed requests / requests sent; 0.0 when nothing was sent."""
    return failed / requests if requests > 0 else 0.0


def _json_safe(value: Any) -> Any:
    """A JSON-ready deep copy: tuples become lists, NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if not isinstance(value, str | int | float | bool) and value is not None and hasattr(value, "item"):
        return _json_safe(value.item())  # a numpy scalar (np.int64 is no int to json)
    return value


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold's verdict: metric, limit as written, observed value, passed, headroom in %."""

    metric: str  # "p99", "throughput_rps", "error_rate", "complexity", ...
    limit: str  # comparison and value as written in the config, e.g. "< 50ms"
    observed: float | int | str | None  # None when the figure does not exist (no responses)
    passed: bool  # what the figure says; not a verdict when ``inconclusive``
    headroom_pct: float | None = None  # distance to the limit in % of it; negative when failed
    inconclusive: bool = False  # the instrument could not measure (load generator fell behind)

    @property
    def status(self) -> str:
        """MEETS, FAILS or INCONCLUSIVE."""
        if self.inconclusive:
            return "INCONCLUSIVE"
        return "MEETS" if self.passed else "FAILS"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one threshold."""
        return {
            "metric": self.metric,
            "limit": self.limit,
            "observed": _json_safe(self.observed),
            "passed": self.passed,
            "headroom_pct": _json_safe(self.headroom_pct),
            "inconclusive": self.inconclusive,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdResult:
        """Inverse of :meth:`to_dict` (the document must already match the schema; /1 has no inconclusive)."""
        return cls(data["metric"], data["limit"], data["observed"], data["passed"], data["headroom_pct"],
                   bool(data.get("inconclusive", False)))


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """Everything one scenario (one repeat of it) measured, its figures and verdicts."""

    name: str
    kind: str  # the result shape (hftperf.shapes): "closed-loop", "open-loop", "capacity", "complexity", ...
    requests: int  # sent during the measured period
    ok: int
    errors: dict[str, int]  # by error class key ("timeout", "http_5xx", ...)
    in_flight: int  # sent but neither answered nor failed when the period ended
    duration_s: float
    throughput_rps: float  # successful responses per second
    latency_us: dict[str, float] | None  # p50, p90, p99, p99_9, max, mean; None: no responses
    histogram: str | None  # base64 HDR of the latency (µs); None: no latency recorded
    extra_histograms: dict[str, str] = field(default_factory=dict)  # "pacer_lag", "connection_wait", ...
    out_of_range: int = 0  # latency values above the histogram's range (clamped, counted)
    extra_out_of_range: dict[str, int] = field(default_factory=dict)  # same, per extra histogram
    figures: dict[str, Any] = field(default_factory=dict)  # error_rate, capacity curve, fit, ...
    thresholds: tuple[ThresholdResult, ...] = ()
    passed: bool = True
    interrupted: bool = False
    hlog: str | None = None  # interval log, relative to the results directory
    repeat_index: int = 0
    inconclusive: bool = False  # some threshold is no verdict (load generator fell behind, machine starved)
    scenario_kind: str | None = None  # the registry kind that ran ("load": ad hoc); None: not recorded

    def __post_init__(self) -> None:
        # figures carry what was sent (figures.request); whoever built them, no credential is kept
        object.__setattr__(self, "figures", redact_data(self.figures))

    @property
    def failed(self) -> int:
        """Requests that ended in an error of any class."""
        return sum(self.errors.values())

    def with_thresholds(self, thresholds: Iterable[ThresholdResult]) -> ScenarioResult:
        """A copy carrying these verdicts; passed = all met, not interrupted and not inconclusive."""
        verdicts = tuple(thresholds)
        passed = all(t.passed for t in verdicts) and not self.interrupted and not self.inconclusive
        return replace(self, thresholds=verdicts, passed=passed)

    def as_inconclusive(self) -> ScenarioResult:
        """A copy whose thresholds are all INCONCLUSIVE (the instrument could not measure)."""
        inconclusive = replace(self, inconclusive=True)
        return inconclusive.with_thresholds(replace(t, inconclusive=True) for t in self.thresholds)

    def hlog_path(self, results_dir: Path) -> Path | None:
        """Where this scenario's interval log is, given the results directory."""
        return results_dir / self.hlog if self.hlog is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one scenario (a fresh, JSON-ready structure)."""
        data: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "thresholds":
                data["thresholds"] = [t.to_dict() for t in value]
            else:
                data[spec.name] = _json_safe(value)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        """Inverse of :meth:`to_dict` (the document must already match the schema)."""
        # every key is required by the schema, except those a /1 file lacks (``inconclusive``): defaults
        values = {spec.name: copy.deepcopy(data[spec.name]) for spec in fields(cls) if spec.name in data}
        values["thresholds"] = tuple(ThresholdResult.from_dict(t) for t in data["thresholds"])
        for name in ("requests", "ok", "in_flight", "out_of_range", "repeat_index"):
            values[name] = int(values[name])  # JSON Schema "integer" admits 3.0
        values["duration_s"] = float(values["duration_s"])
        values["throughput_rps"] = float(values["throughput_rps"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """One run of a suite: environment, every scenario result (all repeats), overall verdict."""

    schema: str = SCHEMA
    label: str
    environment: dict[str, Any]
    scenarios: tuple[ScenarioResult, ...]
    passed: bool
    interrupted: bool = False
    started_at: str  # UTC ISO-8601
    ended_at: str  # UTC ISO-8601

    def __post_init__(self) -> None:
        # the environment names the target: result.json, reports and compare all read it from here
        object.__setattr__(self, "environment", redact_data(self.environment))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document written to result.json."""
        return {
            "schema": self.schema,
            "label": self.label,
            "environment": _json_safe(self.environment),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "passed": self.passed,
            "interrupted": self.interrupted,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
        }

    @property
    def inconclusive(self) -> bool:
        """True when some scenario could not be measured (load generator fell behind)."""
        return any(s.inconclusive for s in self.scenarios)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Validate a parsed document against its schema and build the result (DataError if not)."""
        validate_document(data)
        _check_histograms(data["scenarios"])
        return cls(
            schema=SCHEMA,  # an older document is read into the current shape (and written as it)
            label=data["label"],
            environment=copy.deepcopy(dict(data["environment"])),
            scenarios=tuple(ScenarioResult.from_dict(s) for s in data["scenarios"]),
            passed=data["passed"],
            interrupted=data["interrupted"],
            started_at=data["started_at"],
            ended_at=data["ended_at"],
        )


def _check_histograms(scenarios: list[Mapping[str, Any]]) -> None:
    """Every encoded histogram decodes (a hand-edited one fails here, not later in a report)."""
    from hftperf.histogram import LatencyHistogram  # numpy: only when a result is read

    for index, scenario in enumerate(scenarios):
        encoded = {"histogram": scenario["histogram"]}
        encoded.update({f"extra_histograms.{k}": v for k, v in scenario["extra_histograms"].items()})
        for key, text in encoded.items():
            if text is None:
                continue
            try:
                LatencyHistogram.decode(text)
            except (DataError, ValueError) as exc:
                raise DataError(f"does not match {SCHEMA} at scenarios[{index}].{key}: {exc}") from None


def build_run_result(
    label: str,
    environment: Mapping[str, Any],
    scenarios: Iterable[ScenarioResult],
    started_at: str,
    ended_at: str,
    interrupted: bool = False,
) -> RunResult:
    """A RunResult whose ``passed`` is derived: every scenario passed and the run was not interrupted."""
    items = tuple(scenarios)
    return RunResult(
        label=label,
        environment=dict(environment),
        scenarios=items,
        passed=all(s.passed for s in items) and not interrupted,
        interrupted=interrupted,
        started_at=started_at,
        ended_at=ended_at,
    )


# -- validation -----------------------------------------------------------------------------


@cache
def _validator(schema_id: str) -> Any:
    """The compiled JSON Schema validator of one result schema (jsonschema imported lazily)."""
    import jsonschema

    from hftperf.schemas import load_schema

    schema = load_schema(_SCHEMA_FILES[schema_id])
    return jsonschema.Draft202012Validator(schema)


def _where(path: Iterable[Any]) -> str:
    """A JSON path like ``scenarios[0].requests`` (``(top level)`` for the root)."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validate_document(data: Any) -> None:
    """Raise DataError unless ``data`` is a result document of a schema this version reads."""
    if not isinstance(data, Mapping):
        raise DataError(f"not a result document: top level is a JSON {type(data).__name__}, not an object")
    schema_id = data.get("schema")
    if schema_id is None:
        raise DataError('not a result document: no "schema" field')
    if not isinstance(schema_id, str) or schema_id not in _SCHEMA_FILES:
        if isinstance(schema_id, str) and schema_id.startswith(_SCHEMA_PREFIX):
            raise DataError(f"unsupported result schema {schema_id!r} (this hftperf reads {SCHEMA!r})")
        raise DataError(f"not a result document: unknown schema {schema_id!r}")
    errors = list(_validator(schema_id).iter_errors(data))
    if errors:
        from jsonschema.exceptions import best_match

        first = best_match(errors)
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise DataError(f"does not match {schema_id} at {_where(first.absolute_path)}: {first.message}{more}")


# -- files ----------------------------------------------------------------------------------


def save_result(run: RunResult, directory: Path) -> Path:
    """Write ``run`` as ``directory/result.json`` atomically (directory created); return the path."""
    path = Path(directory) / RESULT_FILE
    data = (json.dumps(run.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _reject_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON (Python would accept them)."""
    raise ValueError(f"{name} is not a JSON number")


def load_result(path: Path) -> RunResult:
    """Read a result from a results directory or a result.json file; DataError naming the file."""
    path = Path(path)
    file = path / RESULT_FILE if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{file}: no such result file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{file}: not valid JSON: {exc}") from None
    try:
        return RunResult.from_dict(data)
    except DataError as exc:
        raise DataError(f"{file}: {exc}") from None
