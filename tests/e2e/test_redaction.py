"""Credentials given to hftperf never reach result.json, reports, interval logs or the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.servers import behaviour_server

from hftperf.result import load_result

REPO = Path(__file__).resolve().parents[2]
SECRETS = ("Bearer-s3cr3t-A", "session=s3cr3t-B", "s3cr3t-C", "s3cr3t-D", "s3cr3t-E", "hunter2")

SUITE = """
[run]
label = "redaction"
stack = "none"
redact_headers = ["X-Desk-Pin"]

[[scenario]]
name = "health-sequential"
warmup = "0s"
duration = "300ms"
[scenario.request]
path = "/?venue=x&api_key=s3cr3t-E"
[scenario.request.headers]
Authorization = "Bearer-s3cr3t-A"
Cookie = "session=s3cr3t-B"
X-Api-Key = "s3cr3t-C"
X-Desk-Pin = "s3cr3t-D"
X-Venue = "visible-venue"
"""


def _everything_written(out: Path, *streams: str) -> str:
    texts = [path.read_text(errors="replace") for path in out.rglob("*") if path.is_file()]
    return "\n".join([*texts, *streams])


def test_run_redacts_headers_userinfo_and_query_secrets(tmp_path: Path) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(SUITE)
    out = tmp_path / "out"
    with behaviour_server("ok") as url:
        target = url.replace("http://", "http://alice:hunter2@")
        done = subprocess.run(
            [sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", target, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    written = _everything_written(out, done.stdout, done.stderr)
    for secret in SECRETS:
        assert secret not in written, secret
    (scenario,) = load_result(out).scenarios
    assert scenario.ok > 0
    request = scenario.figures["request"]
    assert request["headers"] == {
        "Authorization": "[redacted]",
        "Cookie": "[redacted]",
        "X-Api-Key": "[redacted]",
        "X-Desk-Pin": "[redacted]",
        "X-Venue": "visible-venue",
    }
    assert request["url"].endswith("/?venue=x&api_key=[redacted]") and "[redacted]@127.0.0.1" in request["url"]


def test_load_json_redacts_headers(tmp_path: Path) -> None:
    hlog = tmp_path / "load.hlog"
    with behaviour_server("ok") as url:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "hftperf",
                "load",
                url + "/?token=s3cr3t-E",
                "-d",
                "300ms",
                "--warmup",
                "0s",
                "-c",
                "1",
                "--json",
                "-H",
                "Authorization: Bearer-s3cr3t-A",
                "-H",
                "X-Desk-Pin: s3cr3t-D",
                "-H",
                "X-Venue: visible-venue",
                "--redact-header",
                "x-desk-pin",
                "--hlog",
                str(hlog),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    assert done.returncode == 0, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr + hlog.read_text()
    result = json.loads(done.stdout)
    assert result["ok"] > 0
    assert result["request"]["headers"] == {
        "Authorization": "[redacted]",
        "X-Desk-Pin": "[redacted]",
        "X-Venue": "visible-venue",
    }


def test_a_malformed_header_is_not_echoed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hftperf", "load", "http://127.0.0.1:9/", "-H", "Bearer-s3cr3t-A"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 2 and "--header" in done.stderr
    assert "s3cr3t" not in done.stderr
