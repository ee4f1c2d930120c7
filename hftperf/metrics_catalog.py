"""The one metric catalog: every figure thresholds, compare, reports and ab name, with its spellings.

Each metric has its key in results (``p99_9``), what it holds (a duration, a rate, a fraction or a
complexity class: how a threshold's limit is read and a value printed), which way is worse and
whether a comparison tests it (with its default tolerance). Every accepted spelling maps to one key
here (``p99.9``, ``p999``, ``throughput``, ``capacity``, ``errors``), for every command alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALIASES",
    "CATALOG",
    "COMPARABLE",
    "LATENCY_METRICS",
    "CatalogMetric",
    "ValueKind",
    "canonical_name",
    "display_name",
]

ValueKind = Literal["duration", "rate", "fraction", "complexity"]


@dataclass(frozen=True)
class CatalogMetric:
    """One named figure: its key, what it holds, its unit and (when compared) tolerance."""

    name: str
    value_kind: ValueKind
    unit: str  # "us", "rps", "ratio", "class"
    higher_is_worse: bool
    label: str  # how tables name it
    tolerance_pct: float | None = None  # None: not compared (compare/ab test only the others)
    absolute: bool = False  # tolerance and change in absolute units (percentage points), not percent


LATENCY_METRICS: tuple[str, ...] = ("p50", "p90", "p99", "p99_9", "max", "mean")
# Default tolerances in percent (error_rate: percentage points). Tails are noisier than medians.
_LATENCY_TOLERANCE_PCT = {"p50": 5.0, "mean": 5.0, "p90": 10.0, "p99": 10.0, "p99_9": 20.0, "max": 20.0}

CATALOG: dict[str, CatalogMetric] = {
    **{name: CatalogMetric(name, "duration", "us", True, "p99.9" if name == "p99_9" else name,
                           _LATENCY_TOLERANCE_PCT[name]) for name in LATENCY_METRICS},
    "throughput_rps": CatalogMetric("throughput_rps", "rate", "rps", False, "throughput", 5.0),
    "error_rate": CatalogMetric("error_rate", "fraction", "ratio", True, "error rate", 0.1, absolute=True),
    "capacity_rps": CatalogMetric("capacity_rps", "rate", "rps", False, "capacity", 5.0),
    "complexity": CatalogMetric("complexity", "complexity", "class", True, "complexity"),
}

COMPARABLE: tuple[str, ...] = tuple(name for name, m in CATALOG.items() if m.tolerance_pct is not None)

ALIASES: dict[str, str] = {
    "p99.9": "p99_9", "p999": "p99_9", "throughput": "throughput_rps", "capacity": "capacity_rps",
    "errors": "error_rate",
}


def canonical_name(name: str) -> str:
    """The key of a spelling (``p99.9`` -> ``p99_9``, ``throughput`` -> ``throughput_rps``); others lower-cased.

    Case-insensitive; an operation prefix is kept (``cancel.p99.9`` -> ``cancel.p99_9``).
    """
    lowered = name.strip().lower()
    if lowered in ALIASES:
        return ALIASES[lowered]
    for alias, key in ALIASES.items():
        if lowered.endswith("." + alias):
            return lowered[: -len(alias)] + key
    return lowered


def display_name(name: str) -> str:
    """How tables name a metric (``p99_9`` -> ``p99.9``); a figure outside the catalog as it is."""
    metric = CATALOG.get(name)
    return metric.label if metric is not None else name
