"""``quote-poll``: clients polling a quote endpoint at a fixed rate each, like market-data pollers.

A complete third-party scenario: typed params read from the ``[[scenario]]`` table, a load run
through hftperf's instrument, and a figure of its own (``stale_share``: answers slower than the
``stale_after`` budget) that thresholds can check (``"stale_share < 1%"``) and reports show.
"""

from __future__ import annotations

from dataclasses import dataclass

from hftperf.addresses import join_url
from hftperf.config import ScenarioConfig, param
from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.scenarios.base import RunContext, ScenarioOutcome

__all__ = ["QuotePoll", "QuotePollParams"]


@dataclass(frozen=True)
class QuotePollParams:
    """``quote-poll`` keys."""

    path: str = "/health"
    pollers: int = param(default=4, min=1)
    rate_per_s: float = param(key="rate", unit="rate_per_s", default=200.0)
    stale_after_us: float = param(key="stale_after", unit="duration_us", default=5_000.0)
    timeout_s: float = param(key="timeout", unit="duration_s", default=2.0, min=0.001)


class QuotePoll:
    """Open-loop polling of one path; reports the share of stale (slow) answers."""

    kind = "quote-poll"
    summary = "poll a quote path open loop; the share of answers slower than stale_after"
    params_type = QuotePollParams

    def request_paths(self, params: QuotePollParams) -> tuple[str, ...]:
        """The polled path."""
        return (params.path,)

    def run(self, config: ScenarioConfig, params: QuotePollParams, context: RunContext) -> ScenarioOutcome:
        """Poll for the scenario's duration."""
        plan = LoadPlan(request=RequestSpec(url=join_url(context.target_url, params.path)),
                        connections=params.pollers, duration_s=config.duration_s, rate_per_s=params.rate_per_s,
                        warmup_s=config.warmup_s, timeout_s=params.timeout_s, workers=1)
        result = run_load(plan, context.on_interval, executor=context.executor)
        latency = result.latency
        answered = latency.total_count
        stale = sum(step.count_added_in_this_iter_step for step in latency.hdr.get_recorded_iterator()
                    if step.value_iterated_to > params.stale_after_us)
        share = stale / answered if answered else 0.0
        return ScenarioOutcome(kind="open-loop", load=result, interrupted=result.interrupted,
                               figures={"stale_share": share, "summary": {"stale answers": f"{share:.2%}"}})
