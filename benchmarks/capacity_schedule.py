"""Capacity search: a load run restarted per rate step (before) against one run over a step schedule (after).

Both builds run the same ``order-throughput`` scenario against the bundled reference stack (a
fresh stack per run, started by this script from the current checkout, so the target is the
same code for both), alternating A B B A ... Reported per build: capacity_rps, the steps the
search ran and the wall time of ``hftperf run`` (process start to exit), medians of the runs.

    flock /tmp/hftperf-bench.lock .venv/bin/python benchmarks/capacity_schedule.py [--base main] [--rounds 3]

"Before" is ``git archive`` of ``--base`` (default ``main``), "after" of HEAD: both committed code,
loaded through PYTHONPATH from a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, free_port, machine, median, replace_section

from hftperf.reference_engine.backends import LocalStack, StackConfig
from hftperf.shapes import CapacityFigures

SCENARIO = """
[run]
stack = "none"
retry_inconclusive = 0
[[scenario]]
name = "capacity"
kind = "order-throughput"
warmup = "{warmup}"
seed = 42
start_rate = "{start}"
step_rate = "{step}"
max_rate = "{max}"
step_duration = "{step_duration}"
slo_p99 = "{slo}"
max_error_rate = "0.1%"
connections = {connections}
timeout = "{timeout}"
"""


def _export(commit: str, into: Path) -> Path:
    """The source tree of ``commit`` in ``into`` (git archive: no worktree, nothing registered)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True, cwd=REPO).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_search(source: Path, config: Path, work: Path) -> dict[str, float]:
    """One ``hftperf run`` of the capacity scenario from ``source`` against a fresh bundled stack."""
    stack_config = StackConfig(name=f"capbench-{os.getpid()}", gateway_port=free_port(), engine_port=free_port(),
                               data_dir=work / "data", state_dir=work / "state",
                               symbols=("BTC-USD", "ETH-USD", "SOL-USD"))
    env = {**os.environ, "PYTHONPATH": str(source)}
    with LocalStack(stack_config) as endpoints:
        url = endpoints.gateway_url
        out = work / "out"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", url,
                               "--out", str(out), "-q"], capture_output=True, text=True, env=env, cwd=work)
        wall_s = time.monotonic() - started
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"hftperf run failed ({done.returncode}): {done.stderr[-800:]}")
    (scenario,) = json.loads((out / "result.json").read_text())["scenarios"]
    capacity = CapacityFigures.from_figures(scenario["figures"])
    if capacity.capacity_rps is None:
        raise SystemExit(f"{out / 'result.json'}: the capacity search recorded no capacity_rps")
    return {"capacity_rps": float(capacity.capacity_rps), "steps": float(len(capacity.curve)), "wall_s": wall_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", default="2s")
    parser.add_argument("--start", default="250/s")
    parser.add_argument("--step", default="250/s")
    parser.add_argument("--max", default="5000/s")
    parser.add_argument("--step-duration", default="3s")
    parser.add_argument("--slo", default="50ms")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", default="5s")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        builds = {"before (restart per step)": _export(args.base, root / "before"),
                  "after (one run, step schedule)": _export("HEAD", root / "after")}
        text = SCENARIO.format(warmup=args.warmup, start=args.start, step=args.step, max=args.max,
                               step_duration=args.step_duration, slo=args.slo, connections=args.connections,
                               timeout=args.timeout)
        configs = {}
        for name, source in builds.items():  # a build before [run] retry_inconclusive existed does not re-run
            configs[name] = root / f"capacity-{len(configs)}.toml"
            knows_retry = "retry_inconclusive" in (source / "hftperf" / "config" / "run.py").read_text() \
                if (source / "hftperf" / "config" / "run.py").exists() else False
            configs[name].write_text(text if knows_retry else text.replace("retry_inconclusive = 0\n", ""))
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
        names = list(builds)
        for round_index in range(args.rounds):
            for name in names if round_index % 2 == 0 else names[::-1]:
                work = root / f"run-{round_index}-{names.index(name)}"
                work.mkdir()
                result = run_search(builds[name], configs[name], work)
                runs[name].append(result)
                print(f"round {round_index + 1} {name:32} capacity {result['capacity_rps']:>7,.0f}/s "
                      f"steps {result['steps']:.0f} wall {result['wall_s']:6.1f}s", file=sys.stderr)
    before, after = (runs[name] for name in names)
    figures = {name: {key: median([r[key] for r in rs]) for key in ("capacity_rps", "steps", "wall_s")}
               for name, rs in runs.items()}
    lines = [
        f"Machine: {machine()}. The bundled stack (SQLite) and the load generator on the same cores; "
        f"`order-throughput` {args.start} to {args.max} by {args.step}, {args.step_duration} per step, "
        f"warm-up {args.warmup}, SLO p99 {args.slo}, {args.connections} connections; {args.rounds} runs per build "
        "alternating, a fresh stack per run; wall time of `hftperf run` from process start to exit.",
        "",
        "| build | capacity_rps (runs) | median | steps run (median) | wall s (runs) | median |",
        "|---|---|---:|---:|---|---:|",
    ]
    for name, rs in runs.items():
        f = figures[name]
        capacities = ", ".join(f"{r['capacity_rps']:,.0f}" for r in rs)
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in rs)
        lines.append(f"| {name} | {capacities} | {f['capacity_rps']:,.0f}/s | {f['steps']:.0f} | {walls} | "
                     f"{f['wall_s']:.1f} |")
    cap_before, cap_after = figures[names[0]]["capacity_rps"], figures[names[1]]["capacity_rps"]
    wall_ratio = figures[names[1]]["wall_s"] / figures[names[0]]["wall_s"]
    cap_gap = abs(cap_after - cap_before) / cap_before if cap_before else float("nan")
    lines += ["", f"Capacity after vs before: {cap_gap:.1%} apart (goal ≤ 10%); wall time after / before: "
              f"**{wall_ratio:.2f}** (goal ≤ 0.60). Runs: before {len(before)}, after {len(after)}."]
    table = "\n".join(lines)
    print(table)
    replace_section(args.out, "capacity-schedule", "## Capacity search: one run over a step schedule\n\n"
                    "`python benchmarks/capacity_schedule.py`\n\n" + table)


if __name__ == "__main__":
    main()
