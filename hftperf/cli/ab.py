"""``hftperf ab``: interleaved A/B of one scenario against two live targets."""

from __future__ import annotations

import signal
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from hftperf.cli.compare import HELP_CONFIG, HELP_FAIL, HELP_FORMAT, HELP_TOLERANCE, exit_code, show
from hftperf.cli.console import stderr
from hftperf.cli.load import build_plan
from hftperf.compare.ab import AbRound, Measure, compare_rounds, load_measure, run_ab, scenario_measure
from hftperf.compare.options import AB_TOLERANCE_SCALE, load_compare_options
from hftperf.compare.samples import run_values
from hftperf.config import ScenarioConfig, load_config
from hftperf.errors import ExitCode, UsageError
from hftperf.loadgen import check_reachable
from hftperf.loadgen.request import parse_http_url
from hftperf.scenarios import REGISTRY
from hftperf.units import format_duration_us, format_rate, parse_duration_s

__all__ = ["ab"]

AD_HOC = "load"
_NOT_FOR_AB = {"book-scaling": "measures the order book in process, not a target",
               "grpc-order-latency": "needs a gRPC target; ab compares HTTP targets"}


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


def _base_url(url: str, flag: str) -> str:
    try:
        target = parse_http_url(url)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if target.path not in ("", "/"):
        raise UsageError(f"{flag} {url}: registry scenarios take a base URL (no path); "
                         f"use --scenario {AD_HOC} to send an ad-hoc request to a full URL")
    return url.rstrip("/")


def _scenario_config(kind: str, config: Path | None, params: dict[str, Any], warmup_s: float,
                     duration_s: float) -> ScenarioConfig:
    """The scenario from --config (by name), or the registry kind with --param values."""
    if config is not None:
        kinds = {k: t.params_type for k, t in REGISTRY.items()}
        for scenario in load_config(config, known_kinds=kinds).scenarios:
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
    url_a: Annotated[str, typer.Argument(help="Target A (the base), e.g. http://127.0.0.1:8080")],
    url_b: Annotated[str, typer.Argument(help="Target B (the head), e.g. http://127.0.0.1:8081")],
    scenario: Annotated[str, typer.Option("--scenario", "-s", help=f"Registry kind, a name in --config, "
                                          f"or '{AD_HOC}' for an ad-hoc request")] = "health-concurrent",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Scenario key KEY=VALUE")] = None,
    rounds: Annotated[int, typer.Option("--rounds", "-k", help="Measured rounds (each A and B)")] = 10,
    round_duration: Annotated[str, typer.Option("--round-duration", help="Measured time per side")] = "3s",
    warmup: Annotated[str, typer.Option("--warmup", help="Warm-up per side and round")] = "0.5s",
    warmup_rounds: Annotated[int, typer.Option("--warmup-rounds", help="Rounds run but not compared")] = 1,
    method: Annotated[str, typer.Option("--method", "-m", help=f"{AD_HOC}: HTTP method")] = "GET",
    body: Annotated[str | None, typer.Option("--body", "-b", help=f"{AD_HOC}: body, or @file")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help=f"{AD_HOC}: NAME:VALUE")] = None,
    connections: Annotated[int, typer.Option("--connections", "-c", help=f"{AD_HOC}: connections")] = 16,
    rate: Annotated[str | None, typer.Option("--rate", "-R", help=f"{AD_HOC}: open loop rate")] = None,
    timeout: Annotated[str, typer.Option("--timeout", help=f"{AD_HOC}: per-request timeout")] = "10s",
    fmt: Annotated[str, typer.Option("--format", help=HELP_FORMAT)] = "table",
    alpha: Annotated[float | None, typer.Option("--alpha", help="Significance level (default 0.05)")] = None,
    tolerance: Annotated[list[str] | None, typer.Option("--tolerance", "-t", help=HELP_TOLERANCE)] = None,
    config: Annotated[Path | None, typer.Option("--config", "-f", help=HELP_CONFIG + " and scenarios")] = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", help=HELP_FAIL)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per round")] = False,
) -> int:
    """Run a scenario against A and B alternately for K rounds; report per-round ratios B/A and verdicts."""
    if rounds < 3:
        raise UsageError(f"--rounds: expected at least 3 (a paired test needs them), got {rounds}")
    if warmup_rounds < 0:
        raise UsageError(f"--warmup-rounds: expected 0 or more, got {warmup_rounds}")
    options = load_compare_options(config, alpha, tolerance or [], default_scale=AB_TOLERANCE_SCALE)
    measure: Measure
    if scenario == AD_HOC:
        def plan_for(url: str):  # type: ignore[no-untyped-def]
            return build_plan(url, method, body, header or [], False, connections, round_duration, rate, None,
                              warmup, timeout)

        plan_for(url_a), plan_for(url_b)  # validate both now
        measure = load_measure(plan_for)
    else:
        if scenario in _NOT_FOR_AB:
            raise UsageError(f"--scenario {scenario}: {_NOT_FOR_AB[scenario]}")
        url_a, url_b = _base_url(url_a, "URL_A"), _base_url(url_b, "URL_B")
        try:
            warmup_s, duration_s = parse_duration_s(warmup), parse_duration_s(round_duration)
        except ValueError as exc:
            raise UsageError(f"--warmup/--round-duration: {exc}") from None
        chosen = _scenario_config(scenario, config, _params(param or []), warmup_s, duration_s)
        if chosen.kind in _NOT_FOR_AB:
            raise UsageError(f"--scenario {scenario}: {_NOT_FOR_AB[chosen.kind]}")
        measure = scenario_measure(chosen, chosen.parse_params(REGISTRY[chosen.kind].params_type))
    for url in (url_a, url_b):
        target = parse_http_url(url)
        check_reachable(target.host, target.port, 5.0)
    total = warmup_rounds + rounds

    def on_round(current: AbRound) -> None:
        if not quiet:
            stderr.print(_round_line(current, total), highlight=False)

    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    try:
        done, interrupted = run_ab(measure, url_a, url_b, rounds, warmup_rounds=warmup_rounds, on_round=on_round)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    comparison = compare_rounds(done, url_a, url_b, tolerances=options.tolerances, alpha=options.alpha,
                                interrupted=interrupted)
    show(comparison, fmt)
    if interrupted:
        return int(ExitCode.INTERRUPTED)
    return exit_code(comparison, fail_on_regression)
