"""``kind = "http"``: a chained flow (create, read back by the created id, delete) against a real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import order_api_server

REPO = Path(__file__).resolve().parents[2]

SUITE = """
[run]
stack = "none"
[[scenario]]
name = "crud"
kind = "http"
warmup = "0s"
duration = "2s"
rate = "150/s"
connections = 4
feed = "{feed}"
thresholds = ["error_rate < 1%"]
headers = {{ Authorization = "Bearer ${{env:FLOW_TOKEN}}" }}
[[scenario.requests]]
name = "create"
method = "POST"
path = "/api/v2/orders"
body = '''{{"instrument":"${{symbol}}","direction":"${{choice:BUY|SELL}}","kind":"LIMIT",
          "px":"${{rand:99:101}}","qty":${{rand:1:5}}}}'''
extract = {{ id = "/data/uuid" }}
[[scenario.requests]]
name = "read"
path = "/api/v2/orders/${{id}}"
[[scenario.requests]]
name = "delete"
method = "DELETE"
path = "/api/v2/orders/${{id}}"
"""


@pytest.fixture()
def order_api() -> Iterator[str]:
    with order_api_server() as url:
        yield url


def _get(url: str, data: bytes | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return dict(json.loads(response.read()))


def test_a_chained_flow_creates_reads_and_deletes_by_the_created_id(order_api: str, tmp_path: Path) -> None:
    token = _get(f"{order_api}/auth/token", b'{"user":"bench","password":"s3cret"}')["access_token"]
    feed = tmp_path / "symbols.csv"
    feed.write_text("symbol\nBTC-USD\nETH-USD\n")
    config = tmp_path / "flow.toml"
    config.write_text(SUITE.format(feed=feed))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", order_api,
                           "--out", str(out), "-q"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "FLOW_TOKEN": str(token)}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    stats = _get(f"{order_api}/stats")
    (scenario,) = json.loads((out / "result.json").read_text())["scenarios"]
    assert scenario["requests"] == scenario["ok"] + sum(scenario["errors"].values()) + scenario["in_flight"]
    assert stats["rejected_auth"] == 0  # the ${env:...} header reached every request
    # every third due request is a create; reads and deletes follow the ids the creates returned
    assert stats["submitted"] >= scenario["requests"] // 3
    assert stats["cancelled"] >= stats["submitted"] * 0.8, stats
    assert str(token) not in (out / "result.json").read_text() + done.stdout + done.stderr


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (('path = "/api/v2/orders/${{id}}"\n[[scenario.requests]]\nname = "delete"',
          'path = "/api/v2/orders/${{idd}}"\n[[scenario.requests]]\nname = "delete"'), "${idd}"),
        (('extract = {{ id = "/data/uuid" }}', 'extract = {{ id = "data/uuid" }}'), "JSON pointer"),
        (('feed = "{feed}"', 'feed = "/no/such.csv"'), "feed"),
    ],
)
def test_a_bad_flow_exits_2_before_any_request(edit: tuple[str, str], needle: str, tmp_path: Path) -> None:
    config = tmp_path / "flow.toml"
    config.write_text(SUITE.replace(*edit).format(feed=tmp_path / "f.csv"))
    (tmp_path / "f.csv").write_text("symbol\nX\n")
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target",
                           "http://127.0.0.1:9", "--out", str(tmp_path / "o"), "-q"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "FLOW_TOKEN": "t"})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line
