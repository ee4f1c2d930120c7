"""``hftperf bisect --good REV --bad REV``: the first commit that made a metric worse, by interleaved A/B.

Each step builds and starts two revisions side by side (the ``ab --rev`` machinery: images cached
per commit), the candidate against the known-good revision, and runs interleaved rounds: the drift
between separate runs is what hides small regressions, interleaving cancels it. A step's verdict is
where its interval lies against the midpoint between good and bad (``compare.bisect_step``): wholly
on good's side is good, wholly on bad's side is bad; anything else (straddling, starved, too few
rounds) is re-run once with twice the rounds, then stops the search as inconclusive rather than
guess. The first step checks good against bad itself, so a range without a regression says so.
About log2(n) steps for n commits; every step is printed and, with ``--history``, recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hftperf.cli.ab import AD_HOC, _params, _scenario_config
from hftperf.cli.ab_revs import RevOptions, revision_sides
from hftperf.cli.console import stdout
from hftperf.cli.options import at_least, check_duration, check_positive_duration
from hftperf.compare.ab import compare_rounds, run_ab, scenario_measure
from hftperf.compare.bisect_step import range_verdict, step_verdict
from hftperf.compare.metrics import METRICS, Tolerances, canonical_metric, parse_tolerances
from hftperf.compare.options import AB_TOLERANCE_SCALE
from hftperf.compare.stats import Verdict
from hftperf.errors import ExitCode, UsageError
from hftperf.scenarios import REGISTRY
from hftperf.stacks.revisions import resolve_revision
from hftperf.units import parse_duration_s

__all__ = ["bisect"]

_DECISIVE_ROUNDS = 6  # the fewest paired rounds with which Wilcoxon can reach p < 0.05 (two-sided)


@dataclass(frozen=True)
class Step:
    """One A/B step: the candidate against the good revision."""

    good: str
    candidate: str
    subject: str
    change: float | None
    ci: tuple[float | None, float | None]
    verdict: str


def _commits(repo: Path, good: str, bad: str) -> list[tuple[str, str]]:
    """(sha, subject) from just after ``good`` to ``bad``, oldest first; UsageError for a bad range."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)

    if good == bad:
        raise UsageError("--good and --bad name the same commit: there is nothing to bisect")
    if git("merge-base", "--is-ancestor", good, bad).returncode != 0:
        raise UsageError(f"--good {good[:12]} is not an ancestor of --bad {bad[:12]} (is --bad older than --good?)")
    listed = git("rev-list", "--reverse", "--ancestry-path", "--format=%s", f"{good}..{bad}").stdout.splitlines()
    commits, sha = [], None
    for line in listed:
        if line.startswith("commit "):
            sha = line.split()[1]
        elif sha is not None:
            commits.append((sha, line))
            sha = None
    return commits


def bisect(
    good: Annotated[str, typer.Option("--good", help="A revision without the regression")],
    bad: Annotated[str, typer.Option("--bad", help="A later revision with it")],
    scenario: Annotated[str, typer.Option("--scenario", "-s", help="Registry kind or a name in --config")],
    metric: Annotated[str, typer.Option("--metric", help="The metric that got worse (p50, p99, ...)")] = "p50",
    repo: Annotated[Path, typer.Option("--repo", help="The git checkout")] = Path("."),
    compose_file: Annotated[Path | None, typer.Option(
        "--compose-file", help="Compose file in the repository (default: hftperf's bundled stack)")] = None,
    service: Annotated[str | None, typer.Option("--service", help="The HTTP target service")] = None,
    base_image: Annotated[str | None, typer.Option("--base-image", envvar="HFTPERF_DOCKER_BASE_IMAGE",
                                                   help="Base of the bundled stack image")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Scenario key KEY=VALUE")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-f", help="Scenarios and [compare] from here")] = None,
    rounds: Annotated[int, typer.Option("--rounds", "-k", callback=at_least(6, "a step needs 6 to decide"),
                                        help="Measured rounds per step (the step's budget)")] = 10,
    round_duration: Annotated[str, typer.Option("--round-duration", callback=check_positive_duration,
                                                help="Measured time per side and round")] = "1s",
    warmup: Annotated[str, typer.Option("--warmup", callback=check_duration, help="Warm-up per side")] = "0.3s",
    tolerance: Annotated[list[str] | None, typer.Option("--tolerance", "-t", help="METRIC=PCT")] = None,
    history: Annotated[str | None, typer.Option("--history", help="Record every step in this history")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines")] = False,
) -> int:
    """Find the first commit between --good and --bad at which --metric of --scenario got worse."""
    if scenario == AD_HOC:
        raise UsageError(f"--scenario {AD_HOC} sends to a full URL; bisect needs a scenario")
    if (compose_file is None) != (service is None):
        raise UsageError("--compose-file and --service go together (neither: hftperf's bundled stack)")
    try:
        metric = canonical_metric(metric)
    except ValueError as exc:
        raise UsageError(f"--metric: {exc}") from None
    good_rev, bad_rev = resolve_revision(repo, good), resolve_revision(repo, bad)
    commits = _commits(repo, good_rev.commit, bad_rev.commit)
    warmup_s, duration_s = parse_duration_s(warmup), parse_duration_s(round_duration)
    chosen = _scenario_config(scenario, config, _params(param or []), warmup_s, duration_s, None)
    parsed: Any = chosen.parse_params(REGISTRY[chosen.kind].params_type)
    tolerances = Tolerances().scaled(AB_TOLERANCE_SCALE).with_overrides(
        parse_tolerances(tolerance or [], "--tolerance"))
    steps: list[Step] = []  # every measurement (a re-run of a step is one more), as recorded in the history
    tested: list[str] = []  # the candidates, one per step
    reference: list[float | None] = []  # the first step's decisive change of bad against good

    def step(candidate: str, subject: str) -> str:
        tested.append(candidate)
        verdict = _step(candidate, subject, rounds)
        if verdict in (Verdict.INCONCLUSIVE.value, Verdict.INSUFFICIENT.value):  # a busy machine: once more,
            verdict = _step(candidate, subject, rounds * 2)  # with twice the rounds, then give up
        return verdict

    def _step(candidate: str, subject: str, budget: int) -> str:
        options = RevOptions((good_rev.commit, candidate), repo, compose_file, service, False, base_image)
        with revision_sides(options, quiet=True) as sides:
            done, interrupted = run_ab(scenario_measure(chosen, parsed), sides.url_a, sides.url_b, budget,
                                       warmup_rounds=1)
        comparison = compare_rounds(done, sides.label_a, sides.label_b, tolerances=tolerances,
                                    interrupted=interrupted)
        found = [m for m in comparison.metrics if m.metric == metric]
        verdict = found[0].verdict.value if found else Verdict.INSUFFICIENT.value
        e = found[0].estimate if found else None
        if verdict == Verdict.UNCHANGED.value and (e is None or e.n_base < _DECISIVE_ROUNDS):
            # too few clean rounds for the paired test to reach significance at all: "unchanged" would be
            # a guess, and calling a bad commit good sends the search the wrong way
            verdict = Verdict.INSUFFICIENT.value
        interval = (e.ci_low, e.ci_high) if e else (None, None)
        ab_verdict = verdict
        if reference:
            verdict = step_verdict(verdict, interval, reference[0])
        elif found:  # the first step: "no regression" must rule one out, not just fail to prove it
            verdict = range_verdict(verdict, interval, found[0].tolerance, METRICS[metric].higher_is_worse)
        steps.append(Step(good_rev.commit, candidate, subject, e.change if e else None,
                          (e.ci_low, e.ci_high) if e else (None, None), verdict))
        if not quiet:
            change = f"{e.change:+.1f}%" if e and e.change is not None else "-"
            again = f" (re-run, {budget} rounds)" if budget != rounds else ""
            stdout.out(f"step {len(tested)}{again}: {candidate[:12]} {subject!r} vs good {good_rev.commit[:12]}: "
                       f"{metric} {change} -> {verdict}"
                       + (f" (ab alone: {ab_verdict}; judged against half the range's change)"
                          if ab_verdict != verdict else ""), highlight=False)
        if interrupted:
            raise KeyboardInterrupt
        return verdict

    first = step(bad_rev.commit, commits[-1][1] if commits else bad_rev.subject)
    reference.append(steps[-1].change)
    if first != Verdict.REGRESSION.value:
        outcome = ("no regression" if first in (Verdict.UNCHANGED.value, Verdict.IMPROVEMENT.value)
                   else "inconclusive")
        stdout.out(f"bisect: {outcome} of {metric} between {good_rev.commit[:12]} and {bad_rev.commit[:12]} "
                   f"({first})", highlight=False)
        _record(history, steps, scenario, metric)
        return int(ExitCode.OK if outcome == "no regression" else ExitCode.INCONCLUSIVE)
    low, high = -1, len(commits) - 1  # commits[high] is known bad; everything up to low known good
    while high - low > 1:
        middle = (low + high) // 2
        verdict = step(*commits[middle])
        if verdict == Verdict.REGRESSION.value:
            high = middle
        elif verdict in (Verdict.UNCHANGED.value, Verdict.IMPROVEMENT.value):
            low = middle
        else:
            stdout.out(f"bisect: inconclusive at {commits[middle][0][:12]} ({verdict}): the step could not decide "
                       f"within {rounds} rounds; raise --rounds or --round-duration", highlight=False)
            _record(history, steps, scenario, metric)
            return int(ExitCode.INCONCLUSIVE)
    sha, subject = commits[high]
    stdout.out(f"bisect: first bad commit {sha[:12]} {subject!r} ({_steps_phrase(len(tested), len(steps))}, {metric})",
               highlight=False)
    _record(history, steps, scenario, metric)
    return int(ExitCode.FAILED)


def _steps_phrase(candidates: int, measurements: int) -> str:
    """``4 steps`` or ``4 steps, 1 re-run`` (a step re-run with twice the rounds)."""
    reruns = measurements - candidates
    return f"{candidates} steps" + (f", {reruns} re-run{'s' if reruns > 1 else ''}" if reruns else "")


def _record(history: str | None, steps: list[Step], scenario: str, metric: str) -> None:
    """Every step as one run of the history (source "bisect"), keyed by the candidate commit."""
    if history is None:
        return
    import json

    from hftperf.environment import collect_environment, utc_now_iso
    from hftperf.history import open_history
    from hftperf.history.record import machine_fingerprint

    machine, machine_doc = machine_fingerprint(collect_environment(None, "ab", None, None))
    with open_history(history) as store:
        for s in steps:
            store.add_run({"recorded_at": utc_now_iso(), "source": "bisect", "label": f"bisect {scenario}",
                           "commit_sha": s.candidate, "commit_time": None, "commit_subject": s.subject,
                           "branch": None, "machine": machine, "machine_json": json.dumps(machine_doc),
                           "config_hash": f"bisect-{scenario}", "hftperf_version": machine_doc.get("hftperf_version"),
                           "results_dir": None},
                          [{"scenario": scenario, "kind": "ab", "metric": f"{metric}_change_pct", "value": s.change,
                            "sample_source": "rounds", "samples": [v for v in s.ci if v is not None]}])
