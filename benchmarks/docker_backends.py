"""Same scenarios, three ways to run the reference stack: local processes, Docker host network, Docker bridge.

Each round runs the suite below once per mode through ``run_suite`` (exactly what
``hftperf run --stack local|docker`` does), rotating the order of the modes between rounds so
that a noisy neighbour does not always hit the same mode; the table gives medians over rounds
and the ratio to the local backend. Writes the table into docs/benchmarks.md. Run it alone:

    flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/docker_backends.py --rounds 3

Needs a running Docker daemon and a base image (``--base-image``, default
``$HFTPERF_DOCKER_BASE_IMAGE`` or hftperf-base:bookworm from scripts/docker-offline-base.sh).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _common import REPO, free_port, machine, median, replace_section

from hftperf.config import load_config
from hftperf.result import RunResult
from hftperf.scenarios import REGISTRY
from hftperf.suite import run_suite

MODES = {"local": ("local", "host"), "docker host": ("docker", "host"), "docker bridge": ("docker", "bridge")}
SUITE = """
[run]
label = "docker-backends"
stack = "{stack}"
[stack]
gateway_port = {gateway_port}
engine_port = {engine_port}
network = "{network}"
base_image = "{base_image}"

[[scenario]]
name = "health-sequential"     # one connection, back to back: the unloaded round trip
warmup = "1s"
duration = "4s"
[scenario.request]
path = "/health"

[[scenario]]
name = "health-concurrent"     # closed loop, 64 connections: what the path can carry
warmup = "1s"
duration = "4s"
connections = 64
[scenario.request]
path = "/health"

[[scenario]]
name = "order-latency"         # open loop, 500 orders/s through gateway -> engine -> SQLite
warmup = "1s"
duration = "6s"
rate = "500/s"
connections = 32
symbols = ["BTC-USD", "ETH-USD", "SOL-USD"]

[[scenario]]
name = "grpc-order-latency"    # open loop, 500 orders/s straight to the engine (gRPC)
warmup = "1s"
duration = "6s"
rate = "500/s"
concurrency = 16
symbols = ["BTC-USD", "ETH-USD", "SOL-USD"]
"""
SCENARIOS = ("health-sequential", "health-concurrent", "order-latency", "grpc-order-latency")


def run_mode(mode: str, base_image: str, work: Path) -> RunResult:
    """Run the suite once with the stack in ``mode``; the stack is started and removed by the run."""
    stack, network = MODES[mode]
    config_path = work / f"{mode.replace(' ', '-')}.toml"
    config_path.write_text(SUITE.format(stack=stack, network=network, base_image=base_image,
                                        gateway_port=free_port(), engine_port=free_port()))  # fmt: skip
    kinds = {kind: scenario_type.params_type for kind, scenario_type in REGISTRY.items()}
    config = load_config(config_path, known_kinds=kinds)
    out = work / f"out-{mode.replace(' ', '-')}"
    result = run_suite(config, out)
    shutil.rmtree(out, ignore_errors=True)
    return result


def dockerd_command() -> str:
    """The running dockerd's command line ('' when not found), to say how ports are forwarded."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"dockerd"):
            return " ".join(a.decode(errors="replace") for a in argv if a)
    return ""


def table(results: dict[str, list[RunResult]], rounds: int, base_image: str) -> str:
    """The markdown section: medians over rounds per mode and scenario, ratio to local."""

    def values(mode: str, scenario: str, key: str) -> list[float]:
        found = []
        for run in results[mode]:
            s = next(s for s in run.scenarios if s.name == scenario)
            found.append(s.throughput_rps if key == "rps" else (s.latency_us or {}).get(key, float("nan")))
        return found

    def cell(found: list[float]) -> str:
        return f"{median(found):,.0f} ({min(found):,.0f}–{max(found):,.0f})"

    dockerd = dockerd_command()
    lines = [
        "## Docker backends: local processes vs Docker host vs Docker bridge",
        "",
        f"`flock /tmp/hftperf-bench.lock python benchmarks/docker_backends.py --rounds {rounds}`: the same "
        "scenarios through `run_suite` (as `hftperf run --stack local|docker`), 1 gateway worker, SQLite, "
        f"load generator on the host; medians of {rounds} rounds, mode order rotated between rounds. "
        f"Stack image built on `{base_image}`; daemon: `{dockerd or 'dockerd (command line unknown)'}`. "
        "Bridge mode uses a per-stack user-defined bridge network with ports published on 127.0.0.1, "
        + (
            "relayed by `docker-proxy` (no iptables rules)."
            if "--iptables=false" in dockerd
            else "forwarded by docker-proxy or iptables NAT."
        ),
        f"Machine: {machine()}; load generator, stack and Docker share the cores.",
        "",
        "Cells: median (min–max) over the rounds; ratios of medians.",
        "",
        "| scenario | figure | local | docker host | docker bridge | host / local | bridge / local |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    rows = [("health-sequential", "p50", "p50 µs"), ("health-sequential", "rps", "req/s"),
            ("health-concurrent", "rps", "req/s"), ("health-concurrent", "p50", "p50 µs"),
            ("order-latency", "p50", "p50 µs"), ("order-latency", "p99", "p99 µs"),
            ("grpc-order-latency", "p50", "p50 µs"), ("grpc-order-latency", "p99", "p99 µs")]  # fmt: skip
    for scenario, key, label in rows:
        local, host, bridge = (values(m, scenario, key) for m in MODES)
        lines.append(f"| {scenario} | {label} | {cell(local)} | {cell(host)} | {cell(bridge)} | "
                     f"{median(host) / median(local):.2f} | {median(bridge) / median(local):.2f} |")  # fmt: skip
    errors = {m: sum(s.failed for r in results[m] for s in r.scenarios) for m in MODES}
    lines += ["", "Errors over all rounds: " + ", ".join(f"{m} {n}" for m, n in errors.items()) + "."]
    return "\n".join(lines)


def main() -> int:
    """Run every mode ``--rounds`` times and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-image", default=os.environ.get("HFTPERF_DOCKER_BASE_IMAGE", "hftperf-base:bookworm"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    results: dict[str, list[RunResult]] = {mode: [] for mode in MODES}
    modes = list(MODES)
    with tempfile.TemporaryDirectory(prefix="hftperf-bench-docker-") as tmp:
        for round_index in range(args.rounds):
            order = modes[round_index % len(modes) :] + modes[: round_index % len(modes)]
            for mode in order:
                run = run_mode(mode, args.base_image, Path(tmp))
                results[mode].append(run)
                summary = ", ".join(
                    f"{s.name} {s.throughput_rps:,.0f}/s p50 {(s.latency_us or {}).get('p50', 0):,.0f}µs"
                    for s in run.scenarios
                )
                print(f"round {round_index + 1} {mode}: {summary}", file=sys.stderr, flush=True)
    text = table(results, args.rounds, args.base_image)
    print(text)
    replace_section(args.out, "docker-backends", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
