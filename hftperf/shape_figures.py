"""The typed figures of the built-in result shapes: written into result.json's figures, read back key for key.

A reader takes a result's figures as stored: what a hand-written or older result leaves out reads as
None (or empty), what is there but of the wrong JSON type is a DataError naming its path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hftperf.errors import DataError

__all__ = [
    "CapacityFigures",
    "ComplexityFigures",
    "CurveStep",
    "DepthRow",
    "FittedModel",
    "OperationFit",
    "OperationStats",
]

_CAPACITY = "capacity figures: "  # the root of every path a reader's DataError names
_COMPLEXITY = "complexity figures: "

# -- the capacity shape: the last rate that met the SLO and the curve of steps searched ---------


@dataclass(frozen=True)
class CurveStep:
    """One step of a capacity search, as ``figures.curve[i]`` holds it.

    None: not in the figures (an older or hand-written result); a measured step has every field, its
    ``p50_us``/``p99_us`` None only when nothing was answered.
    """

    rate_rps: float  # offered
    sent_rps: float | None = None
    throughput_rps: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    error_rate: float | None = None
    not_sent: int | None = None
    connection_waits: int | None = None
    passed: bool | None = None  # met the SLO without errors or saturation
    reason: str | None = None  # "meets SLO" or why not
    attempt: int | None = None  # 1: the step's first measurement, 2: measured again after it failed

    def to_figure(self) -> dict[str, Any]:
        """The JSON-ready step, fields in order: ``p50_us``/``p99_us`` always (null: no answers), others when held."""
        return {key: value for key, value in dataclasses.asdict(self).items()
                if value is not None or key in _LATENCIES}

    @classmethod
    def from_figure(cls, step: Any, where: str = f"{_CAPACITY}curve[]") -> CurveStep:
        """The step read back from its JSON form (DataError when malformed or with no rate; other keys are ignored)."""
        step = _mapping(step, where)
        if step.get("rate_rps") is None:
            raise DataError(f"{where} has no rate_rps")
        numbers = {key: _number(step.get(key), f"{where}.{key}") for key in _STEP_NUMBERS}
        attempt = _number(step.get("attempt"), f"{where}.attempt")
        return cls(**numbers, passed=_flag(step.get("passed"), f"{where}.passed"),
                   reason=_text(step.get("reason"), f"{where}.reason"),
                   attempt=None if attempt is None else int(attempt))


_LATENCIES = ("p50_us", "p99_us")
_STEP_NUMBERS = tuple(f.name for f in dataclasses.fields(CurveStep) if f.name not in ("passed", "reason", "attempt"))


@dataclass(frozen=True)
class CapacityFigures:
    """The figures of the capacity shape (its report section and compare read them back from the result)."""

    capacity_rps: float | None  # the last rate that passed (0.0: none did; None: not in the figures)
    slo_p99_us: float | None  # None: not in the figures
    curve: tuple[CurveStep, ...] = ()  # in the order searched

    def to_figures(self) -> dict[str, Any]:
        """The JSON-ready figures (``capacity_rps``, ``slo_p99_us``, ``curve``)."""
        return {"capacity_rps": self.capacity_rps, "slo_p99_us": self.slo_p99_us,
                "curve": [step.to_figure() for step in self.curve]}

    @classmethod
    def from_figures(cls, figures: Mapping[str, Any]) -> CapacityFigures:
        """The figures read back from a result's ``figures`` (DataError when malformed; a missing capacity or
        SLO is None, a missing curve empty; other keys are not this shape's)."""
        steps = figures.get("curve")
        if steps is not None and not isinstance(steps, list):
            raise DataError(f"{_CAPACITY}curve is a JSON {type(steps).__name__}, not an array")
        return cls(
            capacity_rps=_number(figures.get("capacity_rps"), f"{_CAPACITY}capacity_rps"),
            slo_p99_us=_number(figures.get("slo_p99_us"), f"{_CAPACITY}slo_p99_us"),
            curve=tuple(CurveStep.from_figure(step, f"{_CAPACITY}curve[{i}]") for i, step in enumerate(steps or [])),
        )


# -- the complexity shape: a class per operation fitted over a table of depths -------------------


@dataclass(frozen=True)
class OperationStats:
    """One operation at one size: ``{op}_samples``, ``{op}_p50_us`` … in a row of ``figures.table``.

    None: not in the figures (a hand-written or plug-in result); a measured row has every field.
    """

    samples: int | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    mean_us: float | None = None
    median_ci_us: float | None = None  # half-width of the median's 95 % confidence interval


_STATS = tuple(f.name for f in dataclasses.fields(OperationStats))


@dataclass(frozen=True)
class DepthRow:
    """One size (book depth) of the table, as ``figures.table[i]`` holds it (flat: ``{op}_{stat}`` keys)."""

    depth: int
    price_levels: int | None  # both sides together (None: not recorded)
    operations: Mapping[str, OperationStats]  # op -> its figures, in the order measured

    def to_figure(self) -> dict[str, Any]:
        """The JSON-ready row: ``depth``, ``price_levels``, then ``{op}_samples`` … ``{op}_median_ci_us``."""
        row: dict[str, Any] = {"depth": self.depth}
        if self.price_levels is not None:
            row["price_levels"] = self.price_levels
        for op, stats in self.operations.items():
            row.update({f"{op}_{key}": value for key, value in dataclasses.asdict(stats).items() if value is not None})
        return row

    @classmethod
    def from_figure(cls, row: Any, where: str = f"{_COMPLEXITY}table[]") -> DepthRow:
        """The row read back from its JSON form (DataError when malformed; keys of no operation are ignored)."""
        row = _mapping(row, where)
        if row.get("depth") is None:
            raise DataError(f"{where} has no depth")
        stats: dict[str, dict[str, Any]] = {}
        for key, value in row.items():
            op, stat = _split_stat(key)
            if op:
                stats.setdefault(op, {})[stat] = _number(value, f"{where}.{key}")
        return cls(depth=_number(row["depth"], f"{where}.depth"),
                   price_levels=_number(row.get("price_levels"), f"{where}.price_levels"),
                   operations={op: OperationStats(**values) for op, values in stats.items()})


@dataclass(frozen=True)
class FittedModel:
    """One model of a fit, as ``figures.fits[op].models[name]`` holds it (``hftperf.complexity.ModelFit``)."""

    a: float | None = None
    b: float | None = None
    r2: float | None = None
    rel_rmse: float | None = None
    admissible: bool | None = None


@dataclass(frozen=True)
class OperationFit:
    """One operation's growth fit, as ``figures.fits[op]`` holds it (``hftperf.complexity.ComplexityFit``)."""

    best: str | None  # the chosen class
    models: Mapping[str, FittedModel] = field(default_factory=dict)
    growth_ratio: float | None = None
    slope_loglog: float | None = None
    best_fit: str | None = None
    tolerance: float | None = None
    reason: str | None = None
    sizes: tuple[int, ...] = ()
    costs_us: tuple[float, ...] = ()
    spread_us: tuple[float, ...] | None = None

    @property
    def chosen(self) -> FittedModel:
        """The model of the chosen class (all None when the figures do not hold it)."""
        return self.models.get(self.best or "", FittedModel())

    def to_figure(self) -> dict[str, Any]:
        """The JSON-ready fit, key for key what ``ComplexityFit.to_dict`` writes."""
        return {"best": self.best, "models": {name: dataclasses.asdict(m) for name, m in self.models.items()},
                "growth_ratio": self.growth_ratio, "slope_loglog": self.slope_loglog, "best_fit": self.best_fit,
                "tolerance": self.tolerance, "reason": self.reason, "sizes": list(self.sizes),
                "costs_us": list(self.costs_us), "spread_us": None if self.spread_us is None else list(self.spread_us)}

    @classmethod
    def from_figure(cls, fit: Any, where: str = f"{_COMPLEXITY}fits[]") -> OperationFit:
        """The fit read back from its JSON form (DataError when malformed)."""
        fit = _mapping(fit, where)
        models = {str(name): _model(model, f"{where}.models.{name}")
                  for name, model in _mapping(fit.get("models", {}), f"{where}.models").items()}
        spread = fit.get("spread_us")
        return cls(
            best=_text(fit.get("best"), f"{where}.best"), models=models,
            growth_ratio=_number(fit.get("growth_ratio"), f"{where}.growth_ratio"),
            slope_loglog=_number(fit.get("slope_loglog"), f"{where}.slope_loglog"),
            best_fit=_text(fit.get("best_fit"), f"{where}.best_fit"),
            tolerance=_number(fit.get("tolerance"), f"{where}.tolerance"),
            reason=_text(fit.get("reason"), f"{where}.reason"),
            sizes=_numbers(fit.get("sizes", []), f"{where}.sizes"),
            costs_us=_numbers(fit.get("costs_us", []), f"{where}.costs_us"),
            spread_us=None if spread is None else _numbers(spread, f"{where}.spread_us"),
        )


@dataclass(frozen=True)
class ComplexityFigures:
    """The figures of the complexity shape: the judged class, each operation's fit, the table of sizes."""

    complexity: str | None  # worst class among ``operations`` (what ``complexity <= …`` judges); None: no fit
    operations: tuple[str, ...]  # the operations that class covers (``complexity_operations``)
    table: tuple[DepthRow, ...]
    fits: Mapping[str, OperationFit]  # op -> its fit (operations fitted, in the order measured)

    @property
    def by_operation(self) -> dict[str, str | None]:
        """Every fitted operation's class (``complexity_by_operation``)."""
        return {op: fit.best for op, fit in self.fits.items()}

    def to_figures(self) -> dict[str, Any]:
        """The JSON-ready figures (``complexity``, ``complexity_operations``, ``complexity_by_operation``,
        ``table``, ``fits``)."""
        return {"complexity": self.complexity, "complexity_operations": list(self.operations),
                "complexity_by_operation": self.by_operation, "table": [row.to_figure() for row in self.table],
                "fits": {op: fit.to_figure() for op, fit in self.fits.items()}}

    @classmethod
    def from_figures(cls, figures: Mapping[str, Any]) -> ComplexityFigures:
        """The figures read back from a result's ``figures`` (DataError when a table or fits are missing or
        malformed; ``complexity_by_operation`` is the fits' classes, other keys are not this shape's)."""
        if "table" not in figures or "fits" not in figures:
            raise DataError("complexity figures: no table or no fits")
        rows = figures["table"]
        if not isinstance(rows, list):
            raise DataError(f"complexity figures: table is a JSON {type(rows).__name__}, not an array")
        operations = figures.get("complexity_operations", [])
        if not isinstance(operations, list) or not all(isinstance(op, str) for op in operations):
            raise DataError("complexity figures: complexity_operations is not an array of names")
        return cls(
            complexity=_text(figures.get("complexity"), f"{_COMPLEXITY}complexity"), operations=tuple(operations),
            table=tuple(DepthRow.from_figure(row, f"{_COMPLEXITY}table[{i}]") for i, row in enumerate(rows)),
            fits={str(op): OperationFit.from_figure(fit, f"{_COMPLEXITY}fits.{op}")
                  for op, fit in _mapping(figures["fits"], f"{_COMPLEXITY}fits").items()},
        )


def _split_stat(key: str) -> tuple[str, str]:
    """``("insert", "p50_us")`` for ``insert_p50_us``; ``("", "")`` for a key of no operation."""
    for stat in _STATS:
        op = key.removesuffix(f"_{stat}")
        if op != key and op:
            return op, stat
    return "", ""


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"{where} is a JSON {type(value).__name__}, not an object")
    return value


def _model(model: Any, where: str) -> FittedModel:
    model = _mapping(model, where)
    a, b, r2, rel_rmse = (_number(model.get(key), f"{where}.{key}") for key in ("a", "b", "r2", "rel_rmse"))
    return FittedModel(a, b, r2, rel_rmse, admissible=_flag(model.get("admissible"), f"{where}.admissible"))


def _number(value: Any, where: str) -> Any:
    """``value`` if a JSON number or null (bool is not a number here)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise DataError(f"{where} is {value!r}, not a number")
    return value


def _numbers(values: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(values, list):
        raise DataError(f"{where} is {values!r}, not an array of numbers")
    return tuple(_number(value, f"{where}[{i}]") for i, value in enumerate(values))


def _text(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where} is {value!r}, not a string")
    return value


def _flag(value: Any, where: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise DataError(f"{where} is {value!r}, not true or false")
    return value
