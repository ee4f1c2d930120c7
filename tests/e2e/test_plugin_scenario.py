"""A scenario from a separately installed package (examples/hftperf-example-scenario), found by entry point.

The package is pip-installed into this interpreter's environment for the module and removed after;
no file of hftperf knows its name.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "hftperf-example-scenario"
SUITE = """
[run]
stack = "none"
[[scenario]]
name = "quotes"
kind = "quote-poll"
warmup = "0s"
duration = "1500ms"
rate = "300/s"
pollers = 2
stale_after = "50ms"
thresholds = ["error_rate < 1%", "stale_share <= 100%"]
"""


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    pip("install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    try:
        yield
    finally:
        pip("uninstall", "-y", "hftperf-example-scenario")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def hftperf(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=180,
                          cwd=cwd)


def test_the_plugin_is_listed_runs_and_compares(installed: None, server: str, tmp_path: Path) -> None:
    listed = hftperf("scenarios")
    assert "quote-poll" in listed.stdout, listed.stdout
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    for side in ("a", "b"):
        done = hftperf("run", "--config", str(config), "--target", server, "--out", str(tmp_path / side), "-q")
        assert done.returncode == 0, done.stdout + done.stderr
    (scenario,) = json.loads((tmp_path / "a" / "result.json").read_text())["scenarios"]
    assert scenario["kind"] == "open-loop" and 0.0 <= scenario["figures"]["stale_share"] <= 1.0
    assert {t["metric"]: t["passed"] for t in scenario["thresholds"]} == {"error_rate": True, "stale_share": True}
    assert scenario["requests"] > 300
    report = hftperf("report", str(tmp_path / "a"))
    assert report.returncode == 0 and "quotes" in report.stdout
    compared = hftperf("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json")
    assert compared.returncode == 0, compared.stderr
    assert {m["scenario"] for m in json.loads(compared.stdout)["metrics"]} == {"quotes"}
    ab = hftperf("ab", server, server, "-s", "quotes", "--config", str(config), "-k", "3", "--round-duration",
                 "300ms", "--warmup", "0s", "--warmup-rounds", "0", "--format", "json", "-q")
    assert ab.returncode == 0, ab.stderr
    assert json.loads(ab.stdout)["metrics"]


def test_a_plugin_kind_typo_suggests_nothing_silently(installed: None, tmp_path: Path) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(SUITE.replace('kind = "quote-poll"', 'kind = "quote-pol"'))
    done = hftperf("run", "--config", str(config), "--target", "http://127.0.0.1:9", "-q")
    assert done.returncode == 2 and "quote-poll" in done.stderr and "Traceback" not in done.stderr
