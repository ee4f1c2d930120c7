"""Show coordinated omission: one server that stalls 200 ms once per second, measured open and closed loop.

    python benchmarks/coordinated_omission.py   # prints a markdown table and writes docs/benchmarks.md
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import REPO, machine, replace_section
from support.servers import behaviour_server

from hftperf.loadgen import LoadPlan, RequestSpec, run_load
from hftperf.units import format_duration_us


def main() -> None:
    rows = []
    with behaviour_server("stall") as url:
        for label, rate in (("open loop, 300 req/s", 300.0), ("closed loop", None)):
            result = run_load(LoadPlan(RequestSpec(url + "/"), connections=8, duration_s=10.0,
                                       warmup_s=1.0, rate_per_s=rate))
            h = result.latency
            rows.append(f"| {label} | {result.requests:,} | {result.throughput_rps:,.0f} | "
                        + " | ".join(format_duration_us(h.value_at_percentile(p)) for p in (50, 90, 99, 99.9))
                        + f" | {format_duration_us(h.max_us)} |")
    table = "\n".join([
        f"Machine: {machine()}. Server: asyncio, answers at once but freezes 200 ms at the start of "
        "every second (20% of the time). 8 connections, 10 s after 1 s warm-up.",
        "",
        "| load model | requests | ok req/s | p50 | p90 | p99 | p99.9 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Open loop measures each request from its intended send time: the requests due during a "
        "stall wait for it, so p99 shows the stall. Closed loop stops sending while the 8 "
        "connections are stuck, so only 8 requests per stall see it and thousands of fast ones "
        "dilute them: p99 looks healthy although the server was frozen a fifth of the time.",
    ])
    print(table)
    replace_section(REPO / "docs" / "benchmarks.md", "coordinated-omission",
                    "## Coordinated omission, measured\n\n`python benchmarks/coordinated_omission.py`\n\n" + table)


if __name__ == "__main__":
    main()
