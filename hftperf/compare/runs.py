"""``hftperf compare`` without the command line: two results directories in, a Comparison out."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from hftperf.compare.metrics import METRICS, Tolerances
from hftperf.compare.model import Comparison, MetricComparison
from hftperf.compare.samples import ScenarioSamples, choose_source, metrics_of, scenario_samples
from hftperf.compare.stats import (
    MIN_SAMPLES,
    Estimate,
    Verdict,
    adjust_p_values,
    independent,
    paired,
    proportions,
    smallest_p_value,
    verdict,
)
from hftperf.environment import metadata_mismatches
from hftperf.errors import DataError
from hftperf.instrument import diagnose
from hftperf.result import RESULT_FILE, RunResult, ScenarioResult, load_result

__all__ = ["DEFAULT_ALPHA", "compare_runs", "compare_samples", "inconclusive", "power_note", "results_dir_of",
           "starved_reason"]

DEFAULT_ALPHA = 0.05


def results_dir_of(path: Path) -> Path:
    """The results directory of a path that is one, or a ``result.json`` inside one."""
    path = Path(path)
    return path if path.is_dir() else path.parent


def compare_samples(scenario: str, kind: str, base: ScenarioSamples, head: ScenarioSamples, *,
                    is_paired: bool, tolerances: Tolerances, alpha: float) -> list[MetricComparison]:
    """Test every metric of one scenario, adjust the p-values together, give each a verdict."""
    estimates: list[tuple[str, Estimate]] = []
    for name in metrics_of(kind):
        metric = METRICS[name]
        if name == "error_rate" and base.source in ("intervals", "single"):
            estimate = proportions(base.failed, base.requests, head.failed, head.requests)
        else:
            a, b = base.values.get(name, []), head.values.get(name, [])
            if min(len(a), len(b)) < MIN_SAMPLES:  # untestable: show the runs' own values
                a, b = base.per_run.get(name, []), head.per_run.get(name, [])
                if not a or not b:
                    continue
            test = paired if is_paired else independent
            estimate = test(a, b, absolute=metric.absolute, confidence=1 - alpha)
        estimates.append((name, estimate))
    adjusted = adjust_p_values([e.p_value for _, e in estimates])
    return [
        MetricComparison(scenario, name, base.source, estimate, p_adj, tolerances.of(name),
                         verdict(METRICS[name], estimate, p_adj, tolerances.of(name), alpha))
        for (name, estimate), p_adj in zip(estimates, adjusted, strict=True)
    ]


def starved_reason(sides: Sequence[tuple[str, Sequence[ScenarioResult]]]) -> str | None:
    """Why a comparison of these samples cannot be a verdict: the first sample whose load generator fell behind.

    The machine's CPU steal alone does not void a sample here: a comparison judges machine noise by
    the spread of its own rounds or repeats (``hftperf.instrument``).
    """
    for side, results in sides:
        for result in results:
            diagnosis = diagnose(result)
            if diagnosis is not None and diagnosis.pacer_late:
                repeat = f" (repeat {result.repeat_index + 1})" if len(results) > 1 else ""
                return f"{side}{repeat}: {diagnosis.sentence}"
    return None


def inconclusive(metrics: Sequence[MetricComparison], reason: str | None) -> list[MetricComparison]:
    """The metrics unchanged, or every verdict INCONCLUSIVE with ``reason`` when there is one."""
    if reason is None:
        return list(metrics)
    return [dataclasses.replace(m, verdict=Verdict.INCONCLUSIVE, reason=reason) for m in metrics]


def power_note(scenario: str, source: str, n_base: int, n_head: int, alpha: float) -> str | None:
    """A warning when these sample sizes cannot reach significance at ``alpha`` at all."""
    if source not in ("repeats", "rounds") or min(n_base, n_head) < 1:
        return None
    is_paired = source == "rounds"
    if smallest_p_value(n_base, n_head, is_paired) < alpha:
        return None
    what = "rounds" if is_paired else "repeats per side"
    need = next(n for n in range(2, 64) if smallest_p_value(n, n, is_paired) < alpha)
    return (f"{scenario}: with {n_base} {what} no change can be significant at alpha {alpha:g}; "
            f"use at least {need}")


def _by_name(run: RunResult) -> dict[str, list[ScenarioResult]]:
    grouped: dict[str, list[ScenarioResult]] = {}
    for result in run.scenarios:
        grouped.setdefault(result.name, []).append(result)
    return grouped


def _warnings(base: RunResult, head: RunResult) -> list[str]:
    notes = [f"environment differs: {line}" for line in metadata_mismatches(base.environment, head.environment)]
    for side, run in (("base", base), ("head", head)):
        if run.interrupted:
            notes.append(f"the {side} run was interrupted: its figures cover part of the plan")
    return notes


def compare_runs(base_path: Path, head_path: Path, *, tolerances: Tolerances | None = None,
                 alpha: float = DEFAULT_ALPHA, window_s: float = 1.0) -> Comparison:
    """Compare two results directories (or result.json files) scenario by scenario.

    DataError when a file is unreadable or of another schema, or when no scenario is common.
    """
    tolerances = tolerances or Tolerances()
    base, head = load_result(base_path), load_result(head_path)
    base_dir, head_dir = results_dir_of(base_path), results_dir_of(head_path)
    base_groups, head_groups = _by_name(base), _by_name(head)
    common = [name for name in base_groups if name in head_groups]
    if not common:
        raise DataError(f"no common scenario: {base_dir / RESULT_FILE} has {', '.join(base_groups) or 'none'}; "
                        f"{head_dir / RESULT_FILE} has {', '.join(head_groups) or 'none'}")
    notes = _warnings(base, head)
    metrics: list[MetricComparison] = []
    for name in common:
        base_results, head_results = base_groups[name], head_groups[name]
        if base_results[0].kind != head_results[0].kind:
            notes.append(f"{name}: kind {base_results[0].kind!r} in base but {head_results[0].kind!r} "
                         "in head; not compared")
            continue
        source = choose_source(base_results, head_results)
        base_samples = scenario_samples(base_results, source, base_dir, window_s)
        head_samples = scenario_samples(head_results, source, head_dir, window_s)
        tested = compare_samples(name, base_results[0].kind, base_samples, head_samples, is_paired=False,
                                 tolerances=tolerances, alpha=alpha)
        metrics += inconclusive(tested, starved_reason([("base", base_results), ("head", head_results)]))
        note = power_note(name, source, len(base_results), len(head_results), alpha)
        if note:
            notes.append(note)
    return Comparison(
        mode="compare",
        base_label=f"{base.label} ({base_dir})",
        head_label=f"{head.label} ({head_dir})",
        alpha=alpha,
        metrics=tuple(metrics),
        only_in_base=tuple(n for n in base_groups if n not in head_groups),
        only_in_head=tuple(n for n in head_groups if n not in base_groups),
        warnings=tuple(notes),
    )
