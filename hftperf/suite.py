"""Run a scenario suite: start the stack (or use a target), run each scenario, check thresholds,
write the results directory. This is ``hftperf run`` without the command line.

Results directory: ``result.json`` (written atomically after every scenario, so an interrupted
or killed run keeps what it measured), one ``<scenario>.hlog`` per scenario and repeat, and
``summary.md``.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from hftperf.addresses import parse_grpc_target, parse_http_url, target_addresses
from hftperf.config import RunConfig, ScenarioConfig
from hftperf.defaults import DEFAULT_BASE_IMAGE
from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import ConfigError, HftperfError
from hftperf.hlog import HlogWriter
from hftperf.instrument import inconclusive_reason
from hftperf.loadgen import Executor, IntervalReport, check_reachable, open_executor
from hftperf.redact import redact_url
from hftperf.result import RunResult, ScenarioResult, build_run_result, save_result
from hftperf.scenario_results import scenario_result, threshold_results
from hftperf.scenarios import REGISTRY, RunContext
from hftperf.scenarios.base import protocols, target_phrase

__all__ = ["SuiteProgress", "Targets", "check_protocols", "run_suite", "target_addresses", "threshold_results"]

_TARGET_FLAGS = {"http": "--target URL (or use --stack local)", "grpc": "--grpc-target HOST:PORT"}


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
    """Where the suite sends load (protocol -> address), and which stack backend (if any) provides it."""

    addresses: Mapping[str, str]  # "http" -> base URL, "grpc" -> HOST:PORT (only those the run has)
    stack: str  # "local", "none", ...
    network_mode: str | None = None
    services: dict[str, Any] | None = None  # compose: each service's image, image id, build commit
    failures: Callable[[], list[str]] | None = None  # compose: services no longer running, with log tails

    @property
    def http_url(self) -> str:
        """The HTTP base URL ("" when the run has none)."""
        return self.addresses.get("http", "")

    @property
    def grpc_target(self) -> str | None:
        """The gRPC HOST:PORT, if the run has one."""
        return self.addresses.get("grpc")


def check_protocols(config: RunConfig, targets: Mapping[str, str], params: Mapping[str, Any] | None = None) -> None:
    """ConfigError naming the first scenario whose declared protocol has no target."""
    for scenario in config.scenarios:
        needed = protocols(REGISTRY[scenario.kind], (params or {}).get(scenario.name))
        for protocol in sorted(needed - set(targets)):
            flag = _TARGET_FLAGS.get(protocol, f"a {protocol} target")
            raise ConfigError(f"scenario {scenario.name!r} ({scenario.kind}) needs {target_phrase(protocol)}: "
                              f"give {flag}")


@contextlib.contextmanager
def _targets(config: RunConfig, progress: SuiteProgress | None = None,
             needed: frozenset[str] | None = None) -> Iterator[Targets]:
    """Start the bundled stack for the run (and stop it after), or check the given target.

    ``needed`` (the protocols the scenarios send) empty: every scenario measures in process, so
    with ``--stack none`` no target is asked for (a given one is still checked).
    """
    if config.stack == "none":
        if config.target is None and config.grpc_target is None and needed is not None and not needed:
            yield Targets({}, "none")
            return
        if config.target is None and config.grpc_target is None:
            raise ConfigError(f"{config.stack_source}: stack 'none' starts nothing, so a target is needed "
                              "(run.target / HFTPERF_TARGET / --target, or grpc_target)")
        if config.target is not None:
            target = parse_http_url(config.target)
            check_reachable(target.host, target.port, 5.0)
        else:  # a gRPC-only service: check_protocols names a scenario that needs the missing URL
            host, port = parse_grpc_target(config.grpc_target or "")
            check_reachable(host, port, 5.0)
        yield Targets(target_addresses(config.target, config.grpc_target), "none")
        return
    if config.stack == "compose":
        with _compose_targets(config, getattr(progress, "stack_line", None)) as targets:
            yield targets
        return
    if config.stack not in ("local", "docker"):
        raise ConfigError(f"stack backend {config.stack!r} is not available; "
                          "expected 'local', 'docker', 'compose' or 'none'")
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
        ephemeral=True,
    )
    network_mode = options.network if config.stack == "docker" else "host"
    stack = create_stack(stack_config)
    try:
        with stack as endpoints:
            yield Targets(endpoints.targets, config.stack, network_mode=network_mode)
    finally:
        if config.stack == "docker":
            stack.stop(volumes=True)  # a run's stack is throwaway: its containers and volume go
        if options.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def _compose_targets(config: RunConfig, say: Callable[[str], None] | None) -> Iterator[Targets]:
    """The user's compose stack for the run: started, then removed with its volumes."""
    from hftperf.reference_engine.backends import create_stack
    from hftperf.reference_engine.backends.base import StackConfig

    options = config.stack_options
    if options.compose_file is None or options.service is None:
        raise ConfigError("stack 'compose' needs the compose file and the HTTP target service: "
                          "--compose-file F --service S (or [stack] compose_file and service)")
    build_args = (("BASE_IMAGE", options.base_image),) if options.base_image != DEFAULT_BASE_IMAGE else ()
    name = options.project or f"run-{secrets.token_hex(4)}"
    stack = create_stack(StackConfig(name=name, backend="compose", compose_file=options.compose_file,
                                     service=options.service, grpc_service=options.grpc_service,
                                     build_args=build_args, ephemeral=True))
    stack.progress = say  # build and start-up lines to the live view
    try:
        with stack as endpoints:
            yield Targets(endpoints.targets, "compose", network_mode="bridge",
                          services=stack.environment(), failures=lambda: [f.line() for f in stack.failures()])
    finally:
        stack.stop(volumes=True)  # a run's stack is throwaway


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
              stop_requested: Callable[[], bool] = lambda: False, allow_remote_target: bool = False) -> RunResult:
    """Run every scenario of ``config`` (``repeat`` times) and write the results directory.

    With ``config.cluster`` the load workers run on that Dask cluster (connected before the stack
    starts, so a wrong address fails at once); ``allow_remote_target`` lets them send to a
    target outside the loopback range.
    """
    params: dict[str, Any] = {s.name: s.parse_params(REGISTRY[s.kind].params_type) for s in config.scenarios}
    out_dir.mkdir(parents=True, exist_ok=True)
    started_at = utc_now_iso()
    scenarios: list[ScenarioResult] = []
    interrupted = False
    needed = frozenset().union(*(protocols(REGISTRY[s.kind], params[s.name]) for s in config.scenarios))
    with (open_executor(config.cluster, allow_remote_target) as executor,
          _targets(config, progress, needed) as targets):
        check_protocols(config, targets.addresses, params)
        environment = collect_environment(
            redact_url(targets.http_url, config.redact_headers), targets.stack, config.source_path,
            config.source_sha256,
            extra={"network_mode": targets.network_mode, "grpc_target": targets.grpc_target,
                   "duration_scale": config.duration_scale, "repeat": config.repeat,
                   "deadline_s": config.deadline_s, **_executor_environment(executor),
                   **({"stack_services": targets.services} if targets.services is not None else {})},
        )

        def snapshot() -> RunResult:
            return build_run_result(config.label, environment, scenarios, started_at, utc_now_iso(), interrupted)

        try:
            for repeat_index in range(config.repeat):
                for index, scenario in enumerate(config.scenarios):
                    if stop_requested():
                        interrupted = True
                        break
                    result, stopped = _run_with_retry(scenario, params[scenario.name], index, repeat_index,
                                                      config, targets, out_dir, progress, stop_requested, executor)
                    scenarios.append(result)
                    interrupted = interrupted or stopped
                    save_result(snapshot(), out_dir)  # after every scenario: nothing measured is lost
                    if interrupted:
                        break
                if interrupted:
                    break
        except KeyboardInterrupt:  # Ctrl-C outside a load run (between scenarios, in a step)
            interrupted = True
        if targets.failures is not None and (failures := targets.failures()):
            environment["stack_failures"] = failures  # the report names the dead services
        run = snapshot()
    save_result(run, out_dir)
    return run


def _executor_environment(executor: Executor) -> dict[str, Any]:
    """Where the load workers run; on a cluster, each worker's host, cores, versions and clock offset."""
    if executor.name == "local":
        return {}
    return {"executor": executor.name, "load_workers": list(executor.describe())}


def _run_with_retry(scenario: ScenarioConfig, params: Any, index: int, repeat_index: int, config: RunConfig,
                    targets: Targets, out_dir: Path, progress: SuiteProgress | None,
                    stop_requested: Callable[[], bool], executor: Executor) -> tuple[ScenarioResult, bool]:
    """Run a scenario; re-run it (``retry_inconclusive`` times) while the load generator fell behind.

    Only the last measured attempt is kept (its interval log replaces the earlier one);
    ``figures.attempts`` and ``figures.inconclusive_before`` record what happened before it. A
    re-run that cannot measure (a stack service died, the target stopped answering its dry run,
    Ctrl-C before its load) keeps the earlier attempt, its log and the reason in ``figures.retry``.
    """
    earlier: list[str] = []
    result, stopped = _run_one(scenario, params, index, repeat_index, config, targets, out_dir, progress,
                               stop_requested, executor)
    retry_note: str | None = None
    while not stopped and result.inconclusive and len(earlier) < config.retry_inconclusive:
        dead = targets.failures() if targets.failures is not None else []
        if dead:  # the stack the attempt measured is gone: a re-run would measure something else
            retry_note = f"not re-run: {len(dead)} stack service(s) stopped during the run"
            break
        kept = _set_aside(out_dir, result.hlog)
        try:
            retried, stopped = _run_one(scenario, params, index, repeat_index, config, targets, out_dir,
                                        progress, stop_requested, executor)
        except (HftperfError, KeyboardInterrupt) as exc:
            _restore(kept, out_dir, result.hlog)
            retry_note = ("re-run interrupted before its load" if isinstance(exc, KeyboardInterrupt)
                          else f"re-run failed: {exc}")
            stopped = stopped or isinstance(exc, KeyboardInterrupt)
            break
        if kept is not None:
            kept.unlink(missing_ok=True)
        earlier.append(inconclusive_reason(result))
        result = retried
    extra: dict[str, Any] = {}
    if earlier:
        extra.update(attempts=len(earlier) + 1, inconclusive_before=earlier)
    if retry_note is not None:
        extra["retry"] = retry_note
    if extra:
        result = replace(result, figures={**result.figures, **extra})
    return result, stopped


def _set_aside(out_dir: Path, hlog: str | None) -> Path | None:
    """Move an attempt's interval log out of the way of its re-run (restored if the re-run fails)."""
    if hlog is None or not (out_dir / hlog).exists():
        return None
    kept = out_dir / f".{hlog}.earlier"
    (out_dir / hlog).replace(kept)
    return kept


def _restore(kept: Path | None, out_dir: Path, hlog: str | None) -> None:
    if kept is not None and hlog is not None:
        kept.replace(out_dir / hlog)


def _run_one(scenario: ScenarioConfig, params: Any, index: int, repeat_index: int, config: RunConfig,
             targets: Targets, out_dir: Path, progress: SuiteProgress | None,
             stop_requested: Callable[[], bool], executor: Executor | None = None) -> tuple[ScenarioResult, bool]:
    """Run one scenario with its interval log; return its judged result and whether it was stopped."""
    if progress is not None:
        progress.scenario_started(scenario, index, len(config.scenarios), repeat_index)
    writer, hlog_name = _hlog_writer(out_dir, scenario.name, repeat_index, config.repeat,
                                     redact_url(targets.http_url, config.redact_headers))
    context = RunContext(
        targets=targets.addresses,
        grpc_channel_options=config.grpc.channel_options(),
        on_interval=_interval_sink(writer, progress),
        stop_requested=stop_requested,
        executor=executor,
    )
    try:
        outcome = REGISTRY[scenario.kind].run(scenario, params, context)
    finally:
        writer.close()
    if outcome.load is None:  # measured in process: no intervals, no log
        (out_dir / hlog_name).unlink(missing_ok=True)
    result = scenario_result(scenario.name, outcome, hlog_name if outcome.load else None, repeat_index,
                             scenario_kind=scenario.kind, thresholds=scenario.thresholds,
                             max_pacer_lag_us=config.max_pacer_lag_us, max_steal_share=config.max_steal_share,
                             redact_headers=config.redact_headers)
    if progress is not None:
        progress.scenario_finished(result)
    return result, outcome.interrupted
