"""k6-style thresholds: ``"p99 < 50ms"`` parsed into a ``Threshold``, judged into a ``Verdict``.

A threshold is ``METRIC OP VALUE``. Each metric has one kind, and the value must be of that
kind: latencies (``p50``, ``p90``, ``p99``, ``p99_9``, ``max``, ``mean``) take a duration with a
unit and are stored in microseconds; ``throughput_rps`` and ``capacity_rps`` take a rate
(``1000/s``); ``error_rate`` takes a percentage (``0.1%``) stored as a fraction; ``complexity``
takes a class from ``O(1) < O(log n) < O(n) < O(n log n) < O(n^2)``. Observed figures use the
same units (latency in µs, rates per second, error rate as a fraction, complexity as text).

Evaluation is pure: no IO, no exceptions for a missing or malformed observation (those fail the
threshold with a note), so a report can always be rendered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hftperf.metrics_catalog import CATALOG, ValueKind, canonical_name
from hftperf.units import format_duration_us, format_rate, parse_duration_us, parse_percent, parse_rate_per_s

__all__ = [
    "COMPLEXITY_CLASSES",
    "METRICS",
    "OPERATORS",
    "MetricKind",
    "Threshold",
    "Verdict",
    "evaluate",
    "evaluate_all",
    "format_figure",
    "metric_kind",
    "parse_complexity",
    "parse_threshold",
]

MetricKind = ValueKind

# what each catalog metric holds (hftperf.metrics_catalog: the one catalog and its spellings)
METRICS: dict[str, MetricKind] = {name: metric.value_kind for name, metric in CATALOG.items()}
# A scenario's own figures are named with their unit (``stale_share``, ``book_depth_us``), so a
# threshold on one needs no table: the suffix says what it holds.
_SUFFIX_KINDS: tuple[tuple[str, MetricKind], ...] = (
    ("_us", "duration"), ("_rps", "rate"), ("_per_s", "rate"), ("_share", "fraction"), ("_rate", "fraction"),
    ("_ratio", "fraction"),
)


def metric_kind(metric: str) -> MetricKind | None:
    """What ``metric`` holds: a catalog metric, ``<operation>.<metric>`` (``cancel.p99``: the same figure of
    one operation of a flow), or a figure named with its unit suffix; None for anything else."""
    if metric in METRICS:
        return METRICS[metric]
    prefix, dot, base = metric.rpartition(".")
    if dot and prefix and base in METRICS:
        return METRICS[base]
    for suffix, kind in _SUFFIX_KINDS:
        if metric.endswith(suffix) and len(metric) > len(suffix):
            return kind
    return None


def canonical_metric(name: str) -> str:
    """``p99.9`` -> ``p99_9``, also after an operation prefix (``cancel.p99.9`` -> ``cancel.p99_9``)."""
    return canonical_name(name)


OPERATORS = ("<", "<=", ">", ">=")

COMPLEXITY_CLASSES = ("O(1)", "O(log n)", "O(n)", "O(n log n)", "O(n^2)")
_COMPLEXITY_KEYS = {"o(1)": 0, "o(logn)": 1, "o(n)": 2, "o(nlogn)": 3, "o(n^2)": 4, "o(n²)": 4}

_EXPECTED = {
    "duration": "a duration with a unit such as '50ms' or '250us'",
    "rate": "a rate such as '1000/s'",
    "fraction": "a percentage such as '0.1%'",
    "complexity": f"a complexity class ({', '.join(COMPLEXITY_CLASSES)})",
}
_THRESHOLD_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|==|!=|=|<|>)\s*(.*?)\s*$")
_BARE_NUMBER_RE = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def parse_complexity(text: str) -> str:
    """Return the canonical class (``'O(log n)'``) for text like ``'O(logn)'``; ValueError otherwise."""
    key = re.sub(r"\s+", "", text).lower().replace("**", "^")
    if key not in _COMPLEXITY_KEYS:
        raise ValueError(f"expected {_EXPECTED['complexity']}, got {text!r}")
    return COMPLEXITY_CLASSES[_COMPLEXITY_KEYS[key]]


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold: ``limit`` in µs, per second, a fraction, or a complexity class."""

    metric: str
    op: str
    limit: float | str
    text: str

    @property
    def kind(self) -> MetricKind:
        """What kind of value the metric holds."""
        kind = metric_kind(self.metric)
        assert kind is not None  # parse_threshold only builds thresholds on known metrics
        return kind

    @property
    def upper_bound(self) -> bool:
        """True when smaller observed values are better (``<`` and ``<=``)."""
        return self.op in ("<", "<=")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: metric, op, limit (in the stored unit) and the original text."""
        return {"metric": self.metric, "op": self.op, "limit": self.limit, "text": self.text}


@dataclass(frozen=True)
class Verdict:
    """A threshold judged against an observed figure; ``headroom_pct`` > 0 means room to spare."""

    threshold: Threshold
    observed: float | str | None
    passed: bool
    headroom_pct: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for result files."""
        return {
            **self.threshold.to_dict(),
            "observed": self.observed,
            "passed": self.passed,
            "headroom_pct": self.headroom_pct,
            "note": self.note,
        }


def _parse_limit(metric: str, text: str) -> float | str:
    kind = metric_kind(metric)
    assert kind is not None
    if not text:
        raise ValueError(f"{metric} expects {_EXPECTED[kind]} after the comparison, got nothing")
    try:
        if kind == "duration":
            if _BARE_NUMBER_RE.match(text):
                raise ValueError("no unit")  # a bare number is ambiguous for latency: ms or µs?
            return parse_duration_us(text)
        if kind == "rate":
            return parse_rate_per_s(text)
        if kind == "fraction":
            return parse_percent(text)
        return parse_complexity(text)
    except ValueError:
        raise ValueError(f"{metric} expects {_EXPECTED[kind]}, got {text!r}") from None


def parse_threshold(text: str) -> Threshold:
    """Parse ``"p99 < 50ms"``; raise ValueError naming what was expected."""
    if not isinstance(text, str):
        raise ValueError(f"expected a threshold string such as 'p99 < 50ms', got {text!r}")
    match = _THRESHOLD_RE.match(text)
    if not match:
        raise ValueError(f"expected a threshold such as 'p99 < 50ms' (METRIC OP VALUE), got {text!r}")
    name, op, value = match.groups()
    metric = canonical_metric(name)
    if metric_kind(metric) is None:
        raise ValueError(f"unknown metric {name!r} in {text!r}; expected one of {', '.join(METRICS)}, "
                         "OPERATION.METRIC (e.g. cancel.p99) or a figure named with its unit (_us, _rps, _share)")
    if op not in OPERATORS:
        raise ValueError(f"unsupported comparison {op!r} in {text!r}; expected one of {', '.join(OPERATORS)}")
    try:
        limit = _parse_limit(metric, value)
    except ValueError as exc:
        raise ValueError(f"{exc} (in {text!r})") from None
    return Threshold(metric=metric, op=op, limit=limit, text=text.strip())


def _compare(observed: float, op: str, limit: float) -> bool:
    if op == "<":
        return observed < limit
    if op == "<=":
        return observed <= limit
    if op == ">":
        return observed > limit
    return observed >= limit


def _headroom_pct(threshold: Threshold, observed: float, limit: float) -> float | None:
    """How far observed is on the good side of the limit, in percent of the limit."""
    margin = limit - observed if threshold.upper_bound else observed - limit
    if limit == 0:
        return 0.0 if margin == 0 else None  # no scale to express it in
    return 100.0 * margin / abs(limit)


def _failed(threshold: Threshold, observed: float | str | None, note: str) -> Verdict:
    return Verdict(threshold, observed, passed=False, headroom_pct=None, note=note)


def evaluate(threshold: Threshold, observed: float | str | None) -> Verdict:
    """Judge one threshold; ``observed`` None (not measured) or of the wrong kind fails with a note."""
    if observed is None:
        return _failed(threshold, None, f"{threshold.metric} was not measured")
    if threshold.kind == "complexity":
        if not isinstance(observed, str):
            return _failed(threshold, observed, f"expected a complexity class, got {observed!r}")
        try:
            seen = parse_complexity(observed)
        except ValueError as exc:
            return _failed(threshold, observed, str(exc))
        rank_seen = COMPLEXITY_CLASSES.index(seen)
        rank_limit = COMPLEXITY_CLASSES.index(str(threshold.limit))
        # Classes are ordinal, not a ratio scale: no percentage headroom.
        return Verdict(threshold, seen, _compare(rank_seen, threshold.op, rank_limit), None)
    if isinstance(observed, bool) or not isinstance(observed, (int, float)):
        return _failed(threshold, observed, f"expected a number for {threshold.metric}, got {observed!r}")
    if math.isnan(observed):
        return _failed(threshold, float(observed), f"{threshold.metric} was not measured (NaN)")
    limit = float(threshold.limit)
    value = float(observed)
    return Verdict(threshold, value, _compare(value, threshold.op, limit), _headroom_pct(threshold, value, limit))


def evaluate_all(thresholds: Iterable[Threshold], figures: Mapping[str, float | str]) -> list[Verdict]:
    """Judge every threshold against ``figures[metric]`` (missing figures fail)."""
    return [evaluate(threshold, figures.get(threshold.metric)) for threshold in thresholds]


def format_figure(metric: str, value: float | str | None) -> str:
    """Human form of a figure or limit of ``metric`` ('40.00ms', '1,500/s', '0.05%', 'O(n)')."""
    if value is None:
        return "-"
    kind = metric_kind(metric)
    if isinstance(value, str) or kind is None or kind == "complexity":
        return str(value)
    if kind == "duration":
        return format_duration_us(float(value))
    if kind == "rate":
        return format_rate(float(value))
    return f"{100.0 * float(value):.3g}%"
