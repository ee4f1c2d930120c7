"""The metrics a comparison looks at: which way is worse, and how big a change must be to count.

A change is a regression only when it is statistically significant *and* larger than the
metric's tolerance: the tolerance is the size of change a user cares about, the test says
whether the change is real. Tolerances are relative (percent of the base value), except for
the error rate, whose tolerance is absolute (percentage points): a rise from 0 errors is
infinite in percent but may be one request in a million.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hftperf.errors import ConfigError
from hftperf.metrics_catalog import CATALOG, COMPARABLE, LATENCY_METRICS, canonical_name
from hftperf.units import parse_percent

__all__ = [
    "LATENCY_METRICS",
    "METRICS",
    "Metric",
    "Tolerances",
    "latency_values",
    "parse_tolerances",
]


@dataclass(frozen=True)
class Metric:
    """One compared figure: its name in results, whether higher is worse, its unit."""

    name: str
    higher_is_worse: bool
    unit: str  # "us", "rps", "ratio"
    absolute: bool = False  # tolerance and change in absolute units (percentage points), not percent


# the comparable metrics of the one catalog (hftperf.metrics_catalog): which way is worse, unit, tolerance
METRICS: dict[str, Metric] = {
    name: Metric(name, CATALOG[name].higher_is_worse, CATALOG[name].unit, CATALOG[name].absolute)
    for name in COMPARABLE
}
_DEFAULT_TOLERANCE_PCT: dict[str, float] = {name: float(CATALOG[name].tolerance_pct or 0.0) for name in COMPARABLE}


@dataclass(frozen=True)
class Tolerances:
    """Per-metric tolerance in percent (error_rate in percentage points)."""

    pct: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(_DEFAULT_TOLERANCE_PCT))

    def of(self, metric: str) -> float:
        """The tolerance of ``metric``."""
        return self.pct[metric]

    def scaled(self, factor: float) -> Tolerances:
        """Every tolerance multiplied by ``factor`` (ab's interleaving cancels drift: it can use less)."""
        return Tolerances({name: value * factor for name, value in self.pct.items()})

    def with_overrides(self, overrides: Mapping[str, float]) -> Tolerances:
        """These tolerances with some replaced."""
        return Tolerances({**self.pct, **overrides})


def canonical_metric(name: str) -> str:
    """The metric's key (``p99.9`` -> ``p99_9``); ValueError naming the known ones."""
    key = canonical_name(name)
    if key not in METRICS:
        raise ValueError(f"unknown metric {name!r}; expected one of: {', '.join(METRICS)}")
    return key


def parse_tolerances(items: Mapping[str, Any] | list[str], where: str) -> dict[str, float]:
    """``{"p99": "10%"}`` (a config table) or ``["p99=10%"]`` (flags) -> ``{"p99": 10.0}``.

    A bare number is percent; ``all=3%`` sets every metric. ConfigError naming ``where``.
    """
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        for item in items:
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"{where} {item!r}: expected METRIC=PERCENT, e.g. p99=10%")
            pairs.append((name, value))
    parsed: dict[str, float] = {}
    for name, value in pairs:
        try:
            pct = _percent(value)
            if name.strip() == "all":
                parsed.update(dict.fromkeys(METRICS, pct))
            else:
                parsed[canonical_metric(name)] = pct
        except ValueError as exc:
            raise ConfigError(f"{where} {name}: {exc}") from None
    return parsed


def _percent(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage like 5%, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = parse_percent(text) * 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"expected a percentage like 5%, got {value!r}") from None
    else:
        raise ValueError(f"expected a percentage like 5%, got {value!r}")
    if not 0 <= number <= 100:
        raise ValueError(f"expected a percentage between 0% and 100%, got {value!r}")
    return number


def latency_values(summary: Mapping[str, float] | None) -> dict[str, float]:
    """The latency metrics of a ``latency_us`` summary (empty when nothing was answered)."""
    if not summary:
        return {}
    return {name: float(summary[name]) for name in LATENCY_METRICS if summary.get(name) is not None}
