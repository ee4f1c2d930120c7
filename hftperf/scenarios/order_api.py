"""The order scenarios' side of an API profile: the dry run before the load, and the workload report after.

``prepare_flow`` compiles the profile named by ``api``, logs in when it says so, and dry-runs it (one
submit, one cancel) so a wrong pointer fails in a second, quoting the answer; then it gives the
per-worker flow factory. ``flow_figures`` turns the run's per-operation histograms and counters into
what the result and the report show: latency per operation (and ``<operation>.p99``-style keys that
thresholds can check), the realised mix against the asked one, outcomes, and workload warnings.
"""

from __future__ import annotations

from typing import Any

from hftperf.errors import ConfigError
from hftperf.loadgen import LoadResult
from hftperf.scenarios.base import RunContext
from hftperf.scenarios.order_mix import OrderMixParams
from hftperf.targets import compile_profile, load_profile
from hftperf.targets.dryrun import auth_header, dry_run
from hftperf.targets.grpc_flow import GrpcOrderFactory, grpc_dry_run, grpc_order_factory
from hftperf.targets.order_flow import OPERATIONS, FlowShares, ProfileOrderFactory, asked_shares

__all__ = ["MIX_TOLERANCE_POINTS", "flow_figures", "prepare_flow", "profile_protocols"]

MIX_TOLERANCE_POINTS = 5.0  # a realised share further than this from the asked one is flagged
_LATENCY_KEYS = ("p50", "p90", "p99", "p99_9", "max", "mean")


def profile_protocols(params: OrderMixParams) -> frozenset[str]:
    """What the profile named by ``params.api`` talks: {"http"} or {"grpc"}."""
    return frozenset({load_profile(params.api, "api").protocol})


def prepare_flow(params: OrderMixParams, context: RunContext, seed: int) -> ProfileOrderFactory | GrpcOrderFactory:
    """The flow of ``params.api`` against the target, dry-run first (ConfigError quoting the answer).

    A profile with ``protocol = "grpc"`` goes to ``context.grpc_target`` (``--grpc-target``).
    """
    profile = compile_profile(load_profile(params.api, "api"), "api")
    away_ticks = max(1, params.mid_price - params.price_band - 1)  # a buy below every ask rests
    mix = params.mix
    shares = FlowShares(limit=mix.limit, market=mix.market, cancel=mix.cancel, amend=mix.amend,
                        symbols=params.symbols, mid_price=params.mid_price, price_band=params.price_band,
                        max_quantity=params.max_quantity)
    if profile.profile.protocol == "grpc":
        if context.grpc_target is None:
            raise ConfigError("api.protocol: 'grpc' needs the service's gRPC address (--grpc-target HOST:PORT)")
        factory = grpc_order_factory(profile, shares, seed, context.grpc_target)
        grpc_dry_run(profile, factory.schemas, context.grpc_target, params.symbols[0], away_ticks)
        return factory
    dry_run(profile, context.target_url, params.symbols[0], away_ticks)
    header = auth_header(profile, context.target_url)
    return ProfileOrderFactory(profile, shares, seed, header)


def flow_figures(result: LoadResult, factory: ProfileOrderFactory | GrpcOrderFactory) -> dict[str, Any]:
    """Per-operation latency and counts, realised against asked mix, outcomes, workload warnings."""
    counts = result.counts
    asked = asked_shares(factory.profile, factory.shares)
    sent = {op: counts.get(f"sent.{op}", 0) for op in OPERATIONS}
    total = sum(sent.values())
    operations: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    for op in OPERATIONS:
        histogram = result.operations.get(op)
        summary = histogram.summary_us() if histogram is not None and histogram.total_count else None
        failed = counts.get(f"{op}.failed", 0) if not op.startswith("submit") else None
        operations[op] = {"sent": sent[op], "answered_ok": histogram.total_count if histogram else 0,
                          "failed": failed, "latency_us": summary}
        for key in _LATENCY_KEYS:
            if summary is not None and key in summary:
                figures[f"{op}.{key}"] = summary[key]
    realised = {op: (sent[op] / total if total else 0.0) for op in OPERATIONS}
    warnings = []
    for op in OPERATIONS:
        gap = abs(realised[op] - asked[op]) * 100
        if total and gap > MIX_TOLERANCE_POINTS:
            warnings.append(f"{op}: asked {asked[op]:.0%} of the requests, sent {realised[op]:.0%}")
    ok_submits = counts.get("submit.id", 0) + counts.get("submit.no_id", 0)
    if factory.profile.cancel is not None and ok_submits and not counts.get("submit.id", 0):
        warnings.append(f"no order id was found in {ok_submits:,} accepted submits (api.submit.order_id): "
                        "no cancel could be sent")
    if factory.profile.profile.server_timing.layers:  # the report's breakdown reads them from the result
        figures["server_timing_layers"] = factory.profile.profile.server_timing.describe()
    figures.update({
        "api": factory.profile.profile.name,
        "operations": operations,
        "mix_asked": asked,
        "mix_sent": realised,
        "turns_without_resting_order": {"cancel": counts.get("cancel_no_resting", 0),
                                        "amend": counts.get("amend_no_resting", 0)},
        "outcomes": {k[8:]: v for k, v in counts.items() if k.startswith("outcome.")},
        "workload_warnings": warnings,
    })
    return figures
