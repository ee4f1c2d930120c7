"""The compose backend and ``ab --rev`` through the real Docker daemon, on a fixture git repository.

The repository is made by the test (tests/support/compose_repo.py): a stdlib HTTP order service
on the offline base image, compose file api + db (health-checked), and a second commit whose
orders take 2 ms longer. Skipped, saying why, when no daemon or base image is available.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.compose_repo import COMPOSE, add_latency_commit, git, make_repo, write_compose
from support.servers import free_port
from support.verdicts import skip_if_inconclusive

from hftperf.result import load_result

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LABEL = "hftperf.stack"
# 8 rounds: with fewer than 6 the paired (Wilcoxon) test cannot reach p < 0.05 at all
AB_QUICK = ("--scenario", "order-latency", "-p", "rate=200", "-p", "connections=4", "--rounds", "8",
            "--warmup-rounds", "1", "--round-duration", "1s", "--warmup", "0.3s", "--quiet")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Path:
    """The fixture repository: commit 1 the order service, commit 2 adds 2 ms per order."""
    path = make_repo(tmp_path_factory.mktemp("orders") / "repo")
    add_latency_commit(path, 2.0)
    return path


def hftperf(cwd: Path, *args: str, env: dict[str, str] | None = None,
            timeout: float = 400) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "HFTPERF_STATE_DIR": str(cwd / ".state"), "COLUMNS": "200", **(env or {})}
    full_env.pop("HFTPERF_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full_env, check=False)


def labelled(client: Any, name: str | None = None) -> list[Any]:
    """Containers, networks and volumes hftperf labelled (for stack ``name``, or any)."""
    flt = {"label": f"{LABEL}={name}" if name else LABEL}
    return [*client.containers.list(all=True, filters=flt), *client.networks.list(filters=flt),
            *client.volumes.list(filters=flt)]


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("hftperf: error:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def config_file(directory: Path, seconds: float = 2.0) -> Path:
    path = directory / "orders.toml"
    path.write_text(f"""
[[scenario]]
name = "orders"
kind = "order-latency"
rate = 100
connections = 4
warmup = "0.5s"
duration = "{seconds}s"
thresholds = ["p99 < 500ms"]
""")
    return path


def test_run_stack_compose_passes_and_records_images(repo: Path, client: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    port = free_port()
    done = hftperf(repo, "run", "--config", str(config_file(tmp_path)), "--stack", "compose",
                   "--compose-file", "docker-compose.yml", "--service", "api", "--out", str(out), "--quiet",
                   env={"API_PORT": str(port)})
    assert done.returncode in (0, 3), done.stderr  # 3: inconclusive on a busy machine (loud, not a failure)
    result = load_result(out / "result.json")
    scenario = result.scenarios[0]
    assert scenario.requests > 100 and scenario.failed == 0
    services = result.environment["stack_services"]
    assert set(services) == {"api", "db"}
    head = git(repo, "rev-parse", "HEAD")
    assert services["api"]["image_id"].startswith("sha256:") and services["api"]["git_commit"] == head
    assert result.environment["stack"] == "compose"
    assert labelled(client) == []  # nothing left behind


def test_stack_up_status_logs_down(repo: Path, client: Any, tmp_path: Path) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    port = free_port()
    up = hftperf(repo, "stack", "up", "--backend", "compose", "--compose-file", "docker-compose.yml",
                 "--service", "api", "--name", name, env={"API_PORT": str(port)})
    try:
        assert up.returncode == 0, up.stderr
        assert f"http://127.0.0.1:{port}" in up.stdout
        published = client.containers.get(f"hftperf-{name}-api").attrs["NetworkSettings"]["Ports"]["8000/tcp"]
        assert {b["HostIp"] for b in published} == {"127.0.0.1"}  # loopback only
        status = hftperf(repo, "stack", "status", "--backend", "compose", "--name", name)
        assert status.returncode == 0 and "api" in status.stdout and "db" in status.stdout, status.stdout
        logs = hftperf(repo, "stack", "logs", "api", "--name", name)
        assert "order service listening on 8000" in logs.stdout, logs
    finally:
        down = hftperf(repo, "stack", "down", "--backend", "compose", "--name", name, "--volumes")
    assert down.returncode == 0, down.stderr
    assert labelled(client, name) == []


def test_ab_rev_detects_the_slower_commit_and_reuses_images(repo: Path, client: Any, tmp_path: Path) -> None:
    out = tmp_path / "ab"
    base = git(repo, "rev-parse", "HEAD~1")
    head = git(repo, "rev-parse", "HEAD")
    done = hftperf(repo, "ab", "--rev", "HEAD~1", "--rev", "HEAD", "--compose-file", "docker-compose.yml",
                   "--service", "api", *AB_QUICK, "--fail-on-regression", "--out", str(out),
                   "--history", str(tmp_path / "history.db"))
    listed = hftperf(repo, "history", "list", "--history", str(tmp_path / "history.db"), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)["runs"]
    assert sorted(r["commit_sha"] for r in runs) == sorted([base, head]), runs  # each side under its commit
    assert {r["source"] for r in runs} == {"ab"}
    skip_if_inconclusive(done)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert base[:12] in done.stdout and head[:12] in done.stdout and "orders take 2 ms longer" in done.stdout
    for image in (f"hftperf-orders-api:{base[:12]}", f"hftperf-orders-api:{head[:12]}"):
        assert client.images.get(image)
    side_b = load_result(out / "b" / "result.json")
    assert side_b.environment["revision_commit"] == head and len(side_b.scenarios) == 9
    assert json.loads((out / "rounds.json").read_text())["details"]["rounds"]
    assert "regression" in (out / "report.md").read_text()
    assert labelled(client) == []
    # The same revisions again: nothing is built (the images are tagged by commit).
    same = hftperf(repo, "ab", "--rev", "HEAD", "--rev", "HEAD", "--compose-file", "docker-compose.yml",
                   "--service", "api", *AB_QUICK, "--fail-on-regression", "--out", str(tmp_path / "same"))
    assert same.returncode in (0, 3), (same.stdout, same.stderr)
    side_a = load_result(tmp_path / "same" / "a" / "result.json")
    assert side_a.environment["stack_services"]["api"]["image"] == f"hftperf-orders-api:{head[:12]}"
    assert labelled(client) == []


def test_uncommitted_changes_are_ignored_with_a_warning(repo: Path, client: Any, tmp_path: Path) -> None:
    server = repo / "service" / "server.py"
    original = server.read_text()
    server.write_text(original.replace("DELAY_S = ", "DELAY_S = 0.05 + "))
    try:
        done = hftperf(repo, "ab", "--rev", "HEAD", "--rev", "HEAD", "--compose-file", "docker-compose.yml",
                       "--service", "api", *AB_QUICK, "--fail-on-regression")
    finally:
        server.write_text(original)
    assert done.returncode in (0, 3), done.stderr  # 3: inconclusive on a busy machine (loud, not a failure)
    assert "uncommitted changes" in done.stderr
    assert labelled(client) == []


def _bad(tmp_path: Path, text: str) -> Path:
    repo = make_repo(tmp_path / "bad", compose=text)
    return repo


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.replace("    expose:", "    restart: always\n    expose:"), "key 'restart' is not supported"),
    (lambda c: c.replace("    build: ./service\n", ""), "services.db: needs 'image' or 'build'"),
    (lambda c: c.replace("  db:\n    build", "  db:\n    depends_on: [api]\n    build"), "dependency cycle"),
    (lambda c: c.replace("retries: 20", "retries: 2").replace("9000/'", "9999/'"), "service db failed its health"),
])
def test_bad_compose_files_exit_2_and_leave_nothing(tmp_path: Path, client: Any, base_image: str, change: Any,
                                                    message: str) -> None:
    repo = _bad(tmp_path, change(COMPOSE))
    done = hftperf(repo, "run", "--config", str(config_file(tmp_path)), "--stack", "compose",
                   "--compose-file", "docker-compose.yml", "--service", "api", "--out", str(tmp_path / "o"),
                   env={"API_PORT": str(free_port())})
    assert message in one_line_error(done)
    assert labelled(client) == []


def test_port_in_use_exits_2_and_leaves_nothing(repo: Path, client: Any, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = hftperf(repo, "run", "--config", str(config_file(tmp_path)), "--stack", "compose",
                       "--compose-file", "docker-compose.yml", "--service", "api", "--out", str(tmp_path / "o"),
                       env={"API_PORT": str(port)})
    assert f"port {port} on 127.0.0.1 is already in use" in one_line_error(done)
    assert labelled(client) == []


def test_wildcard_binding_is_refused(tmp_path: Path, client: Any, base_image: str) -> None:
    repo = _bad(tmp_path, COMPOSE.replace('"${API_PORT:-18080}:8000"', '"0.0.0.0:${API_PORT:-18080}:8000"'))
    done = hftperf(repo, "stack", "up", "--backend", "compose", "--compose-file", "docker-compose.yml",
                   "--service", "api", "--name", f"t{uuid.uuid4().hex[:8]}", env={"API_PORT": str(free_port())})
    assert "publishes beyond this machine" in one_line_error(done)
    assert labelled(client) == []


def test_a_service_dying_during_the_run_is_named_in_the_report(repo: Path, client: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = hftperf(repo, "run", "--config", str(config_file(tmp_path, seconds=4.0)), "--stack", "compose",
                   "--compose-file", "docker-compose.yml", "--service", "api", "--out", str(out), "--quiet",
                   env={"API_PORT": str(free_port()), "DIE_AFTER_S": "2.5"}, timeout=120)
    assert done.returncode in (0, 1, 3), done.stderr
    assert "service api exited with status 3" in done.stderr and "out of memory" in done.stderr
    result = load_result(out / "result.json")
    scenario = result.scenarios[0]
    assert scenario.failed > 0  # orders after the death are errors, not lost
    assert scenario.requests == scenario.ok + scenario.failed + scenario.in_flight
    assert 3.5 < result.scenarios[0].duration_s < 6.0  # it ended on time
    summary = (out / "summary.md").read_text()
    assert "service api exited with status 3" in summary and "out of memory" in summary
    assert labelled(client) == []


def test_rev_usage_errors(repo: Path, tmp_path: Path) -> None:
    assert "exactly two" in one_line_error(hftperf(repo, "ab", "--rev", "HEAD"))
    assert "no such revision" in one_line_error(
        hftperf(repo, "ab", "--rev", "nope", "--rev", "HEAD", "--compose-file", "docker-compose.yml",
                "--service", "api", "--out", str(tmp_path / "x")))
    assert "not a git checkout" in one_line_error(
        hftperf(repo, "ab", "--rev", "HEAD", "--rev", "HEAD", "--repo", str(tmp_path), "--out", str(tmp_path / "y")))
    write_compose(repo)  # untouched


def test_ab_rev_builds_the_bundled_stack_of_an_hftperf_checkout(client: Any, base_image: str, tmp_path: Path) -> None:
    checkout = Path(__file__).resolve().parents[2]
    head = git(checkout, "rev-parse", "HEAD")
    done = hftperf(tmp_path, "ab", "--rev", "HEAD", "--rev", "HEAD", "--repo", str(checkout), "--base-image",
                   base_image, "-s", "health-concurrent", "--rounds", "3", "--warmup-rounds", "0",
                   "--round-duration", "1s", "--warmup", "0.2s", "--quiet", "--fail-on-regression",
                   "--out", str(tmp_path / "ab"), timeout=1200)
    assert done.returncode in (0, 3), (done.stdout, done.stderr)
    assert head[:12] in done.stdout
    assert client.images.get(f"hftperf-stack-rev:{head[:12]}")
    side_a = load_result(tmp_path / "ab" / "a" / "result.json")
    assert side_a.environment["stack_services"]["reference-stack"]["git_commit"] == head
    assert labelled(client) == []
