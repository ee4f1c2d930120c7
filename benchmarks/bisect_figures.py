"""``hftperf bisect`` on an 8-commit fixture: time per step and the smallest regression it pins reliably.

The fixture is the tests' (tests/support/compose_repo.py, a stdlib order service on the offline
base image with a health-checked dependency); commit 5 of 8 adds DELAY ms to every order. Each
trial is one ``hftperf bisect --good <1st> --bad <8th> -s order-latency`` with the default step
budget (10 measured rounds of 1 s per side, re-run once with 20 when a step cannot decide). A trial
*pins* the regression when it names commit 5; it may also say inconclusive (exit 3: a step could
not decide, never a wrong answer) or name a wrong commit (the figure that must stay at zero).

Writes the table into docs/benchmarks.md (section "bisect"). Needs Docker and the base image
(scripts/docker-offline-base.sh). Run it alone: flock /tmp/hftperf-bench.lock.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import REPO, machine, replace_section
from support.compose_repo import SERVER, git, make_repo

BISECT = ("-s", "order-latency", "-p", "rate=200", "-p", "connections=4", "--compose-file", "docker-compose.yml",
          "--service", "api", "--quiet")
_STEP = re.compile(r"^step \d+: ")
_FOUND = re.compile(r"first bad commit ([0-9a-f]{12})")
_STEPS = re.compile(r"\((\d+) steps?\b")  # the last line's count (--quiet prints no per-step lines)


def fixture(root: Path, delay_ms: float) -> list[str]:
    """8 commits; the 5th makes every order ``delay_ms`` slower. Their shas, oldest first."""
    repo = make_repo(root)
    commits = [git(repo, "rev-parse", "HEAD")]
    for n in range(2, 9):
        if n == 5:
            (repo / "service" / "server.py").write_text(SERVER.format(delay_ms=delay_ms))
        (repo / "notes.txt").write_text(f"change {n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {n}")
        commits.append(git(repo, "rev-parse", "HEAD"))
    return commits


def trial(repo: Path, commits: list[str]) -> tuple[str, int, float]:
    """(outcome: pinned|wrong|inconclusive|none|error, steps, seconds) of one bisect."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "hftperf", "bisect", "--good", commits[0], "--bad", commits[7],
                           *BISECT], cwd=repo, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "COLUMNS": "200", "HFTPERF_STATE_DIR": str(repo / ".state")})
    took = time.monotonic() - started
    counted = _STEPS.search(done.stdout)
    steps = int(counted.group(1)) if counted else sum(bool(_STEP.match(line)) for line in done.stdout.splitlines())
    found = _FOUND.search(done.stdout)
    if done.returncode == 1 and found:
        outcome = "pinned" if commits[4].startswith(found.group(1)) else "wrong"
    else:
        outcome = {0: "none", 3: "inconclusive"}.get(done.returncode, "error")
    last = done.stdout.strip().splitlines()[-1:] or done.stderr.strip().splitlines()[-1:]
    print(f"  exit {done.returncode} {outcome}: {steps} steps, {took:.0f} s: {last[0] if last else ''}", flush=True)
    return outcome, steps, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="3,1,0.5", help="regressions to try, ms per order, comma-separated")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md",
                        help="the markdown file whose 'bisect' section is replaced")
    args = parser.parse_args()
    began = time.monotonic()
    rows, per_step = [], []
    for delay_ms in (float(d) for d in args.delays.split(",")):
        print(f"+{delay_ms:g} ms at commit 5 of 8:", flush=True)
        with tempfile.TemporaryDirectory(prefix="hftperf-bench-bisect-") as tmp:
            commits = fixture(Path(tmp) / "repo", delay_ms)
            results = [trial(Path(tmp) / "repo", commits) for _ in range(args.trials)]
        outcomes = [r[0] for r in results]
        per_step += [r[2] / r[1] for r in results if r[1]]
        steps = statistics.median(r[1] for r in results)
        rows.append((f"+{delay_ms:g} ms per order (base ~1 ms)", f"{outcomes.count('pinned')}/{len(results)}",
                     f"{outcomes.count('wrong')}", f"{outcomes.count('inconclusive')}",
                     f"{outcomes.count('none') + outcomes.count('error')}", f"{steps:g}",
                     f"{statistics.median(r[2] for r in results):.0f} s"))
    text = "\n".join([
        "## `hftperf bisect`: time per step, smallest regression it pins", "",
        f"Machine: {machine()}. Fixture: tests/support/compose_repo.py, 8 commits, commit 5 adds the delay; "
        "`hftperf bisect --good <1st> --bad <8th> -s order-latency -p rate=200 -p connections=4` with the default "
        f"budget (10 rounds of 1 s per side, once more with 20 when a step cannot decide). Time per step, median "
        f"over all trials: **{statistics.median(per_step):.0f} s** (both stacks started, 1 warm-up round, the rounds). "
        f"Whole run: {(time.monotonic() - began) / 60:.0f} min.",
        "", "| regression at commit 5 | pinned to commit 5 | wrong commit | inconclusive (exit 3) | "
        "no regression / error | steps (median) | time per bisect (median) |", "|---|---|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in rows],
    ])
    print(text)
    replace_section(args.out, "bisect", text)


if __name__ == "__main__":
    main()
