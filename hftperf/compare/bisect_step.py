"""How one bisect step's A/B verdict moves the search: bad, good, or not decided.

A step compares a candidate commit with the known-good one. ``ab``'s verdict alone is not enough
to call a candidate *good*: "no significant change" only says the rounds did not prove a
regression, and a regression smaller than the rounds can resolve looks like that too; calling
such a candidate good sends the search past the culprit and names a wrong commit. So a candidate
is good only when its confidence interval also lies on the good side of the midpoint between
good and bad (half of the change the first step measured between them): it is measurably
closer to good than to bad. Otherwise the step is undecided (the caller re-runs it with more
rounds, then stops as inconclusive), which is never a wrong answer.
"""

from __future__ import annotations

from hftperf.compare.stats import Verdict

__all__ = ["range_verdict", "step_verdict"]

_GOOD = (Verdict.UNCHANGED.value, Verdict.IMPROVEMENT.value)


def step_verdict(verdict: str, ci: tuple[float | None, float | None], bad_change: float | None) -> str:
    """The search's verdict of a step: ``verdict`` (ab's), unless it says good without separation.

    ``ci`` is the candidate's change against good (percent, signed as measured); ``bad_change``
    is the first step's change of bad against good (None: this is the first step itself).
    """
    if verdict not in _GOOD or bad_change is None or bad_change == 0:
        return verdict
    low, high = ci
    if low is None or high is None:
        return Verdict.INSUFFICIENT.value
    midpoint = bad_change / 2.0
    separated = high < midpoint if bad_change > 0 else low > midpoint
    return verdict if separated else Verdict.INSUFFICIENT.value


def range_verdict(verdict: str, ci: tuple[float | None, float | None], tolerance: float,
                  higher_is_worse: bool) -> str:
    """The first step's verdict (bad against good): "no regression" only when the interval rules one out.

    A range is called free of regressions only when the worse end of the change's interval stays
    within ``tolerance``; a large change that the rounds could not prove (a noisy machine) is
    undecided, not "no regression".
    """
    if verdict not in _GOOD:
        return verdict
    low, high = ci
    if low is None or high is None:
        return Verdict.INSUFFICIENT.value
    worse = high if higher_is_worse else -low
    return verdict if worse <= tolerance else Verdict.INSUFFICIENT.value
