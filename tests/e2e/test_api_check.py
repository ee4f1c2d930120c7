"""``hftperf api check`` against a real third-party-shaped order service and against the bundled profile."""

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
PROFILE = REPO / "tests" / "data" / "profiles" / "uuid-exchange.toml"


@pytest.fixture()
def order_api() -> Iterator[str]:
    with order_api_server() as url:
        yield url


def hftperf(*args: str, password: str | None = "s3cret") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "UUID_EXCHANGE_PASSWORD"}
    if password is not None:
        env["UUID_EXCHANGE_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=REPO)


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as response:
        return dict(json.loads(response.read()))


def test_check_submits_and_really_cancels_on_another_api(order_api: str) -> None:
    done = hftperf("api", "check", "--target", order_api, "--api", str(PROFILE), "--price", "10050")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "POST" in done.stdout and "/api/v2/orders" in done.stdout and "DELETE" in done.stdout
    assert '"px":"100.5"' in done.stdout and '"direction":"BUY"' in done.stdout  # cents -> dollars, enums spelled
    assert "OPEN" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr  # the ${env:...} password is never shown
    assert stats(order_api) == {"submitted": 1, "cancelled": 1, "amended": 0, "rejected_auth": 0}


def test_a_wrong_pointer_fails_quoting_the_answer(order_api: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(PROFILE.read_text().replace('order_id = "/data/uuid"', 'order_id = "/order_id"'))
    done = hftperf("api", "check", "--target", order_api, "--api", str(wrong))
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "api.submit.order_id" in line and "'/order_id'" in line and '"uuid"' in line and "Traceback" not in line


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (('resting = ["OPEN"]', 'restin = ["OPEN"]'), "api.submit.restin: unknown key"),
        (('path = "/api/v2/orders/${order_id}"\nok_status', 'path = "/x/${price}"\nok_status'), "${price}"),
        (('status = "/data/state"', 'status = "data/state"'), "api.submit.status"),
        (('ok_status = [200]', 'ok_status = [20]'), "ok_status"),
    ],
)
def test_a_bad_profile_exits_2_naming_the_key(edit: tuple[str, str], needle: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(PROFILE.read_text().replace(*edit, 1))
    done = hftperf("api", "check", "--target", "http://127.0.0.1:9", "--api", str(bad))
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line


def test_a_missing_env_secret_is_named_not_shown(order_api: str) -> None:
    done = hftperf("api", "check", "--target", order_api, "--api", str(PROFILE), password=None)
    assert done.returncode == 2 and "UUID_EXCHANGE_PASSWORD" in done.stderr and "is not set" in done.stderr


def test_the_reference_profile_checks_against_the_bundled_stack(tmp_path: Path) -> None:
    from support.servers import free_port

    env = {**os.environ, "HFTPERF_STATE_DIR": str(tmp_path)}
    gateway = free_port()
    up = subprocess.run([sys.executable, "-m", "hftperf", "stack", "up", "--gateway-port", str(gateway),
                         "--engine-port", str(free_port()), "--data-dir", str(tmp_path / "data")],
                        capture_output=True, text=True, timeout=90, env=env)
    assert up.returncode == 0, up.stderr
    try:
        done = hftperf("api", "check", "--target", f"http://127.0.0.1:{gateway}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "profile 'reference': OK (2 requests)" in done.stdout and "cancelled" in done.stdout
    finally:
        subprocess.run([sys.executable, "-m", "hftperf", "stack", "down"], capture_output=True, timeout=60, env=env)


ORDER_SUITE = """
[run]
stack = "none"
retry_inconclusive = 0   # the service's counts below must come from one attempt
[[scenario]]
name = "orders"
kind = "order-latency"
warmup = "0s"
duration = "2s"
rate = "150/s"
connections = 4
mid_price = 10000
price_band = 20
api = "{profile}"
thresholds = ["error_rate < 1%", "cancel.p99 < 2s", "submit.limit.p99 < 2s"]
[scenario.mix]
limit = 0.5
market = 0.1
cancel = 0.3
amend = 0.1
"""


def test_order_latency_runs_another_api_through_its_profile(order_api: str, tmp_path: Path) -> None:
    config = tmp_path / "orders.toml"
    config.write_text(ORDER_SUITE.format(profile=PROFILE))
    out = tmp_path / "out"
    env = {**os.environ, "UUID_EXCHANGE_PASSWORD": "s3cret"}
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", order_api,
                           "--out", str(out), "-q"], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert done.returncode in (0, 3), done.stdout + done.stderr  # 3: a starved shared machine, not a failure
    (scenario,) = json.loads((out / "result.json").read_text())["scenarios"]
    figures = scenario["figures"]
    ops = figures["operations"]
    service = stats(order_api)
    assert service["rejected_auth"] == 0  # the bearer token from the login reached every request
    assert ops["cancel"]["sent"] > 30 and ops["amend"]["sent"] > 5
    # the service's own counts match what hftperf says it did (the dry run adds one submit and one cancel):
    # exactly when every request was answered; else a request hftperf gave up on (a timeout at the cut-off
    # on a busy machine) may still have been carried out, so the service's count lies between answered and sent
    every_answer = sum(scenario["errors"].values()) == 0 and scenario["in_flight"] == 0
    submits = ops["submit.limit"]["answered_ok"] + ops["submit.market"]["answered_ok"]
    submits_sent = ops["submit.limit"]["sent"] + ops["submit.market"]["sent"]
    for done_by_service, answered, sent, dry in ((service["cancelled"], ops["cancel"]["answered_ok"],
                                                  ops["cancel"]["sent"], 1),
                                                 (service["amended"], ops["amend"]["answered_ok"],
                                                  ops["amend"]["sent"], 0),
                                                 (service["submitted"], submits, submits_sent, 1)):
        if every_answer:
            assert done_by_service == answered + dry, (done_by_service, answered, dry)
        else:
            assert answered + dry <= done_by_service <= sent + dry, (done_by_service, answered, sent, dry)
    assert figures["outcomes"]["resting"] + figures["outcomes"]["filled"] == submits
    assert figures["workload_warnings"] == [], figures["workload_warnings"]
    assert {t["metric"] for t in scenario["thresholds"]} == {"error_rate", "cancel.p99", "submit.limit.p99"}
    report = subprocess.run([sys.executable, "-m", "hftperf", "report", str(out)], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert "## Workload sent" in report.stdout and "| cancel |" in report.stdout
    assert "s3cret" not in (out / "result.json").read_text() + report.stdout + done.stdout + done.stderr


def test_a_profile_whose_ids_are_never_found_stops_before_the_load(order_api: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(PROFILE.read_text().replace('order_id = "/data/uuid"', 'order_id = "/data/id"'))
    config = tmp_path / "orders.toml"
    config.write_text(ORDER_SUITE.format(profile=wrong))
    done = subprocess.run([sys.executable, "-m", "hftperf", "run", "--config", str(config), "--target", order_api,
                           "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "UUID_EXCHANGE_PASSWORD": "s3cret"}, cwd=REPO)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "api.submit.order_id" in done.stderr and '"uuid"' in done.stderr
    assert stats(order_api)["submitted"] == 1  # the dry run's one order: no load was sent
