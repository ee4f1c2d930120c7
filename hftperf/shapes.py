"""Result shapes: what kind of figures a scenario result holds, recorded as its ``kind`` in result.json.

A shape says which metrics of a result are comparable (compare, ab, history), whether its interval
log gives comparable windows, whether its counts are in-process operations rather than requests,
and which report section it contributes (with the section's record, read from the figures the
shape defines). Reports and compare ask the shape of a result, never the scenario's name, and read
the figures of the built-in shapes typed (``capacity_figures``, ``complexity_figures``; the dataclasses
are in :mod:`hftperf.shape_figures`).

A shape not listed here (a plug-in's own) is read as a load through the instrument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hftperf.metrics_catalog import LATENCY_METRICS
from hftperf.shape_figures import (
    CapacityFigures,
    ComplexityFigures,
    CurveStep,
    DepthRow,
    FittedModel,
    OperationFit,
    OperationStats,
)

if TYPE_CHECKING:
    from hftperf.result import ScenarioResult

__all__ = [
    "CAPACITY",
    "CLOSED_LOOP",
    "COMPLEXITY",
    "OPEN_LOOP",
    "SHAPES",
    "CapacityFigures",
    "ComplexityFigures",
    "CurveStep",
    "DepthRow",
    "FittedModel",
    "OperationFit",
    "OperationStats",
    "ResultShape",
    "capacity_figures",
    "complexity_figures",
    "load_shape",
    "records_of",
    "section_record",
    "shape_of",
]

CLOSED_LOOP = "closed-loop"
OPEN_LOOP = "open-loop"
CAPACITY = "capacity"
COMPLEXITY = "complexity"

SectionRecord = Callable[["ScenarioResult"], "dict[str, Any] | None"]


def capacity_figures(result: ScenarioResult) -> CapacityFigures | None:
    """The typed capacity figures of ``result`` (None: not of the capacity shape, or it holds no capacity and no
    curve; a load's own ``curve`` figure is not read)."""
    if result.kind != CAPACITY or ("capacity_rps" not in result.figures and "curve" not in result.figures):
        return None
    return CapacityFigures.from_figures(result.figures)


def complexity_figures(result: ScenarioResult) -> ComplexityFigures | None:
    """The typed complexity figures of ``result`` (None: it holds no table or no fits)."""
    if "table" not in result.figures or "fits" not in result.figures:
        return None
    return ComplexityFigures.from_figures(result.figures)


@dataclass(frozen=True)
class ResultShape:
    """One result shape: its comparable metrics, samples, units and report section."""

    name: str
    metrics: tuple[str, ...]  # comparable metrics (a capacity search's latency mixes its steps: not one)
    interval_samples: bool = True  # the interval log's windows are comparable samples
    in_process: bool = False  # counts are operations measured in process, not requests to a target
    section: str | None = None  # the report section it adds ("capacity", "complexity")
    record: SectionRecord | None = None  # that section's record of one result (None: nothing to show)


def _capacity_record(result: ScenarioResult) -> dict[str, Any] | None:
    """Capacity, SLO and the curve with the knee (the last step meeting the SLO)."""
    figures = capacity_figures(result)
    if figures is None or not figures.curve:
        return None
    knee = max((i for i, step in enumerate(figures.curve) if step.passed), default=None)
    return {"scenario": result.name, "capacity_rps": figures.capacity_rps, "slo_p99_us": figures.slo_p99_us,
            "knee_rate_rps": figures.curve[knee].rate_rps if knee is not None else None,
            "curve": [{**step.to_figure(), "knee": i == knee} for i, step in enumerate(figures.curve)]}


def _complexity_record(result: ScenarioResult) -> dict[str, Any] | None:
    """Overall class, per-operation fit (class, r², reason) and the depth table."""
    figures = complexity_figures(result)
    if figures is None:
        return None
    fits = {op: {"class": fit.best, "r2": fit.chosen.r2, "rel_rmse": fit.chosen.rel_rmse, "reason": fit.reason}
            for op, fit in figures.fits.items()}
    return {"scenario": result.name, "complexity": figures.complexity, "fits": fits,
            "table": [row.to_figure() for row in figures.table]}


_LOAD_METRICS = (*LATENCY_METRICS, "throughput_rps", "error_rate")

SHAPES: dict[str, ResultShape] = {
    CLOSED_LOOP: ResultShape(CLOSED_LOOP, _LOAD_METRICS),
    OPEN_LOOP: ResultShape(OPEN_LOOP, _LOAD_METRICS),
    CAPACITY: ResultShape(CAPACITY, ("capacity_rps", "error_rate"), interval_samples=False,
                          section="capacity", record=_capacity_record),
    COMPLEXITY: ResultShape(COMPLEXITY, (*LATENCY_METRICS, "throughput_rps"), interval_samples=False,
                            in_process=True, section="complexity", record=_complexity_record),
}


def shape_of(name: str) -> ResultShape:
    """The shape of that name; an unknown one (a plug-in's) compares a load's metrics, one value per run."""
    return SHAPES.get(name) or ResultShape(name, _LOAD_METRICS, interval_samples=False)


def load_shape(open_loop: bool) -> str:
    """The shape of a plain load: open loop (paced at a rate or in stages), else closed loop."""
    return OPEN_LOOP if open_loop else CLOSED_LOOP


def section_record(result: ScenarioResult, section: str) -> dict[str, Any] | None:
    """The record ``result`` adds to the report section ``section`` (None: it adds none)."""
    shape = shape_of(result.kind)
    if shape.section != section or shape.record is None:
        return None
    return shape.record(result)


def records_of(results: Iterable[ScenarioResult], section: str) -> list[dict[str, Any]]:
    """Every record of ``section`` among ``results``, in order."""
    return [record for r in results if (record := section_record(r, section)) is not None]
