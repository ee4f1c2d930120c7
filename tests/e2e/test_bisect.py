"""``hftperf bisect`` on a fixture repository whose 5th of 8 commits makes every order 3 ms slower.

Real Docker (the compose backend builds each revision's image from the offline base image, once per
commit); skipped with the reason when no daemon or base image is available.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.compose_repo import SERVER, git, make_repo
from support.docker_env import docker_base_image
from support.verdicts import skip_if_inconclusive

REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = ("-s", "order-latency", "-p", "rate=200", "-p", "connections=4", "--rounds", "10", "--round-duration",
         "1s", "--warmup", "0.3s", "--compose-file", "docker-compose.yml", "--service", "api")

pytestmark = pytest.mark.docker
BASE_IMAGE = "hftperf-base:bookworm"  # the compose file's default; the fixture sets the one present


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    global BASE_IMAGE
    image, why = docker_base_image()
    if image is None:
        pytest.skip(why)
    BASE_IMAGE = image
    root = make_repo(tmp_path_factory.mktemp("bisect") / "orders")
    commits = [git(root, "rev-parse", "HEAD")]
    for n in range(2, 9):
        if n == 5:
            (root / "service" / "server.py").write_text(SERVER.format(delay_ms=3))
        (root / "notes.txt").write_text(f"change {n}\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"change {n}" + (" (orders 3 ms slower)" if n == 5 else ""))
        commits.append(git(root, "rev-parse", "HEAD"))
    return root, commits


def hftperf(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HFTPERF_STATE_DIR": str(cwd / ".state"), "BASE_IMAGE": BASE_IMAGE}
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=1200,
                          cwd=cwd, env=env)


def test_bisect_names_the_commit_that_made_orders_slower(repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, commits = repo
    history = tmp_path / "bisect.db"
    done = hftperf(root, "bisect", "--good", commits[0], "--bad", commits[7], *QUICK, "--history", str(history))
    skip_if_inconclusive(done)  # a step the busy machine could not decide: said loudly, not a wrong answer
    assert done.returncode == 1, done.stdout + done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("step ")]
    assert len({line.split(":")[0].split()[1] for line in steps}) <= 4, done.stdout  # a re-run is the same step
    assert f"first bad commit {commits[4][:12]}" in done.stdout and "orders 3 ms slower" in done.stdout
    listed = hftperf(root, "history", "list", "--history", str(history), "--format", "json")
    assert listed.returncode == 0 and listed.stdout.count('"source": "bisect"') == len(steps)


def test_a_range_without_a_regression_says_so(repo: tuple[Path, list[str]]) -> None:
    root, commits = repo
    done = hftperf(root, "bisect", "--good", commits[5], "--bad", commits[7], *QUICK)
    skip_if_inconclusive(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no regression" in done.stdout


@pytest.mark.parametrize(
    ("good", "bad", "needle"),
    [("nosuchrev", "HEAD", "nosuchrev"), ("HEAD", "HEAD", "same commit"), ("HEAD", "HEAD~3", "not an ancestor")],
)
def test_bad_ranges_exit_2_with_one_line(repo: tuple[Path, list[str]], good: str, bad: str, needle: str) -> None:
    root, _ = repo
    done = hftperf(root, "bisect", "--good", good, "--bad", bad, *QUICK)
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line
