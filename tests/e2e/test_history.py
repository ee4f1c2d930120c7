"""``hftperf run --history`` and ``hftperf history`` on a fixture repository whose 5th commit is slower.

The fixture is a git repository made by the test: a stdlib HTTP service whose per-request delay
is a file in the repository; commit 5 of 8 adds 3 ms to every request. Each commit is checked
out, its service started on a loopback port and measured with ``hftperf run --history``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SERVICE = r'''
import http.server, sys, time
from pathlib import Path
delay_s = float(Path(__file__).with_name("delay_ms").read_text()) / 1000

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if delay_s:
            time.sleep(delay_s)
        # one write: separate header and body segments would meet Nagle and delayed ACKs (40 ms)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''

SUITE = """
[run]
stack = "none"
[[scenario]]
name = "health-sequential"
warmup = "200ms"
duration = "3s"
[scenario.request]
path = "/health"
"""

# 3 s: three 1 s interval windows per run, so the newest commit alone has samples enough to test
SLOW_FROM = 5  # the 1-based commit that adds the delay
COMMITS = 8


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def hftperf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The fixture repository, its commits, and one run per commit (result dirs + a SQLite history)."""
    root = tmp_path_factory.mktemp("history")
    repo = root / "service"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "service.py").write_text(SERVICE)
    commits = []
    for n in range(1, COMMITS + 1):
        (repo / "delay_ms").write_text("3" if n >= SLOW_FROM else "0")
        (repo / "notes.txt").write_text(f"commit {n}\n")
        git(repo, "add", "-A")
        # distinct committer times (1 minute apart) order the series like the commit graph
        git(repo, "commit", "-q", "-m", f"change {n}" + (" (slower)" if n == SLOW_FROM else ""),
            date=f"2026-01-01T00:{n:02d}:00Z")
        commits.append(git(repo, "rev-parse", "HEAD"))
    suite = root / "suite.toml"
    suite.write_text(SUITE)
    history = root / "history.db"
    results = []
    for n, sha in enumerate(commits, start=1):
        git(repo, "checkout", "-q", sha)
        server = subprocess.Popen([sys.executable, str(repo / "service.py")], stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline()) if server.stdout else 0
            out = root / f"run-{n}"
            done = hftperf("run", "--config", str(suite), "--target", f"http://127.0.0.1:{port}", "--out", str(out),
                           "-q", "--history", str(history), "--repo", str(repo), "--branch", "main")
            assert done.returncode == 0, done.stdout + done.stderr
            assert "history: run" in done.stdout
            results.append(out)
        finally:
            server.terminate()
            server.wait(10)
    return {"repo": repo, "commits": commits, "history": history, "results": results, "root": root}


def test_history_lists_every_run_with_its_commit(measured: dict[str, object]) -> None:
    done = hftperf("history", "list", "--history", str(measured["history"]), "--format", "json")
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [r["commit_sha"] for r in runs] == measured["commits"]
    assert {r["branch"] for r in runs} == {"main"} and len({r["machine"] for r in runs}) == 1
    assert runs[SLOW_FROM - 1]["commit_subject"] == f"change {SLOW_FROM} (slower)"


def test_show_names_the_commit_that_made_it_slower(measured: dict[str, object], tmp_path: Path) -> None:
    plot, page = tmp_path / "trend.png", tmp_path / "history.html"
    done = hftperf("history", "show", "health-sequential.p50", "--history", str(measured["history"]),
                   "--format", "json", "--plot", str(plot), "--html", str(page))
    assert done.returncode == 0, done.stderr
    (series,) = json.loads(done.stdout)
    commits = measured["commits"]
    assert [p["commit"] for p in series["points"]] == commits  # in commit order
    assert len(series["changes"]) == 1, series["changes"]
    change = series["changes"][0]
    assert change["after"] == commits[SLOW_FROM - 1] and change["before"] == commits[SLOW_FROM - 2]
    assert change["verdict"] == "regression" and change["change"] > 100  # 3 ms on a sub-ms request
    assert "change 5 (slower)" in change["text"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = page.read_text()
    assert "data:image/png;base64," in html and "p99" in html and "<img" in html


def test_check_gates_only_on_a_regression_at_the_newest_commit(measured: dict[str, object], tmp_path: Path) -> None:
    done = hftperf("history", "check", "health-sequential.p50", "--history", str(measured["history"]),
                   "--fail-on-regression")
    assert done.returncode == 0, done.stdout + done.stderr  # the step is at commit 5, not at the newest (8)
    assert "no regression" in done.stdout
    upto_slow = tmp_path / "upto5.db"
    for n, result in enumerate(measured["results"][:SLOW_FROM], start=1):
        added = hftperf("history", "add", str(result), "--history", str(upto_slow), "--repo", str(measured["repo"]),
                        "--commit", measured["commits"][n - 1])
        assert added.returncode == 0, added.stderr
    done = hftperf("history", "check", "health-sequential.p50", "--history", str(upto_slow), "--fail-on-regression")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REGRESSION" in done.stdout and measured["commits"][SLOW_FROM - 1][:10] in done.stdout


def test_a_foreign_or_corrupt_history_is_refused_and_left_alone(measured: dict[str, object], tmp_path: Path) -> None:
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all\n" * 10)
    result = str(measured["results"][0])
    for bad in (foreign, garbage):
        before = bad.read_bytes()
        done = hftperf("history", "add", result, "--history", str(bad))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and str(bad) in done.stderr
        assert bad.read_bytes() == before
        suite = measured["root"] / "suite.toml"  # type: ignore[operator]
        done = hftperf("run", "--config", str(suite), "--target", "http://127.0.0.1:9", "--history", str(bad), "-q",
                       "--out", str(tmp_path / "never"))
        assert done.returncode == 2 and "not an hftperf history" in done.stderr and not (tmp_path / "never").exists()
    for args in (["show", "nosuch.p99"], ["show", "health-sequential"], ["show", "health-sequential.p77"]):
        done = hftperf("history", *args, "--history", str(measured["history"]))
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.fixture()
def postgres_url() -> Iterator[str]:
    dsn = os.environ.get("HFTPERF_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("set HFTPERF_TEST_POSTGRES_DSN=postgresql://... to run PostgreSQL tests")
    psycopg = pytest.importorskip("psycopg")
    schema = f"history_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    try:
        yield f"{dsn}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {schema} CASCADE")


def test_the_same_history_on_postgresql(measured: dict[str, object], postgres_url: str) -> None:
    for n, result in enumerate(measured["results"], start=1):
        done = hftperf("history", "add", str(result), "--history", postgres_url, "--repo", str(measured["repo"]),
                       "--commit", measured["commits"][n - 1])
        assert done.returncode == 0, done.stderr
        assert "hftperf:hftperf@" not in done.stdout  # the URL's password is never shown
    done = hftperf("history", "show", "health-sequential.p50", "--history", postgres_url, "--format", "json")
    assert done.returncode == 0, done.stderr
    (series,) = json.loads(done.stdout)
    assert [c["after"] for c in series["changes"]] == [measured["commits"][SLOW_FROM - 1]]
