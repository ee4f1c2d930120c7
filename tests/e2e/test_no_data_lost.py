"""Nothing a user runs loses or mixes data, and what is measured is what was asked.

Real runs against a real loopback HTTP server that records every request line it gets.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "tests" / "data" / "results-small"

SUITE = """
[run]
stack = "none"
[[scenario]]
name = "health-sequential"
warmup = "100ms"
duration = "500ms"
thresholds = ["error_rate < 50%"]
[scenario.request]
path = "/health"
"""


def hftperf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HFTPERF_STATE_DIR": str(cwd / "state")}
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)


@pytest.fixture()
def recording_server() -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            paths.append(self.path)
            body = b'{"status":"ok"}'
            self.send_response(200 if self.path.split("?")[0] == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def _one_line_exit_2(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hftperf: error: ") and "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_report_refuses_to_write_over_run_data(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for item in SMALL.iterdir():
        (run / item.name).write_bytes(item.read_bytes())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for target in (run / "result.json", run / "order-latency.hlog", tmp_path / "other" / "x.hlog"):
        _one_line_exit_2(hftperf("report", str(run), "--out", str(target)), "--out", "refusing")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert hftperf("report", str(run), "--out", str(tmp_path / "report.md")).returncode == 0


def test_report_of_a_run_without_scenarios_is_an_error(tmp_path: Path) -> None:
    document = json.loads((SMALL / "result.json").read_text())
    document["scenarios"] = []
    (tmp_path / "result.json").write_text(json.dumps(document))
    _one_line_exit_2(hftperf("report", str(tmp_path)), "no scenario")


def test_run_refuses_a_non_empty_results_dir_and_force_replaces_it(
        tmp_path: Path, recording_server: tuple[str, list[str]]) -> None:
    url, _ = recording_server
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old-scenario.hlog").write_text("#old\n")
    (out / "result.json").write_text('{"old": true}')
    (out / "notes.txt").write_text("mine")
    done = hftperf("run", "--config", str(config), "--target", url, "--out", str(out), "-q", cwd=tmp_path)
    _one_line_exit_2(done, "--out", "not empty", "--force")
    assert (out / "result.json").read_text() == '{"old": true}'
    done = hftperf("run", "--config", str(config), "--target", url, "--out", str(out), "-q", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (out / "old-scenario.hlog").exists()  # the old run's logs are not mixed with the new
    assert json.loads((out / "result.json").read_text())["schema"].startswith("hftperf.result/")
    assert (out / "health-sequential.hlog").is_file()
    assert (out / "notes.txt").read_text() == "mine"  # not the previous run's: left alone
    assert not list((tmp_path / "state").glob("*.json"))  # no stack state left behind either


def test_a_target_with_a_query_keeps_the_path_and_the_query(
        tmp_path: Path, recording_server: tuple[str, list[str]]) -> None:
    url, paths = recording_server
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    done = hftperf("run", "--config", str(config), "--target", f"{url}?tenant=7", "--out", str(tmp_path / "o"),
                   "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert paths and set(paths) == {"/health?tenant=7"}


def test_load_refuses_port_0_and_out_of_range_ports() -> None:
    for url in ("http://127.0.0.1:0/", "http://127.0.0.1:65536/", "http://127.0.0.1:99999/"):
        _one_line_exit_2(hftperf("load", url, "-d", "100ms"), "port")


def test_load_hlog_is_not_overwritten(tmp_path: Path, recording_server: tuple[str, list[str]]) -> None:
    url, _ = recording_server
    hlog = tmp_path / "run.hlog"
    hlog.write_text("#previous\n")
    _one_line_exit_2(hftperf("load", f"{url}/health", "-d", "200ms", "--hlog", str(hlog)), "--hlog", "--force")
    assert hlog.read_text() == "#previous\n"


def test_ab_accepts_the_scenario_path_in_the_url(recording_server: tuple[str, list[str]]) -> None:
    url, paths = recording_server
    done = hftperf("ab", f"{url}/health", f"{url}/health/", "-s", "health-sequential", "-k", "3",
                   "--round-duration", "150ms", "--warmup", "0s", "--warmup-rounds", "0", "--format", "json", "-q")
    assert done.returncode == 0, done.stderr
    assert paths and set(paths) == {"/health"}
    _one_line_exit_2(hftperf("ab", f"{url}/other", url, "-s", "health-sequential"), "URL_A", "/health")


def test_every_option_is_checked_before_any_traffic(recording_server: tuple[str, list[str]]) -> None:
    url, paths = recording_server
    _one_line_exit_2(hftperf("ab", url, url, "--format", "xml"), "--format", "xml")
    _one_line_exit_2(hftperf("load", f"{url}/health", "-m", "FOO"), "--method")
    _one_line_exit_2(hftperf("load", f"{url}/health", "-m", "POST", "--template", "-b", '{"p":${rand:5:1}}'),
                     "--body", "LO <= HI")
    assert paths == []


def test_load_out_writes_a_results_directory_that_report_and_compare_read(
        tmp_path: Path, recording_server: tuple[str, list[str]]) -> None:
    url, _ = recording_server
    out = tmp_path / "adhoc"
    done = hftperf("load", f"{url}/health", "-d", "1500ms", "--warmup", "0s", "-c", "2", "-q", "--out", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "result.json").read_text())
    (scenario,) = document["scenarios"]
    assert scenario["name"] == "load" and scenario["kind"] == "closed-loop" and scenario["hlog"] == "load.hlog"
    assert scenario["requests"] == scenario["ok"] + sum(scenario["errors"].values()) + scenario["in_flight"]
    assert (out / "load.hlog").is_file()
    report = hftperf("report", str(out))
    assert report.returncode == 0 and "| load |" in report.stdout and "No targets set" in report.stdout
    compared = hftperf("compare", str(out), str(out), "--format", "json")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["metrics"]
    again = hftperf("load", f"{url}/health", "-d", "200ms", "--out", str(out))
    _one_line_exit_2(again, "--out", "not empty")
    as_json = hftperf("load", f"{url}/health", "-d", "200ms", "--warmup", "0s", "--json", "-q")
    assert json.loads(as_json.stdout)["schema"] == "hftperf.load/1"


def test_an_unreachable_target_leaves_no_empty_results_directory(tmp_path: Path) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    done = hftperf("run", "--config", str(config), "--target", "http://127.0.0.1:9", "-q", cwd=tmp_path)
    _one_line_exit_2(done, "127.0.0.1:9")
    assert not (tmp_path / "results").exists()
