"""``hftperf ab`` without the command line: interleaved rounds against two live targets.

Each round measures both targets back to back, so a change of the machine's speed (another job,
thermal state, a noisy neighbour) hits A and B alike and cancels in the per-round ratio B/A.
The order alternates (A B, B A, A B, ...): whichever side runs second in a round might profit
from caches warmed or suffer from heat left by the first, and alternating cancels that too.
Rounds before ``warmup_rounds`` are measured but not compared (servers warm up: lazy imports,
connection pools, page cache).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hftperf.compare.metrics import Tolerances
from hftperf.compare.model import Comparison, MetricComparison
from hftperf.compare.runs import DEFAULT_ALPHA, compare_samples, inconclusive, power_note, starved_reason
from hftperf.compare.samples import ScenarioSamples, metrics_of, run_values
from hftperf.compare.stats import MIN_SAMPLES
from hftperf.config import ScenarioConfig
from hftperf.loadgen import Executor, LoadPlan, run_load
from hftperf.redact import redact_url
from hftperf.result import ScenarioResult
from hftperf.scenario_results import ADHOC_KIND, load_outcome, scenario_result
from hftperf.scenarios import REGISTRY, RunContext

__all__ = ["AbRound", "Measure", "compare_rounds", "load_measure", "run_ab", "scenario_measure"]

Measure = Callable[[str], ScenarioResult]  # measure one target URL once


@dataclass(frozen=True)
class AbRound:
    """One round: both sides' results and which ran first."""

    index: int
    a_first: bool
    a: ScenarioResult
    b: ScenarioResult
    warmup: bool = False

    @property
    def interrupted(self) -> bool:
        """True when either side was cut short (Ctrl-C)."""
        return self.a.interrupted or self.b.interrupted


def scenario_measure(config: ScenarioConfig, params: Any, workers: int | None = None,
                     executor: Executor | None = None) -> Measure:
    """Measure a registered scenario against a base URL (on ``executor``'s load workers)."""
    scenario = REGISTRY[config.kind]

    def measure(url: str) -> ScenarioResult:
        outcome = scenario.run(config, params, RunContext(targets={"http": url}, workers=workers, executor=executor))
        return scenario_result(config.name, outcome, scenario_kind=config.kind)

    return measure


def load_measure(plan_for: Callable[[str], LoadPlan], executor: Executor | None = None) -> Measure:
    """Measure an ad-hoc request (as ``hftperf load`` sends it) against a full URL."""

    def measure(url: str) -> ScenarioResult:
        plan = plan_for(url)
        result = run_load(plan, executor=executor)
        return scenario_result(ADHOC_KIND, load_outcome(result), scenario_kind=ADHOC_KIND)

    return measure


def run_ab(measure: Measure, url_a: str, url_b: str, rounds: int, *, warmup_rounds: int = 1,
           on_round: Callable[[AbRound], None] | None = None) -> tuple[list[AbRound], bool]:
    """Measure A and B alternately for ``warmup_rounds + rounds`` rounds.

    Returns the complete rounds and whether the run was interrupted (Ctrl-C, SIGTERM): a round
    cut short is dropped, the rounds before it are kept.
    """
    done: list[AbRound] = []
    try:
        for index in range(warmup_rounds + rounds):
            a_first = index % 2 == 0
            first = measure(url_a if a_first else url_b)
            second = first if first.interrupted else measure(url_b if a_first else url_a)
            a, b = (first, second) if a_first else (second, first)
            current = AbRound(index, a_first, a, b, warmup=index < warmup_rounds)
            if current.interrupted:
                return done, True
            done.append(current)
            if on_round is not None:
                on_round(current)
    except KeyboardInterrupt:
        return done, True
    return done, False


def _side(results: Sequence[ScenarioResult], metrics: Sequence[str]) -> ScenarioSamples:
    per_round = [run_values(r) for r in results]
    values = {m: [v.get(m, math.nan) for v in per_round] for m in metrics}
    return ScenarioSamples("rounds", values, sum(r.failed for r in results), sum(r.requests for r in results), values)


def _round_details(current: AbRound) -> dict[str, Any]:
    """One round as ``--format json`` shows it: both sides' values and their ratios B/A."""
    a, b = run_values(current.a), run_values(current.b)
    ratios = {m: (b[m] / a[m] if a[m] else None) for m in a if m in b and m != "error_rate"}
    order = "ab" if current.a_first else "ba"
    return {"round": current.index, "order": order, "warmup": current.warmup, "a": a, "b": b, "ratio_b_a": ratios}


def compare_rounds(rounds: Sequence[AbRound], url_a: str, url_b: str, *, tolerances: Tolerances | None = None,
                   alpha: float = DEFAULT_ALPHA, interrupted: bool = False) -> Comparison:
    """Paired comparison of the measured (non-warm-up) rounds: B against A.

    A round in which either side's load generator fell behind is left out, pair and all (its numbers
    are not a measurement); only when fewer than MIN_SAMPLES clean rounds remain is every verdict
    INCONCLUSIVE. One starved second then costs one round, not the whole comparison.
    """
    measured = [r for r in rounds if not r.warmup]
    notes = ["interrupted: fewer rounds than planned were compared"] if interrupted else []
    reasons = {r.index: starved_reason([(f"round {r.index + 1} {label}", [result])
                                        for label, result in (("A", r.a), ("B", r.b))]) for r in measured}
    clean = [r for r in measured if reasons[r.index] is None]
    starved = [reason for reason in reasons.values() if reason is not None]
    if starved:
        notes.append(f"{len(starved)} of {len(measured)} rounds left out, the load generator fell behind "
                     f"(first: {starved[0]})")
    used = clean if len(clean) >= MIN_SAMPLES else measured
    note = power_note("ab", "rounds", len(used), len(used), alpha)
    if note:
        notes.append(note)
    metrics: list[MetricComparison] = []
    if measured:
        kind, name = measured[0].a.kind, measured[0].a.name
        wanted = metrics_of(kind)
        metrics = compare_samples(name, kind, _side([r.a for r in used], wanted),
                                  _side([r.b for r in used], wanted), is_paired=True,
                                  tolerances=tolerances or Tolerances(), alpha=alpha)
        if used is not clean:
            metrics = inconclusive(metrics, starved[0] if starved else None)
    details = {"rounds": [_round_details(r) for r in rounds]}
    return Comparison(mode="ab", base_label=f"A {redact_url(url_a)}", head_label=f"B {redact_url(url_b)}", alpha=alpha,
                      metrics=tuple(metrics), warnings=tuple(notes), details=details)
