"""A bisect step calls a candidate good (bad) only when it is measurably closer to good (bad)."""

from __future__ import annotations

import pytest

from hftperf.compare.bisect_step import range_verdict, step_verdict
from hftperf.compare.stats import Verdict

UNCHANGED, REGRESSION = Verdict.UNCHANGED.value, Verdict.REGRESSION.value
INSUFFICIENT, IMPROVEMENT = Verdict.INSUFFICIENT.value, Verdict.IMPROVEMENT.value


@pytest.mark.parametrize(
    ("verdict", "ci", "bad_change", "expected"),
    [
        (UNCHANGED, (-2.0, 3.0), None, UNCHANGED),  # the first step (good vs bad itself): ab's verdict
        (UNCHANGED, (-2.0, 3.0), 30.0, UNCHANGED),  # well below the midpoint (15%): good
        (UNCHANGED, (-1.0, 16.0), 30.0, INSUFFICIENT),  # the interval reaches past the midpoint: undecided
        (UNCHANGED, (None, None), 30.0, INSUFFICIENT),
        (IMPROVEMENT, (-9.0, -4.0), 30.0, IMPROVEMENT),
        (REGRESSION, (20.0, 40.0), 30.0, REGRESSION),  # wholly past the midpoint: bad
        (REGRESSION, (4.0, 12.0), 370.0, UNCHANGED),  # "slower than good", yet far closer to good than to bad
        (UNCHANGED, (200.0, 260.0), 370.0, REGRESSION),  # the rounds' test missed it; the levels did not
        (REGRESSION, (10.0, 40.0), 30.0, INSUFFICIENT),  # straddles the midpoint: undecided
        (Verdict.INCONCLUSIVE.value, (200.0, 260.0), 370.0, Verdict.INCONCLUSIVE.value),  # starved: never a call
        (REGRESSION, (-60.0, -30.0), -40.0, REGRESSION),  # throughput down past half the range's drop
        (INSUFFICIENT, (-2.0, 3.0), 30.0, INSUFFICIENT),
        (UNCHANGED, (-3.0, 2.0), -40.0, UNCHANGED),  # a metric that drops when worse (throughput)
        (UNCHANGED, (-25.0, 2.0), -40.0, INSUFFICIENT),
    ],
)
def test_step_verdict(verdict: str, ci: tuple[float | None, float | None], bad_change: float | None,
                      expected: str) -> None:
    assert step_verdict(verdict, ci, bad_change) == expected


@pytest.mark.parametrize(
    ("verdict", "ci", "higher_is_worse", "expected"),
    [
        (UNCHANGED, (-3.0, 4.0), True, UNCHANGED),  # the interval rules out more than the 5% tolerance
        (UNCHANGED, (-40.0, 600.0), True, INSUFFICIENT),  # +292% the rounds could not prove: undecided
        (UNCHANGED, (None, None), True, INSUFFICIENT),
        (UNCHANGED, (-4.0, 30.0), False, UNCHANGED),  # throughput: only a drop is worse
        (UNCHANGED, (-30.0, 4.0), False, INSUFFICIENT),
        (REGRESSION, (200.0, 400.0), True, REGRESSION),
    ],
)
def test_range_verdict(verdict: str, ci: tuple[float | None, float | None], higher_is_worse: bool,
                       expected: str) -> None:
    assert range_verdict(verdict, ci, 5.0, higher_is_worse) == expected
