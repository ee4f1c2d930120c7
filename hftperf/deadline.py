"""A whole run's deadline: the scenarios' planned time plus a margin, unless the config sets one.

``hftperf run`` stops gracefully at the deadline (like Ctrl-C: every scenario measured so far is
kept, the running one ends with what it has) and ends the process at the deadline plus
``GRACE_S`` whatever the target or a stuck step does. The figures here are pure arithmetic on
the validated configuration; the CLI's watchdog (``hftperf.cli.deadline``) enforces them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hftperf.config import RunConfig, ScenarioConfig
from hftperf.errors import ConfigError
from hftperf.scenarios import REGISTRY
from hftperf.scenarios.base import planned_s as scenario_planned_s
from hftperf.units import MAX_DURATION_S

__all__ = ["FIXED_MARGIN_S", "GRACE_S", "MARGIN_FACTOR", "planned_s", "run_deadline_s"]

MARGIN_FACTOR = 1.5  # planned time x this ...
FIXED_MARGIN_S = 120.0  # ... plus this: stack start-up and shut-down, set-up steps, reports
GRACE_S = 15.0  # after the deadline the graceful stop has this long before the process ends (exit 2)


def _scenario_planned_s(scenario: ScenarioConfig, params: Any) -> float:
    """What the scenario itself plans (``Scenario.planned_s``; default warm-up, duration and one timeout)."""
    return scenario_planned_s(REGISTRY[scenario.kind], scenario, params)


def planned_s(config: RunConfig, params: Mapping[str, Any]) -> float:
    """The time every scenario (all repeats) is planned to take, from its validated params."""
    once = sum(_scenario_planned_s(s, params.get(s.name)) for s in config.scenarios)
    return once * config.repeat


def run_deadline_s(config: RunConfig, params: Mapping[str, Any]) -> float:
    """``[run] deadline`` / ``--deadline`` when set, else (planned time + retries) x 1.5 + 2 minutes.

    The retries allowed for are ``retry_inconclusive`` re-runs of the longest scenario: a busy
    machine that makes one scenario inconclusive should end in exit 3, not at the deadline. A plan
    longer than the longest duration hftperf accepts (30 days: scaled or repeated durations add up)
    is a ConfigError now, not an overflowing timer later.
    """
    planned = planned_s(config, params)
    if not planned <= MAX_DURATION_S:
        raise ConfigError(f"the run is planned to take {planned:.3g}s, more than 30 days: lower --duration-scale, "
                          "--repeat or the scenarios' durations")
    if config.deadline_s is not None:
        return config.deadline_s
    longest = max((_scenario_planned_s(s, params.get(s.name)) for s in config.scenarios), default=0.0)
    retries_s = longest * config.retry_inconclusive
    return (planned + retries_s) * MARGIN_FACTOR + FIXED_MARGIN_S
