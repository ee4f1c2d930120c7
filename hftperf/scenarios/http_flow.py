"""``http``: any request sequence against any HTTP API — chained steps, weighted requests, data feeds.

See :mod:`hftperf.targets.http_flow` for how steps chain in an open loop. Closed loop without
``rate``, open loop (latency from the intended send time) with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftperf.config import ScenarioConfig, StageConfig, param, stages_param
from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome, plan_stages, stage_figures
from hftperf.targets.http_flow import HttpFlowFactory, compile_flow, read_feed
from hftperf.targets.profile import _check_pointer, _check_statuses
from hftperf.targets.template import compile_template

__all__ = ["HttpFlow", "HttpFlowParams", "StepConfig"]


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"expected a path starting with '/', got {path!r}")


def _check_extract(extract: Mapping[str, str]) -> None:
    for pointer in extract.values():
        _check_pointer(pointer)


@dataclass(frozen=True)
class StepConfig:
    """``[[scenario.requests]]``: one step of the flow."""

    name: str = ""
    method: str = "GET"
    path: str = param(default="/", check=_check_path)
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    extract: Mapping[str, str] = param(default_factory=dict, check=_check_extract)  # name -> JSON pointer
    ok_status: tuple[int, ...] = ()  # empty: any 2xx
    weight: float = param(default=1.0, min=0.0)

    def __post_init__(self) -> None:
        if self.ok_status:
            _check_statuses(self.ok_status)


@dataclass(frozen=True)
class HttpFlowParams:
    """``http`` keys."""

    requests: tuple[StepConfig, ...] = ()
    rate_per_s: float | None = param(key="rate", unit="rate_per_s", default=None)  # None: closed loop
    stages: tuple[StageConfig, ...] = stages_param()  # open loop in stages, instead of rate and duration
    connections: int = param(default=16, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)
    feed: str | None = None  # .csv (header row) or .jsonl
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every step

    def __post_init__(self) -> None:
        if self.stages and self.rate_per_s is not None:
            raise ValueError("stages: not together with rate (the stages give the rates)")
        self.compiled()  # placeholders, feed columns and chaining checked when the config is read

    def compiled(self) -> tuple[HttpFlowFactory, frozenset[str]]:
        """The flow's factory (feed read, steps compiled) and the ``${env:...}`` secrets it holds."""
        if not self.requests:
            raise ValueError("requests: expected at least one [[scenario.requests]] step")
        feed = read_feed(Path(self.feed)) if self.feed else ()
        secrets: set[str] = set()
        steps = [{k: getattr(s, k) for k in StepConfig.__dataclass_fields__} for s in self.requests]
        compiled = compile_flow(steps, tuple(feed[0]) if feed else (), "", secrets)
        headers = tuple((name, compile_template(value, (), f"headers.{name}", secrets=secrets).render({}).decode())
                        for name, value in self.headers.items())
        return HttpFlowFactory(compiled, feed, headers=headers), frozenset(secrets)


class HttpFlow:
    """A user-defined request flow (like a k6 script, as TOML data)."""

    kind = "http"
    summary = "any request sequence: chained steps with JSON-pointer extraction, weights, data feeds"
    params_type = HttpFlowParams

    def request_paths(self, params: HttpFlowParams) -> tuple[str, ...]:
        """The steps' path templates."""
        return tuple(step.path for step in params.requests)

    def run(self, config: ScenarioConfig, params: HttpFlowParams, context: RunContext) -> ScenarioOutcome:
        """Run the flow for the scenario's duration."""
        factory, _ = params.compiled()
        factory = HttpFlowFactory(factory.steps, factory.feed, config.seed, factory.headers)
        spec = RequestSpec(url=context.target_url, method="GET", source=factory)
        plan = LoadPlan(request=spec, connections=params.connections, duration_s=config.duration_s,
                        rate_per_s=params.rate_per_s, stages=plan_stages(params.stages),
                        warmup_s=config.warmup_s, timeout_s=params.timeout_s,
                        workers=min(context.workers or 1, params.connections))
        result = run_load(plan, context.on_interval, executor=context.executor)
        figures: dict[str, Any] = {"steps": [s.name for s in factory.steps], **stage_figures(result)}
        kind = "open-loop" if plan.open_loop else "closed-loop"
        return ScenarioOutcome(kind=kind, load=result, interrupted=result.interrupted, figures=figures)
