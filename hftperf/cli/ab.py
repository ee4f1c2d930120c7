"""``hftperf ab``: interleaved A/B of one scenario against two live targets."""

from __future__ import annotations

import contextlib
import signal
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from hftperf.addresses import parse_http_url
from hftperf.cli.ab_revs import (
    Sides,
    default_out,
    record_ab_history,
    rev_options,
    revision_sides,
    write_ab_results,
)
from hftperf.cli.compare import HELP_CONFIG, HELP_FAIL, HELP_FORMAT, HELP_TOLERANCE, exit_code, show
from hftperf.cli.console import stderr
from hftperf.cli.load import HELP_ALLOW_REMOTE, HELP_CLUSTER, build_plan
from hftperf.cli.options import (
    at_least,
    check_alpha,
    check_compare_format,
    check_duration,
    check_method,
    check_positive_duration,
    check_rate,
)
from hftperf.compare.ab import AbRound, Measure, compare_rounds, load_measure, run_ab, scenario_measure
from hftperf.compare.options import AB_TOLERANCE_SCALE, load_compare_options
from hftperf.compare.samples import run_values
from hftperf.config import ScenarioConfig, load_config
from hftperf.environment import utc_now_iso
from hftperf.errors import ExitCode, UsageError
from hftperf.loadgen import Executor, check_reachable, open_executor
from hftperf.redact import redact_url
from hftperf.results_dir import prepare_results_dir
from hftperf.scenario_results import ADHOC_KIND
from hftperf.scenarios import DEFAULT_AB_KIND, REGISTRY
from hftperf.scenarios.base import ab_refusal, request_paths
from hftperf.units import format_duration_us, format_rate, parse_duration_s

__all__ = ["ab"]

AD_HOC = ADHOC_KIND  # the ad-hoc request, as `hftperf load` sends it


def _param_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def _params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE, e.g. connections=8")
        *parents, leaf = key.strip().split(".")
        table = params
        for parent in parents:
            table = table.setdefault(parent, {})
        table[leaf] = _param_value(value.strip())
    return params


def _base_url(url: str, flag: str, own_paths: tuple[str, ...]) -> str:
    """The target's base URL; a URL ending in the scenario's own path (as users curl it) is cut back to its base."""
    try:
        target = parse_http_url(url)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    path = target.path.split("?", 1)[0].rstrip("/")
    if path == "":
        return url.rstrip("/")
    for own in own_paths:
        if path.endswith(own.rstrip("/")) and own.rstrip("/"):
            base, _, rest = url.partition(own.rstrip("/"))
            if rest in ("", "/") or rest.startswith("?"):
                return base + rest.lstrip("/")
    raise UsageError(f"{flag} {redact_url(url)}: this scenario requests {', '.join(own_paths) or 'its own paths'} "
                     f"below a base URL; give the base (no path) or use --scenario {AD_HOC} to send an ad-hoc "
                     "request to a full URL")


def _scenario_config(kind: str, config: Path | None, params: dict[str, Any], warmup_s: float,
                     duration_s: float, target: str | None) -> ScenarioConfig:
    """The scenario from --config (by name), or the registry kind with --param values."""
    if config is not None:
        kinds = {k: t.params_type for k, t in REGISTRY.items()}
        # only the scenarios are read from the file: ab's targets are its URLs (a [run] section may name none)
        # (with --rev the stacks' addresses are not known yet: any valid URL stands in for validation)
        overrides = {"target": target or "http://127.0.0.1:9"}
        for scenario in load_config(config, overrides, known_kinds=kinds).scenarios:
            if scenario.name == kind:
                merged = {**scenario.params, **params}
                return ScenarioConfig(scenario.name, scenario.kind, warmup_s, duration_s, scenario.seed, (),
                                      merged, where=scenario.where)
    if kind not in REGISTRY:
        raise UsageError(f"--scenario {kind!r}: expected one of {', '.join([AD_HOC, *REGISTRY])}"
                         + (f" or a scenario name in {config}" if config else ""))
    return ScenarioConfig(kind, kind, warmup_s, duration_s, 1, (), params, where=f"--scenario {kind}")


def _round_line(current: AbRound, total: int) -> str:
    a, b = run_values(current.a), run_values(current.b)

    def side(values: dict[str, float]) -> str:
        p50 = values.get("p50")
        return f"{format_rate(values['throughput_rps']):>10} p50 {format_duration_us(p50) if p50 else '-':>9}"

    ratio = f"B/A p50 {b['p50'] / a['p50']:.3f}" if a.get("p50") and b.get("p50") else "B/A p50 -"
    tag = " (warm-up)" if current.warmup else ""
    order = "A,B" if current.a_first else "B,A"
    return f"round {current.index + 1}/{total} {order}{tag}:  A {side(a)}  |  B {side(b)}  |  {ratio}"


def ab(
    url_a: Annotated[str | None, typer.Argument(help="Target A (the base), e.g. http://127.0.0.1:8080")] = None,
    url_b: Annotated[str | None, typer.Argument(help="Target B (the head), e.g. http://127.0.0.1:8081")] = None,
    scenario: Annotated[str, typer.Option("--scenario", "-s", help=f"Registry kind, a name in --config, "
                                          f"or '{AD_HOC}' for an ad-hoc request")] = DEFAULT_AB_KIND,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Scenario key KEY=VALUE")] = None,
    rounds: Annotated[int, typer.Option(
            "--rounds", "-k", callback=at_least(3, "a paired test needs them"),
            help="Measured rounds (each A and B; a paired test needs 3)")] = 10,
    round_duration: Annotated[str, typer.Option(
            "--round-duration", help="Measured time per side", callback=check_positive_duration)] = "3s",
    warmup: Annotated[str, typer.Option(
            "--warmup", help="Warm-up per side and round", callback=check_duration)] = "0.5s",
    warmup_rounds: Annotated[int, typer.Option("--warmup-rounds", min=0, help="Rounds run but not compared")] = 1,
    method: Annotated[str, typer.Option(
            "--method", "-m", help=f"{AD_HOC}: HTTP method", callback=check_method)] = "GET",
    body: Annotated[str | None, typer.Option("--body", "-b", help=f"{AD_HOC}: body, or @file")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help=f"{AD_HOC}: NAME:VALUE")] = None,
    connections: Annotated[int, typer.Option("--connections", "-c", min=1, help=f"{AD_HOC}: connections")] = 16,
    rate: Annotated[str | None, typer.Option(
            "--rate", "-R", help=f"{AD_HOC}: open loop rate", callback=check_rate)] = None,
    timeout: Annotated[str, typer.Option(
            "--timeout", help=f"{AD_HOC}: per-request timeout", callback=check_positive_duration)] = "10s",
    fmt: Annotated[str, typer.Option("--format", help=HELP_FORMAT, callback=check_compare_format)] = "table",
    alpha: Annotated[float | None, typer.Option(
            "--alpha", callback=check_alpha,
            help="Significance level, 0 < alpha < 1 (default 0.05)")] = None,
    tolerance: Annotated[list[str] | None, typer.Option("--tolerance", "-t", help=HELP_TOLERANCE)] = None,
    config: Annotated[Path | None, typer.Option("--config", "-f", help=HELP_CONFIG + " and scenarios")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help=HELP_FAIL)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per round")] = False,
    cluster: Annotated[str | None, typer.Option("--cluster", envvar="HFTPERF_CLUSTER", help=HELP_CLUSTER)] = None,
    allow_remote_target: Annotated[bool, typer.Option("--allow-remote-target", help=HELP_ALLOW_REMOTE)] = False,
    rev: Annotated[list[str] | None, typer.Option(
            "--rev", help="A git revision (twice: BASE then HEAD; WORKTREE: the working tree): build and start "
            "each one's stack")] = None,
    repo: Annotated[Path | None, typer.Option("--repo", help="--rev: the git checkout (default: .)")] = None,
    compose_file: Annotated[Path | None, typer.Option(
            "--compose-file", help="--rev: the compose file in the repository (default: the bundled stack)")] = None,
    service: Annotated[str | None, typer.Option("--service", help="--rev: the HTTP target service")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="--rev: leave both stacks running")] = False,
    base_image: Annotated[str | None, typer.Option(
            "--base-image", envvar="HFTPERF_DOCKER_BASE_IMAGE",
            help="--rev without --compose-file: base of the bundled stack image")] = None,
    out: Annotated[Path | None, typer.Option(
            "--out", "-o", help="Results directory (--rev: default results/<time>-ab-<revs>)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the results already in --out")] = False,
    history: Annotated[str | None, typer.Option(
            "--history", help="--rev: append both sides' measured rounds to this history (SQLite file or "
            "postgresql:// URL), each under its commit")] = None,
) -> int:
    """Run a scenario against A and B alternately for K rounds; report per-round ratios B/A and verdicts."""
    revs = rev_options(config, rev or [], repo, compose_file, service, keep, base_image)  # flags over [ab]
    revs.check([url_a, url_b])
    if revs.revs and scenario == AD_HOC:
        raise UsageError(f"--scenario {AD_HOC} sends to a full URL; with --rev choose a scenario (the stacks' "
                         "base URLs are found by hftperf)")
    options = load_compare_options(config, alpha, tolerance or [], default_scale=AB_TOLERANCE_SCALE)
    if history is not None:
        if not revs.revs:
            raise UsageError("--history: needs --rev (each side is recorded under its revision's commit)")
        from hftperf.history import open_history

        open_history(history).close()  # a foreign or corrupt history fails now, before any build or load
    if revs.revs or out is not None:
        out = out or default_out(revs.revs)
        prepare_results_dir(out, force)  # refuse a used directory before building anything
    if scenario == AD_HOC:
        assert url_a is not None and url_b is not None

        def plan_for(url: str):  # type: ignore[no-untyped-def]
            return build_plan(url, method, body, header or [], False, connections, round_duration, rate, None,
                              warmup, timeout)

        plan_for(url_a), plan_for(url_b)  # validate both now

        def measure_on(executor: Executor) -> Measure:
            return load_measure(plan_for, executor)
    else:
        if scenario in REGISTRY and (refusal := ab_refusal(REGISTRY[scenario])):
            raise UsageError(f"--scenario {scenario}: {refusal}")
        try:
            warmup_s, duration_s = parse_duration_s(warmup), parse_duration_s(round_duration)
        except ValueError as exc:
            raise UsageError(f"--warmup/--round-duration: {exc}") from None
        chosen = _scenario_config(scenario, config, _params(param or []), warmup_s, duration_s, url_a)
        if refusal := ab_refusal(REGISTRY[chosen.kind]):
            raise UsageError(f"--scenario {scenario}: {refusal}")
        parsed: Any = chosen.parse_params(REGISTRY[chosen.kind].params_type)
        own_paths = request_paths(REGISTRY[chosen.kind], parsed)
        if not revs.revs:
            assert url_a is not None and url_b is not None
            url_a, url_b = _base_url(url_a, "URL_A", own_paths), _base_url(url_b, "URL_B", own_paths)

        def measure_on(executor: Executor) -> Measure:
            return scenario_measure(chosen, parsed, executor=executor)
    sides = revision_sides(revs, quiet) if revs.revs else contextlib.nullcontext(
        Sides(str(url_a), str(url_b), str(url_a), str(url_b), {}, {}))
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)  # stacks removed on SIGTERM too
    try:
        with sides as chosen_sides:
            return _interleaved(measure_on, chosen_sides, rounds, warmup_rounds, quiet, options, fmt,
                                fail_on_regression, out, cluster, allow_remote_target,
                                (history, revs.repo) if history else None)
    finally:
        signal.signal(signal.SIGTERM, previous_term)


def _interleaved(measure_on: Callable[[Executor], Measure], sides: Sides, rounds: int, warmup_rounds: int,
                 quiet: bool, options: Any, fmt: str, fail_on_regression: bool, out: Path | None,
                 cluster: str | None, allow_remote_target: bool, history: tuple[str, Path] | None = None) -> int:
    """The rounds, the verdicts (and the results directory); the exit code."""
    url_a, url_b = sides.url_a, sides.url_b
    for url in (url_a, url_b):
        target = parse_http_url(url)
        check_reachable(target.host, target.port, 5.0)
    total = warmup_rounds + rounds
    started_at = utc_now_iso()

    def on_round(current: AbRound) -> None:
        if not quiet:
            stderr.print(_round_line(current, total), highlight=False)

    with open_executor(cluster, allow_remote_target) as executor:
        # the measure is built once the cluster (if any) is connected: bad options fail before that
        done, interrupted = run_ab(measure_on(executor), url_a, url_b, rounds, warmup_rounds=warmup_rounds,
                                   on_round=on_round)
    comparison = compare_rounds(done, sides.label_a, sides.label_b, tolerances=options.tolerances,
                                alpha=options.alpha, interrupted=interrupted)
    show(comparison, fmt)
    directory = None
    if out is not None:
        directory = write_ab_results(out, True, done, comparison, sides, started_at, interrupted)
        stderr.out(f"results: {directory}", highlight=False)
    if interrupted:
        return int(ExitCode.INTERRUPTED)
    if history is not None:
        ids = record_ab_history(history[0], done, sides, directory, started_at, history[1])
        stderr.out(f"history: runs {', '.join(map(str, ids)) or '(none: working tree)'} recorded in "
                   f"{redact_url(history[0])}", highlight=False)
    return exit_code(comparison, fail_on_regression)
