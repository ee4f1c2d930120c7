"""hftperf's load generator side by side with wrk and Locust, against nginx on loopback.

Runs, alternating the tools in every round so that drift of the machine's speed hits all of
them alike: closed loop at 1 and at 16 connections (wrk -t1 vs hftperf -w1, and wrk -t2 vs
hftperf -w2 at 16), Locust FastHttpUser where installed, then hftperf open loop at 20,000 req/s
(achieved rate, schedule lag) and the peak memory of a 60 s run at that rate.
Prints a markdown table and writes it into docs/benchmarks.md.

    python benchmarks/loadgen_vs_wrk.py [--rounds 5] [--seconds 5] [--memory-seconds 60]
    python benchmarks/loadgen_vs_wrk.py --compare-base main   # two builds of hftperf, no wrk

``--compare-base`` runs only hftperf's closed loop at 1 and 16 connections, the ``git archive``
of that commit against HEAD's (both from PYTHONPATH in a temporary directory), alternating the
builds in every round, and reports the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, median, nginx_server, replace_section

_UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


@dataclass
class Sample:
    rps: float
    p50_us: float
    p99_us: float


def run_wrk(url: str, connections: int, threads: int, seconds: int) -> Sample:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * _UNITS_US[unit]

    return Sample(rps, pct("50"), pct("99"))


def run_hftperf(url: str, connections: int, workers: int, seconds: float, rate: float | None = None,
                measure_rss: bool = False, source: Path | None = None) -> tuple[dict, float]:
    cmd = [sys.executable, "-m", "hftperf", "load", url, "-c", str(connections), "-w", str(workers),
           "-d", f"{seconds}s", "--warmup", "1s", "--json", "-q"]
    if rate:
        cmd += ["--rate", str(rate)]
    # Measure the peak RSS of exactly this child: a fresh wrapper process waits for it.
    wrapper = ("import resource,subprocess,sys; p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
               "sys.stdout.write(p.stdout);"
               "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    # With ``source`` (an exported build): PYTHONPATH decides which hftperf loads, from a neutral cwd.
    env = {**os.environ, "PYTHONPATH": str(source)} if source is not None else None
    done = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                          cwd=tempfile.gettempdir() if source is not None else REPO, env=env)
    if not done.stdout.strip():
        raise SystemExit(f"hftperf load failed: {done.stderr}")
    peak_rss_mb = float(done.stderr.strip().splitlines()[-1]) / 1024 if measure_rss else float("nan")
    return json.loads(done.stdout), peak_rss_mb


def hftperf_sample(url: str, connections: int, workers: int, seconds: int) -> Sample:
    result, _ = run_hftperf(url, connections, workers, seconds)
    return Sample(result["throughput_rps"], result["latency_us"]["p50"], result["latency_us"]["p99"])


def run_locust(url: str, users: int, seconds: int) -> Sample | None:
    if importlib.util.find_spec("locust") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "stats")
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(REPO / "benchmarks" / "locustfile_fasthttp.py"),
             "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "-H", url.rstrip("/"),
             "--csv", prefix, "--only-summary", "--loglevel", "ERROR"],
            capture_output=True, text=True, timeout=seconds + 60)
        with open(prefix + "_stats.csv") as stats:
            rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    def number(key: str, scale: float = 1.0) -> float:
        value = total.get(key, "N/A")
        return float(value) * scale if value not in ("N/A", "", None) else float("nan")

    return Sample(number("Requests/s"), number("50%", 1e3), number("99%", 1e3))


def _export(commit: str, into: Path) -> Path:
    """The source tree of ``commit`` in ``into`` (git archive: no worktree, nothing registered)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True, cwd=REPO).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def compare_builds(base: str, rounds: int, seconds: int, out: Path) -> None:
    """Closed-loop req/s of two builds of hftperf (``base`` and HEAD) against nginx, alternating."""
    configs = [("1 connection", 1), ("16 connections", 16)]
    with tempfile.TemporaryDirectory() as tmp, nginx_server() as url:
        builds = {"before": _export(base, Path(tmp) / "before"), "after": _export("HEAD", Path(tmp) / "after")}
        rps: dict[tuple[str, str], list[float]] = {}
        for round_index in range(rounds):
            for label, connections in configs:
                order = list(builds) if round_index % 2 == 0 else list(builds)[::-1]
                for name in order:
                    result, _ = run_hftperf(url, connections, 1, seconds, source=builds[name])
                    rps.setdefault((label, name), []).append(result["throughput_rps"])
                    print(f"round {round_index + 1} {label:16} {name:7} {result['throughput_rps']:>10,.0f} req/s",
                          file=sys.stderr)
    lines = [
        f"Machine: {machine()}. nginx 1 worker on 127.0.0.1, `hftperf load -w 1` closed loop, {rounds} rounds of "
        f"{seconds} s, builds alternating within each round (before = `{base}`, after = HEAD); medians.",
        "",
        "| load | before req/s | after req/s | after / before (median of per-round pairs) |",
        "|---|---:|---:|---:|",
    ]
    for label, _ in configs:
        before, after = rps[(label, "before")], rps[(label, "after")]
        pairs = [a / b for a, b in zip(after, before, strict=True) if b]
        lines.append(f"| {label} | {median(before):,.0f} | {median(after):,.0f} | "
                     f"{median(pairs):.3f} (range {min(pairs):.3f}–{max(pairs):.3f}) |")
    table = "\n".join(lines)
    print(table)
    replace_section(out, "loadgen-builds", "## Load generator speed: this build against its base\n\n"
                    f"`python benchmarks/loadgen_vs_wrk.py --compare-base {base}`\n\n" + table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--open-seconds", type=int, default=15)
    parser.add_argument("--memory-seconds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--compare-base", metavar="COMMIT", help="compare hftperf at COMMIT with HEAD instead")
    args = parser.parse_args()
    if args.compare_base:
        compare_builds(args.compare_base, args.rounds, args.seconds, args.out)
        return

    configs = [  # (label, connections, wrk threads = hftperf workers)
        ("1 connection", 1, 1),
        ("16 connections", 16, 1),
        ("16 connections, 2 threads/workers", 16, 2),
    ]
    samples: dict[tuple[str, str], list[Sample]] = {}
    with nginx_server() as url:
        for round_index in range(args.rounds):
            for label, connections, threads in configs:
                tools = [("wrk", lambda c=connections, t=threads: run_wrk(url, c, t, args.seconds)),
                         ("hftperf", lambda c=connections, t=threads: hftperf_sample(url, c, t, args.seconds))]
                if threads == 1:
                    tools.append(("locust", lambda c=connections: run_locust(url, c, args.seconds)))
                if round_index % 2:
                    tools.reverse()
                for tool, run in tools:
                    sample = run()
                    if sample is not None:
                        samples.setdefault((label, tool), []).append(sample)
                        print(f"round {round_index + 1} {label:36} {tool:8} {sample.rps:>10,.0f} req/s "
                              f"p50 {sample.p50_us:8.1f}µs p99 {sample.p99_us:8.1f}µs", file=sys.stderr)
        open_runs = [run_hftperf(url, 64, 1, args.open_seconds, rate=20000)[0] for _ in range(3)]
        memory_result, peak_rss_mb = run_hftperf(url, 64, 1, args.memory_seconds, rate=20000, measure_rss=True)

    lines = [
        f"Machine: {machine()}. nginx 1 worker serving a 31-byte JSON body on 127.0.0.1; "
        f"every tool on the same 2 cores as nginx. {args.rounds} rounds of {args.seconds} s, tools "
        "alternating within each round; medians shown.",
        "",
        "| load | tool | req/s | p50 | p99 | tool / wrk req/s (median of per-round pairs) | p50 tool − wrk |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, _, _ in configs:
        wrk = samples.get((label, "wrk"), [])
        wrk_p50 = median([s.p50_us for s in wrk])
        for tool in ("wrk", "hftperf", "locust"):
            runs = samples.get((label, tool))
            if not runs:
                continue
            rps, p50, p99 = (median([getattr(s, f) for s in runs]) for f in ("rps", "p50_us", "p99_us"))
            # Same-round pairs cancel most of the machine's drift between rounds.
            pairs = [s.rps / w.rps for s, w in zip(runs, wrk, strict=False) if w.rps]
            ratio = f"{median(pairs):.2f} (range {min(pairs):.2f}–{max(pairs):.2f})" if tool != "wrk" and pairs else ""
            delta = f"{p50 - wrk_p50:+.0f} µs" if tool != "wrk" else ""
            lines.append(f"| {label} | {tool} | {rps:,.0f} | {p50:,.0f} µs | {p99:,.0f} µs | {ratio} | {delta} |")
    if any(tool == "locust" for _, tool in samples):
        lines.append("\nLocust writes its percentiles rounded to whole milliseconds (0 means under 1 ms).")
    else:
        lines.append("\nLocust not installed (`pip install -e '.[bench]'`): its rows are missing.")
    lines += [
        "",
        f"Open loop, hftperf `--rate 20000 -c 64 -w 1`, {args.open_seconds} s, 3 runs:",
        "",
        "| run | sent req/s | ok req/s | sent / asked | pacer lag p99 | latency p50 | latency p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for index, result in enumerate(open_runs, 1):
        sent_rps = result.get("sent", result["requests"]) / result["duration_s"]
        lines.append(f"| {index} | {sent_rps:,.0f} | {result['throughput_rps']:,.0f} | {sent_rps / 20000:.4f} | "
                     f"{result['pacer_lag_us']['p99']:,.0f} µs | {result['latency_us']['p50']:,.0f} µs | "
                     f"{result['latency_us']['p99']:,.0f} µs |")
    m = memory_result
    exact = m["requests"] == m["ok"] + sum(m["errors"].values()) + m["in_flight"]
    lines += [
        "",
        f"Peak memory (max RSS) of one `hftperf load --rate 20000 -c 64 -w 1` run of {args.memory_seconds} s: "
        f"**{peak_rss_mb:.0f} MB** ({m['requests']:,} requests, accounting exact: {exact}).",
    ]
    table = "\n".join(lines)
    print(table)
    replace_section(args.out, "loadgen-vs-wrk", "## Load generator vs wrk and Locust\n\n"
                    "`python benchmarks/loadgen_vs_wrk.py`\n\n" + table)


if __name__ == "__main__":
    main()
