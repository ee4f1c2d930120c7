"""A whole run's deadline: the scenarios' planned time plus a margin, unless the config sets one.

``hftperf run`` stops gracefully at the deadline (like Ctrl-C: every scenario measured so far is
kept, the running one ends with what it has) and ends the process at the deadline plus
``GRACE_S`` whatever the target or a stuck step does. The figures here are pure arithmetic on
the validated configuration; the CLI's watchdog (``hftperf.cli.deadline``) enforces them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hftperf.config import RunConfig, ScenarioConfig

__all__ = ["DEFAULT_TIMEOUT_S", "FIXED_MARGIN_S", "GRACE_S", "MARGIN_FACTOR", "planned_s", "run_deadline_s"]

DEFAULT_TIMEOUT_S = 10.0  # a scenario without a timeout key: assume this much drain
MARGIN_FACTOR = 1.5  # planned time x this ...
FIXED_MARGIN_S = 120.0  # ... plus this: stack start-up and shut-down, set-up steps, reports
GRACE_S = 15.0  # after the deadline the graceful stop has this long before the process ends (exit 2)


def _scenario_planned_s(scenario: ScenarioConfig, params: Any) -> float:
    """Warm-up, measured time and one timeout of drain, per step for stepped scenarios."""
    timeout_s = float(getattr(params, "timeout_s", DEFAULT_TIMEOUT_S))
    step_s = getattr(params, "step_duration_s", None)
    if step_s is not None:  # capacity search: one step per rate from start to max
        span = params.max_rate_per_s - params.start_rate_per_s
        steps = math.floor(span / params.step_rate_per_s) + 1 if params.step_rate_per_s > 0 else 1
        return scenario.warmup_s + steps * (float(step_s) + timeout_s)
    depths = getattr(params, "depths", None)
    if depths is not None:  # book scaling: the duration bounds each depth
        return scenario.warmup_s + len(depths) * scenario.duration_s
    return scenario.warmup_s + scenario.duration_s + timeout_s


def planned_s(config: RunConfig, params: Mapping[str, Any]) -> float:
    """The time every scenario (all repeats) is planned to take, from its validated params."""
    once = sum(_scenario_planned_s(s, params.get(s.name)) for s in config.scenarios)
    return once * config.repeat


def run_deadline_s(config: RunConfig, params: Mapping[str, Any]) -> float:
    """``[run] deadline`` / ``--deadline`` when set, else planned time x 1.5 + 2 minutes."""
    if config.deadline_s is not None:
        return config.deadline_s
    return planned_s(config, params) * MARGIN_FACTOR + FIXED_MARGIN_S
