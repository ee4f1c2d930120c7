"""Regression detection between two runs (``compare``) or two live targets (``ab``)."""

from hftperf.compare.metrics import METRICS, Tolerances, parse_tolerances
from hftperf.compare.model import Comparison, MetricComparison
from hftperf.compare.runs import DEFAULT_ALPHA, compare_runs
from hftperf.compare.stats import Verdict

__all__ = [
    "DEFAULT_ALPHA",
    "METRICS",
    "Comparison",
    "MetricComparison",
    "Tolerances",
    "Verdict",
    "compare_runs",
    "parse_tolerances",
]
