"""Run a scenario suite: start the stack (or use a target), run each scenario, check thresholds,
write the results directory. This is ``hftperf run`` without the command line.

Results directory: ``result.json`` (written atomically after every scenario, so an interrupted
or killed run keeps what it measured), one ``<scenario>.hlog`` per scenario and repeat, and
``summary.md``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hftperf.config import RunConfig, ScenarioConfig
from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import ConfigError
from hftperf.hlog import HlogWriter
from hftperf.loadgen import IntervalReport, check_reachable
from hftperf.loadgen.request import parse_http_url
from hftperf.redact import describe_request, redact_url
from hftperf.result import RunResult, ScenarioResult, ThresholdResult, build_run_result, save_result
from hftperf.scenario_results import scenario_result
from hftperf.scenarios import REGISTRY, RunContext, ScenarioOutcome
from hftperf.thresholds import Verdict, evaluate_all

__all__ = ["SuiteProgress", "Targets", "run_suite", "threshold_results"]

_GRPC_KINDS = frozenset({"grpc-order-latency"})


class SuiteProgress(Protocol):
    """Receives what the suite is doing (the CLI shows it live); every method is optional work."""

    def scenario_started(self, config: ScenarioConfig, index: int, total: int, repeat_index: int) -> None:
        """A scenario begins."""

    def interval(self, report: IntervalReport) -> None:
        """An interval of the running scenario was measured."""

    def scenario_finished(self, result: ScenarioResult) -> None:
        """A scenario ended (thresholds checked)."""


@dataclass(frozen=True)
class Targets:
    """Where the suite sends load, and which stack backend (if any) provides it."""

    http_url: str
    grpc_target: str | None
    stack: str  # "local", "none", ...
    network_mode: str | None = None


def threshold_results(verdicts: list[Verdict]) -> tuple[ThresholdResult, ...]:
    """Verdicts as the result file records them."""
    results = []
    for verdict in verdicts:
        threshold = verdict.threshold
        limit_text = threshold.text.split(threshold.op, 1)[1].strip()
        results.append(ThresholdResult(metric=threshold.metric, limit=f"{threshold.op} {limit_text}",
                                       observed=verdict.observed, passed=verdict.passed,
                                       headroom_pct=verdict.headroom_pct))
    return tuple(results)


@contextlib.contextmanager
def _targets(config: RunConfig) -> Iterator[Targets]:
    """Start the bundled stack for the run (and stop it after), or check the given target."""
    if config.stack == "none":
        if config.target is None:
            raise ConfigError("no target: give --target URL or use --stack local")
        target = parse_http_url(config.target)
        check_reachable(target.host, target.port, 5.0)
        yield Targets(config.target, config.grpc_target, "none")
        return
    if config.stack not in ("local", "docker"):
        raise ConfigError(f"stack backend {config.stack!r} is not available; expected 'local', 'docker' or 'none'")
    from hftperf.reference_engine.backends import create_stack
    from hftperf.reference_engine.backends.base import StackConfig

    options = config.stack_options
    if options.db == "postgres" and config.stack != "docker":
        raise ConfigError("stack.db 'postgres' starts a PostgreSQL container: it needs stack 'docker' "
                          "(with stack 'local' give a postgresql:// DSN)")
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="hftperf-run-"))
    stack_config = StackConfig(
        name=f"run-{Path(data_dir).name}",
        backend=config.stack,
        gateway_port=options.gateway_port,
        engine_port=options.engine_port,
        workers=options.workers,
        data_dir=Path(data_dir),
        db=options.db_dsn,
        network=options.network,
        base_image=options.base_image,
    )
    network_mode = options.network if config.stack == "docker" else "host"
    stack = create_stack(stack_config)
    try:
        with stack as endpoints:
            yield Targets(endpoints.gateway_url, endpoints.engine_target, config.stack, network_mode=network_mode)
    finally:
        if config.stack == "docker":
            stack.stop(volumes=True)  # a run's stack is throwaway: its containers and volume go
        if options.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def _hlog_writer(out_dir: Path, name: str, repeat_index: int, repeats: int, target: str) -> tuple[HlogWriter, str]:
    file_name = f"{name}.hlog" if repeats == 1 else f"{name}.r{repeat_index + 1}.hlog"
    comment = f"hftperf scenario {name} against {target}; values in microseconds"
    return HlogWriter(out_dir / file_name, time.time(), comment=comment), file_name


def _interval_sink(writer: HlogWriter, progress: SuiteProgress | None) -> Callable[[IntervalReport], None]:
    def on_interval(report: IntervalReport) -> None:
        for tag, histogram in report.tagged_histograms():
            writer.write_interval(report.record.start_s, report.record.length_s, histogram, tag=tag)
        if progress is not None:
            progress.interval(report)

    return on_interval


def run_suite(config: RunConfig, out_dir: Path, progress: SuiteProgress | None = None,
              stop_requested: Callable[[], bool] = lambda: False) -> RunResult:
    """Run every scenario of ``config`` (``repeat`` times) and write the results directory."""
    params: dict[str, Any] = {s.name: s.parse_params(REGISTRY[s.kind].params_type) for s in config.scenarios}
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = utc_now_iso()
    scenarios: list[ScenarioResult] = []
    interrupted = False
    with _targets(config) as targets:
        if any(s.kind in _GRPC_KINDS for s in config.scenarios) and targets.grpc_target is None:
            raise ConfigError("gRPC scenarios need the engine's address: give --grpc-target HOST:PORT")
        environment = collect_environment(
            redact_url(targets.http_url, config.redact_headers), targets.stack, config.source_path,
            config.source_sha256,
            extra={"network_mode": targets.network_mode, "grpc_target": targets.grpc_target,
                   "duration_scale": config.duration_scale, "repeat": config.repeat,
                   "deadline_s": config.deadline_s},
        )

        def snapshot() -> RunResult:
            return build_run_result(config.label, environment, scenarios, started_at, utc_now_iso(), interrupted)

        try:
            for repeat_index in range(config.repeat):
                for index, scenario in enumerate(config.scenarios):
                    if stop_requested():
                        interrupted = True
                        break
                    result, stopped = _run_one(scenario, params[scenario.name], index, repeat_index, config,
                                               targets, out_dir, progress, stop_requested)
                    scenarios.append(result)
                    interrupted = interrupted or stopped
                    save_result(snapshot(), out_dir)  # after every scenario: nothing measured is lost
                    if interrupted:
                        break
                if interrupted:
                    break
        except KeyboardInterrupt:  # Ctrl-C outside a load run (between scenarios, in a step)
            interrupted = True
        run = snapshot()
    save_result(run, out_dir)
    return run


def _run_one(scenario: ScenarioConfig, params: Any, index: int, repeat_index: int, config: RunConfig,
             targets: Targets, out_dir: Path, progress: SuiteProgress | None,
             stop_requested: Callable[[], bool]) -> tuple[ScenarioResult, bool]:
    """Run one scenario with its interval log; return its judged result and whether it was stopped."""
    if progress is not None:
        progress.scenario_started(scenario, index, len(config.scenarios), repeat_index)
    writer, hlog_name = _hlog_writer(out_dir, scenario.name, repeat_index, config.repeat,
                                     redact_url(targets.http_url, config.redact_headers))
    context = RunContext(
        target_url=targets.http_url,
        grpc_target=targets.grpc_target,
        grpc_channel_options=config.grpc.channel_options(),
        on_interval=_interval_sink(writer, progress),
        stop_requested=stop_requested,
    )
    try:
        outcome = REGISTRY[scenario.kind].run(scenario, params, context)
    finally:
        writer.close()
    if outcome.load is None:  # measured in process: no intervals, no log
        (out_dir / hlog_name).unlink(missing_ok=True)
    result = _judged(scenario, outcome, hlog_name if outcome.load else None, repeat_index)
    if outcome.load is not None and outcome.load.plan.grpc is None:  # what was sent, credentials redacted
        spec = outcome.load.plan.request
        request = describe_request(spec.method, spec.url, spec.headers, config.redact_headers)
        result = replace(result, figures={**result.figures, "request": request})
    if progress is not None:
        progress.scenario_finished(result)
    return result, outcome.interrupted


def _judged(scenario: ScenarioConfig, outcome: ScenarioOutcome, hlog_name: str | None,
            repeat_index: int) -> ScenarioResult:
    """The scenario's result with its thresholds evaluated on its figures."""
    result = scenario_result(scenario.name, outcome, hlog_name, repeat_index)
    figures: dict[str, Any] = dict(result.figures)
    figures.update(result.latency_us or {})
    figures["throughput_rps"] = result.throughput_rps
    verdicts = evaluate_all(scenario.thresholds, {k: v for k, v in figures.items() if _is_figure(v)})
    return result.with_thresholds(threshold_results(verdicts))


def _is_figure(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)
