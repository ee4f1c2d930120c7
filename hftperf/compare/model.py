"""What a comparison produces: one verdict per scenario and metric, plus what could not be compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hftperf.compare.metrics import METRICS
from hftperf.compare.stats import Estimate, Verdict
from hftperf.redact import redact_text

__all__ = ["COMPARISON_SCHEMA", "Comparison", "MetricComparison"]

COMPARISON_SCHEMA = "hftperf.comparison/1"


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class MetricComparison:
    """One metric of one scenario: both values, the change, its interval, p-values and the verdict."""

    scenario: str
    metric: str
    source: str  # where the samples came from: repeats, intervals, single, rounds
    estimate: Estimate
    p_adjusted: float | None  # Benjamini-Hochberg over the scenario's metrics
    tolerance: float  # percent (error_rate: percentage points)
    verdict: Verdict
    reason: str = ""  # why the verdict is inconclusive

    @property
    def absolute(self) -> bool:
        """True when change and tolerance are absolute (percentage points), not percent."""
        return METRICS[self.metric].absolute

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one metric comparison (stable keys)."""
        e = self.estimate
        change_key = "change_pp" if self.absolute else "change_pct"
        return {
            "scenario": self.scenario,
            "metric": self.metric,
            "unit": METRICS[self.metric].unit,
            "source": self.source,
            "base": _rounded(e.base),
            "head": _rounded(e.head),
            change_key: _rounded(e.change, 4),
            "ci_low": _rounded(e.ci_low, 4),
            "ci_high": _rounded(e.ci_high, 4),
            "p_value": _rounded(e.p_value, 8),
            "p_adjusted": _rounded(self.p_adjusted, 8),
            "tolerance": self.tolerance,
            "n_base": e.n_base,
            "n_head": e.n_head,
            "verdict": str(self.verdict),
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass(frozen=True)
class Comparison:
    """Every metric compared between a base and a head (two runs, or the two sides of ``ab``)."""

    mode: str  # "compare" or "ab"
    base_label: str
    head_label: str
    alpha: float
    metrics: tuple[MetricComparison, ...]
    only_in_base: tuple[str, ...] = ()
    only_in_head: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # metadata mismatches, interrupted runs, missing logs
    details: dict[str, Any] = field(default_factory=dict)  # ab: rounds and per-round values

    def __post_init__(self) -> None:
        # Labels name targets (ab: their URLs) and warnings quote environment values; every output
        # (table, markdown, JSON, the step summary) starts here, so redact once, here.
        object.__setattr__(self, "base_label", redact_text(self.base_label))
        object.__setattr__(self, "head_label", redact_text(self.head_label))
        object.__setattr__(self, "warnings", tuple(redact_text(w) for w in self.warnings))

    def with_verdict(self, verdict: Verdict) -> list[MetricComparison]:
        """The metrics with this verdict, in scenario and metric order."""
        return [m for m in self.metrics if m.verdict is verdict]

    @property
    def regressions(self) -> list[MetricComparison]:
        """Metrics that got significantly worse by more than their tolerance."""
        return self.with_verdict(Verdict.REGRESSION)

    @property
    def inconclusive(self) -> list[MetricComparison]:
        """Metrics not judged because a side's load generator fell behind."""
        return self.with_verdict(Verdict.INCONCLUSIVE)

    @property
    def improvements(self) -> list[MetricComparison]:
        """Metrics that got significantly better by more than their tolerance."""
        return self.with_verdict(Verdict.IMPROVEMENT)

    def scenarios(self) -> list[str]:
        """Compared scenarios in order."""
        return list(dict.fromkeys(m.scenario for m in self.metrics))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``--format json``."""
        return {
            "schema": COMPARISON_SCHEMA,
            "mode": self.mode,
            "base": self.base_label,
            "head": self.head_label,
            "alpha": self.alpha,
            "regression": bool(self.regressions),
            "counts": {str(v): len(self.with_verdict(v)) for v in Verdict},
            "metrics": [m.to_dict() for m in self.metrics],
            "only_in_base": list(self.only_in_base),
            "only_in_head": list(self.only_in_head),
            "warnings": list(self.warnings),
            **({"details": self.details} if self.details else {}),
        }
