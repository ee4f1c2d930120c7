"""How one bisect step's A/B verdict moves the search: bad, good, or not decided.

A step compares a candidate commit with the known-good one, and the search needs to know which
of the two known levels (good's, or bad's as the first step measured it) the candidate is at.
``ab``'s significance test against good is not that question. "No significant change" only says
the rounds did not prove a regression (a regression smaller than the rounds resolve looks the
same); "regression" only says the candidate differs from good, and on a busy machine a build
identical to good can differ by a few percent. Either taken alone sends the search past or short
of the culprit and names a wrong commit. So a step classifies the candidate's confidence interval
against the midpoint between good and bad (half the change the first step measured): wholly on
good's side is good, wholly on bad's side is bad, straddling it is undecided (the caller re-runs
the step with more rounds, then stops as inconclusive), which is never a wrong answer.
"""

from __future__ import annotations

from hftperf.compare.stats import Verdict

__all__ = ["range_verdict", "step_verdict"]

_GOOD = (Verdict.UNCHANGED.value, Verdict.IMPROVEMENT.value)
_UNDECIDED = (Verdict.INSUFFICIENT.value, Verdict.INCONCLUSIVE.value)


def step_verdict(verdict: str, ci: tuple[float | None, float | None], bad_change: float | None) -> str:
    """The search's verdict of a step: bad (``regression``), good (``ab``'s own good verdict, else
    ``no significant change``) or ``insufficient data``.

    ``ci`` is the candidate's change against good (percent, signed as measured); ``bad_change``
    is the first step's change of bad against good (None: this is the first step itself, whose
    verdict is ``ab``'s). A verdict ``ab`` could not reach (starved, too few rounds) stays.
    """
    if verdict in _UNDECIDED or bad_change is None or bad_change == 0:
        return verdict
    low, high = ci
    if low is None or high is None:
        return Verdict.INSUFFICIENT.value
    if bad_change < 0:  # a metric that drops when worse (throughput): measure towards bad as positive
        low, high = -high, -low
    midpoint = abs(bad_change) / 2.0
    if high < midpoint:
        return verdict if verdict in _GOOD else Verdict.UNCHANGED.value
    if low > midpoint:
        return Verdict.REGRESSION.value
    return Verdict.INSUFFICIENT.value


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
