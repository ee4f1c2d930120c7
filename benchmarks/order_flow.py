"""The profile-driven order flow against the built-in order mix it replaces, side by side on nginx.

nginx answers every request with a fixed 201 JSON body carrying an order id and a resting state,
so both sources parse, remember ids and cancel. Closed loop, 16 connections, one worker process,
the two sources alternating in every round. Prints the table and writes it into docs/benchmarks.md.

    flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/order_flow.py [--rounds 7] [--seconds 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _builtin_order_mix import OrderMixFactory
from _common import REPO, machine, nginx_server, replace_section

from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.scenarios.order_mix import OrderMixParams
from hftperf.targets import compile_profile, load_profile
from hftperf.targets.order_flow import FlowShares, ProfileOrderFactory

ORDER_BODY = '{"order_id":123456,"status":"new","symbol":"BTC-USD","filled_quantity":0}'


def measure(url: str, source: object, seconds: float) -> float:
    spec = RequestSpec(url=url, method="POST", source=source)  # type: ignore[arg-type]
    plan = LoadPlan(request=spec, connections=16, duration_s=seconds, warmup_s=1.0, timeout_s=5.0, workers=1)
    return run_load(plan).throughput_rps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    params = OrderMixParams()
    builtin = OrderMixFactory(params, seed=1)
    mix = params.mix
    shares = FlowShares(limit=mix.limit, market=mix.market, cancel=mix.cancel, amend=0.0, symbols=params.symbols,
                        mid_price=params.mid_price, price_band=params.price_band, max_quantity=params.max_quantity)
    profile = ProfileOrderFactory(compile_profile(load_profile("reference", "benchmark")), shares, seed=1)
    results: dict[str, list[float]] = {"built-in order mix": [], "reference profile": []}
    ratios = []
    with nginx_server(status=201, body=ORDER_BODY) as base:
        url = base.rstrip("/")
        for round_index in range(args.rounds):
            order = [("built-in order mix", builtin, f"{url}/orders"), ("reference profile", profile, url)]
            if round_index % 2:
                order.reverse()
            values = {}
            for name, source, target in order:
                values[name] = measure(target, source, args.seconds)
                results[name].append(values[name])
            ratios.append(values["reference profile"] / values["built-in order mix"])
            print(f"round {round_index + 1}: {values}", flush=True)
    lines = [
        f"Machine: {machine()}. `benchmarks/order_flow.py --rounds {args.rounds} --seconds {args.seconds:g}`: nginx "
        "answering 201 with an order id, closed loop, 16 connections, 1 worker, the two alternating per round.",
        "",
        "| order flow | req/s, median (min-max) |",
        "|---|---|",
    ]
    for name, values in results.items():
        lines.append(f"| {name} | {statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f}) |")
    lines += ["", f"Ratio profile / built-in, median of the per-round ratios: **{statistics.median(ratios):.2f}** "
                  f"(rounds {min(ratios):.2f}-{max(ratios):.2f}); goal ≥ 0.85."]
    text = "## Profile-driven order flow\n\n" + "\n".join(lines)
    replace_section(REPO / "docs" / "benchmarks.md", "order-flow", text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
