"""Thresholds: parsing (kinds, units, errors) and evaluation (pass/fail, headroom, missing figures)."""

from __future__ import annotations

import math

import pytest

from hftperf.thresholds import (
    COMPLEXITY_CLASSES,
    METRICS,
    Threshold,
    evaluate,
    evaluate_all,
    format_figure,
    parse_complexity,
    parse_threshold,
)

# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p99 < 50ms", "p99", "<", 50_000.0),
        ("p50<10ms", "p50", "<", 10_000.0),
        ("  p90   <=  250us ", "p90", "<=", 250.0),
        ("p99_9 < 1s", "p99_9", "<", 1_000_000.0),
        ("p99.9 < 2ms", "p99_9", "<", 2_000.0),
        ("max <= 0.5s", "max", "<=", 500_000.0),
        ("mean < 1.5ms", "mean", "<", 1_500.0),
        ("throughput_rps >= 10000/s", "throughput_rps", ">=", 10_000.0),
        ("throughput_rps > 600000/m", "throughput_rps", ">", 10_000.0),
        ("capacity_rps >= 1000", "capacity_rps", ">=", 1_000.0),
        ("error_rate < 0.1%", "error_rate", "<", 0.001),
        ("error_rate <= 0%", "error_rate", "<=", 0.0),
        ("error_rate <= 0.5 %", "error_rate", "<=", 0.005),
        ("complexity <= O(log n)", "complexity", "<=", "O(log n)"),
        ("complexity < o(N)", "complexity", "<", "O(n)"),
    ],
)
def test_parse_threshold(text: str, metric: str, op: str, limit: float | str) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op) == (metric, op)
    if isinstance(limit, float):
        assert threshold.limit == pytest.approx(limit)
    else:
        assert threshold.limit == limit
    assert threshold.text == text.strip()
    assert threshold.kind == METRICS[metric]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p99 < 1000/s", "p99 expects a duration with a unit such as '50ms'"),
        ("p99 < 50", "p99 expects a duration with a unit"),
        ("p50 < 10%", "p50 expects a duration"),
        ("throughput_rps >= 50ms", "throughput_rps expects a rate such as '1000/s', got '50ms'"),
        ("capacity_rps >= 0.1%", "capacity_rps expects a rate"),
        ("error_rate < 10ms", "error_rate expects a percentage such as '0.1%', got '10ms'"),
        ("error_rate < 150%", "error_rate expects a percentage"),
        ("error_rate < 0.001", "error_rate expects a percentage"),
        ("complexity <= O(n^3)", "complexity expects a complexity class (O(1), O(log n)"),
        ("complexity <= 10ms", "complexity expects a complexity class"),
        ("p98 < 10ms", "unknown metric 'p98'"),
        ("p99 == 10ms", "unsupported comparison '=='"),
        ("p99 = 10ms", "unsupported comparison '='"),
        ("p99 10ms", "expected a threshold such as 'p99 < 50ms'"),
        ("", "expected a threshold such as 'p99 < 50ms'"),
        ("p99 <", "p99 expects a duration with a unit such as '50ms' or '250us' after the comparison"),
    ],
)
def test_parse_threshold_errors(text: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold(text)
    assert expected in str(info.value)


def test_parse_threshold_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="expected a threshold string"):
        parse_threshold(50)  # type: ignore[arg-type]


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold("latency < 5ms")
    assert all(metric in str(info.value) for metric in METRICS)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("O(1)", "O(1)"), ("o(logn)", "O(log n)"), ("O( n log n )", "O(n log n)"), ("O(n**2)", "O(n^2)"),
     ("O(n²)", "O(n^2)")],
)
def test_parse_complexity(text: str, canonical: str) -> None:
    assert parse_complexity(text) == canonical


# -- evaluation ----------------------------------------------------------------------------


def test_upper_bound_headroom() -> None:
    verdict = evaluate(parse_threshold("p99 < 50ms"), 40_000.0)
    assert verdict.passed
    assert verdict.headroom_pct == pytest.approx(20.0)
    failed = evaluate(parse_threshold("p99 < 50ms"), 60_000)
    assert not failed.passed
    assert failed.headroom_pct == pytest.approx(-20.0)


def test_lower_bound_headroom() -> None:
    verdict = evaluate(parse_threshold("throughput_rps >= 1000/s"), 1500.0)
    assert verdict.passed
    assert verdict.headroom_pct == pytest.approx(50.0)
    failed = evaluate(parse_threshold("capacity_rps >= 1000/s"), 800.0)
    assert not failed.passed
    assert failed.headroom_pct == pytest.approx(-20.0)


@pytest.mark.parametrize(("op", "passed"), [("<", False), ("<=", True), (">", False), (">=", True)])
def test_boundary_is_inclusive_only_for_or_equal(op: str, passed: bool) -> None:
    metric = "p99" if op.startswith("<") else "throughput_rps"
    value = "50ms" if metric == "p99" else "50/s"
    observed = 50_000.0 if metric == "p99" else 50.0
    verdict = evaluate(parse_threshold(f"{metric} {op} {value}"), observed)
    assert verdict.passed is passed
    assert verdict.headroom_pct == 0.0


def test_error_rate_fraction_and_zero_limit() -> None:
    assert evaluate(parse_threshold("error_rate < 0.1%"), 0.0005).headroom_pct == pytest.approx(50.0)
    assert not evaluate(parse_threshold("error_rate < 0.1%"), 0.002).passed
    zero = parse_threshold("error_rate <= 0%")
    assert evaluate(zero, 0.0).passed and evaluate(zero, 0.0).headroom_pct == 0.0
    nonzero = evaluate(zero, 0.01)
    assert not nonzero.passed and nonzero.headroom_pct is None


@pytest.mark.parametrize(
    ("limit", "observed", "passed"),
    [("O(log n)", "O(1)", True), ("O(log n)", "O(log n)", True), ("O(log n)", "O(n)", False),
     ("O(n)", "O(n^2)", False), ("O(n)", "o(nlogn)", False)],
)
def test_complexity_is_ordered(limit: str, observed: str, passed: bool) -> None:
    verdict = evaluate(parse_threshold(f"complexity <= {limit}"), observed)
    assert verdict.passed is passed
    assert verdict.headroom_pct is None
    assert verdict.observed in COMPLEXITY_CLASSES


def test_strict_complexity_comparison() -> None:
    assert not evaluate(parse_threshold("complexity < O(log n)"), "O(log n)").passed
    assert evaluate(parse_threshold("complexity > O(1)"), "O(n)").passed


@pytest.mark.parametrize(
    ("text", "observed", "note"),
    [
        ("p99 < 50ms", None, "p99 was not measured"),
        ("p99 < 50ms", math.nan, "not measured (NaN)"),
        ("p99 < 50ms", "fast", "expected a number for p99"),
        ("p99 < 50ms", True, "expected a number for p99"),
        ("complexity <= O(n)", 3.0, "expected a complexity class"),
        ("complexity <= O(n)", "O(n^3)", "expected a complexity class"),
        ("complexity <= O(n)", None, "complexity was not measured"),
    ],
)
def test_unusable_observations_fail_with_a_note(text: str, observed: object, note: str) -> None:
    verdict = evaluate(parse_threshold(text), observed)  # type: ignore[arg-type]
    assert not verdict.passed
    assert verdict.headroom_pct is None
    assert note in verdict.note


def test_evaluate_all_keeps_order_and_fails_missing_figures() -> None:
    thresholds = [parse_threshold(t) for t in ("p50 < 10ms", "throughput_rps >= 10000/s", "error_rate < 0.1%")]
    verdicts = evaluate_all(thresholds, {"p50": 2_000.0, "error_rate": 0.0})
    assert [v.threshold for v in verdicts] == thresholds
    assert [v.passed for v in verdicts] == [True, False, True]
    assert verdicts[1].observed is None and "throughput_rps was not measured" in verdicts[1].note


def test_to_dict_round_trips_the_essentials() -> None:
    verdict = evaluate(parse_threshold("p99 < 50ms"), 40_000.0)
    assert verdict.to_dict() == {
        "metric": "p99", "op": "<", "limit": 50_000.0, "text": "p99 < 50ms",
        "observed": 40_000.0, "passed": True, "headroom_pct": pytest.approx(20.0), "note": "",
    }


def test_threshold_is_frozen_and_hashable() -> None:
    threshold = parse_threshold("p99 < 50ms")
    assert threshold == Threshold("p99", "<", 50_000.0, "p99 < 50ms")
    assert len({threshold, parse_threshold("p99 < 50ms")}) == 1
    with pytest.raises(AttributeError):
        threshold.op = ">"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [("p99", 40_000.0, "40.00ms"), ("throughput_rps", 1500.0, "1,500/s"), ("error_rate", 0.0005, "0.05%"),
     ("complexity", "O(n)", "O(n)"), ("p50", None, "-")],
)
def test_format_figure(metric: str, value: float | str | None, text: str) -> None:
    assert format_figure(metric, value) == text


@pytest.mark.parametrize(
    ("text", "metric", "kind", "limit"),
    [
        ("cancel.p99 < 20ms", "cancel.p99", "duration", 20_000.0),
        ("submit.limit.p99.9 <= 5ms", "submit.limit.p99_9", "duration", 5_000.0),
        ("amend.error_rate < 1%", "amend.error_rate", "fraction", 0.01),
        ("stale_share < 2%", "stale_share", "fraction", 0.02),
        ("queue_depth_us < 1ms", "queue_depth_us", "duration", 1_000.0),
        ("fills_rps >= 100/s", "fills_rps", "rate", 100.0),
    ],
)
def test_operation_and_unit_named_metrics(text: str, metric: str, kind: str, limit: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.kind, threshold.limit) == (metric, kind, limit)
    assert evaluate(threshold, None).note == f"{metric} was not measured"


@pytest.mark.parametrize("text", ["stale < 1%", ".p99 < 1ms", "cancel.p98 < 1ms", "_us < 1ms"])
def test_names_that_say_nothing_about_their_unit_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"unknown metric|expected a threshold"):
        parse_threshold(text)
