"""The serialized run result (``result.json``): dataclasses, schema id and history, atomic save/load.

``result.json`` is the contract between a run and everything after it (report, compare, merge):
those start only from files. Its shape is documented in ``docs/result-schema.md`` and checked
against the JSON Schema shipped in ``hftperf/schemas/`` whenever a file is loaded.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hftperf.errors import DataError

if TYPE_CHECKING:
    from hftperf.loadgen.result import LoadResult

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
    "scenario_result_from_load",
    "validate_document",
]

# result.json format history (bump the number for any change a reader could notice, add a
# line here and in docs/result-schema.md, and ship a new hftperf/schemas/result-N.schema.json):
#
# hftperf.result/1 - first version: environment, scenarios (counts, errors by class,
#                    latency_us summary, base64 HDR histogram and extra histograms with their
#                    out-of-range counts, figures, thresholds with headroom, hlog, repeat_index),
#                    passed / interrupted flags, UTC ISO-8601 start and end times.
SCHEMA = "hftperf.result/1"
RESULT_FILE = "result.json"

_SCHEMA_PREFIX = "hftperf.result/"
_SCHEMA_FILES = {SCHEMA: "result-1.schema.json"}


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
    passed: bool
    headroom_pct: float | None = None  # distance to the limit in % of it; negative when failed

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one threshold."""
        return {
            "metric": self.metric,
            "limit": self.limit,
            "observed": _json_safe(self.observed),
            "passed": self.passed,
            "headroom_pct": _json_safe(self.headroom_pct),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdResult:
        """Inverse of :meth:`to_dict` (the document must already match the schema)."""
        return cls(data["metric"], data["limit"], data["observed"], data["passed"], data["headroom_pct"])


@dataclass(frozen=True, kw_only=True)
class ScenarioResult:
    """Everything one scenario (one repeat of it) measured, its figures and verdicts."""

    name: str
    kind: str  # "closed-loop", "open-loop", "capacity", "complexity", ...
    requests: int  # sent during the measured period
    ok: int
    errors: dict[str, int]  # by error class key ("timeout", "http_5xx", ...)
    in_flight: int  # sent but neither answered nor failed when the period ended
    duration_s: float
    throughput_rps: float  # successful responses per second
    latency_us: dict[str, float] | None  # p50, p90, p99, p99_9, max, mean; None: no responses
    histogram: str | None  # base64 HDR of the latency (µs); None: no latency recorded
    extra_histograms: dict[str, str] = field(default_factory=dict)  # "schedule_lag", ...
    out_of_range: int = 0  # latency values above the histogram's range (clamped, counted)
    extra_out_of_range: dict[str, int] = field(default_factory=dict)  # same, per extra histogram
    figures: dict[str, Any] = field(default_factory=dict)  # error_rate, capacity curve, fit, ...
    thresholds: tuple[ThresholdResult, ...] = ()
    passed: bool = True
    interrupted: bool = False
    hlog: str | None = None  # interval log, relative to the results directory
    repeat_index: int = 0

    @property
    def failed(self) -> int:
        """Requests that ended in an error of any class."""
        return sum(self.errors.values())

    def with_thresholds(self, thresholds: Iterable[ThresholdResult]) -> ScenarioResult:
        """A copy carrying these verdicts; passed = all met and the scenario was not interrupted."""
        verdicts = tuple(thresholds)
        return replace(self, thresholds=verdicts, passed=all(t.passed for t in verdicts) and not self.interrupted)

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
        values = {spec.name: copy.deepcopy(data[spec.name]) for spec in fields(cls)}
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        """Validate a parsed document against its schema and build the result (DataError if not)."""
        validate_document(data)
        _check_histograms(data["scenarios"])
        return cls(
            schema=data["schema"],
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


def scenario_result_from_load(
    name: str,
    kind: str,
    load_result: LoadResult,
    *,
    figures: Mapping[str, Any] | None = None,
    extra_histograms: Mapping[str, str] | None = None,
    extra_out_of_range: Mapping[str, int] | None = None,
    thresholds: Iterable[ThresholdResult] = (),
    hlog: str | None = None,
    repeat_index: int = 0,
) -> ScenarioResult:
    """A ScenarioResult with the common figures of a LoadResult; ``figures`` given here win.

    Common figures: error_rate (failed / requests), not_sent, warmup_requests, offered_rate_rps,
    connections, workers and schedule_lag_us (open loop). The schedule-lag histogram goes into
    ``extra_histograms["schedule_lag"]`` with its out-of-range count.
    """
    lag = load_result.schedule_lag
    plan = load_result.plan
    common: dict[str, Any] = {
        "error_rate": error_rate(load_result.failed, load_result.requests),
        "not_sent": load_result.not_sent,
        "warmup_requests": load_result.warmup_requests,
        "offered_rate_rps": plan.rate_per_s,
        "connections": plan.connections,
        "workers": plan.workers,
        "schedule_lag_us": lag.summary_us() if lag is not None and lag.total_count else None,
    }
    histograms: dict[str, str] = {}
    out_of_range: dict[str, int] = {}
    if lag is not None:
        histograms["schedule_lag"] = lag.encode()
        out_of_range["schedule_lag"] = lag.out_of_range_count
    histograms.update(extra_histograms or {})
    out_of_range.update(extra_out_of_range or {})
    latency = load_result.latency
    scenario = ScenarioResult(
        name=name,
        kind=kind,
        requests=load_result.requests,
        ok=load_result.ok,
        errors=dict(load_result.errors),
        in_flight=load_result.in_flight,
        duration_s=load_result.duration_s,
        throughput_rps=load_result.throughput_rps,
        latency_us=latency.summary_us() if latency.total_count else None,
        histogram=latency.encode(),
        extra_histograms=histograms,
        out_of_range=latency.out_of_range_count,
        extra_out_of_range=out_of_range,
        figures={**common, **(figures or {})},
        interrupted=load_result.interrupted,
        hlog=hlog,
        repeat_index=repeat_index,
    )
    return scenario.with_thresholds(thresholds)


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


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - not Linux: briefly process-wide, no threads write here
    os.umask(mask)
    return mask


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename over ``path``.

    A reader sees the old file or the new one, never a mix; a writer that dies before the
    rename leaves at most a ``.result.json.*.tmp`` file that nothing reads.
    """
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; a result file is as shareable as any
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def save_result(run: RunResult, directory: Path) -> Path:
    """Write ``run`` as ``directory/result.json`` atomically (directory created); return the path."""
    path = Path(directory) / RESULT_FILE
    data = (json.dumps(run.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)
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
