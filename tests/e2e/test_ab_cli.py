"""``hftperf ab`` end to end against real loopback servers with known delays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import behaviour_server, free_port
from support.verdicts import skip_if_inconclusive

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--rounds", "8", "--round-duration", "0.5s", "--warmup", "0.2s", "--warmup-rounds", "1", "--quiet"]


def hftperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=180,
                          cwd=REPO, env=dict(os.environ))


def metric(document: dict, name: str) -> dict:
    return next(m for m in document["metrics"] if m["metric"] == name)


def test_a_large_injected_delay_is_a_regression() -> None:
    with behaviour_server("delay", "2") as url_a, behaviour_server("delay", "4") as url_b:
        done = hftperf("ab", url_a, url_b, "-p", "connections=4", *QUICK, "--format", "json",
                       "--fail-on-regression")
    skip_if_inconclusive(done)
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["mode"] == "ab" and document["regression"] is True
    p50 = metric(document, "p50")
    assert p50["verdict"] == "regression" and p50["source"] == "rounds" and p50["n_base"] == 8
    assert 50 < p50["change_pct"] < 120  # 2 ms -> 4 ms of server time, plus the same overhead on both
    assert metric(document, "throughput_rps")["verdict"] == "regression"
    rounds = document["details"]["rounds"]
    assert len(rounds) == 9 and rounds[0]["warmup"] is True
    assert [r["order"] for r in rounds[:4]] == ["ab", "ba", "ab", "ba"]  # counterbalanced
    assert all(r["ratio_b_a"]["p50"] > 1.3 for r in rounds)


def test_the_same_target_on_both_sides_flags_nothing() -> None:
    with behaviour_server("delay", "2") as url:
        done = hftperf("ab", url, url, "-p", "connections=4", *QUICK, "--format", "json", "--fail-on-regression")
    assert done.returncode in (0, 3), done.stderr  # 3: inconclusive on a busy machine (loud, not a failure)
    document = json.loads(done.stdout)
    assert document["counts"]["regression"] == 0 and document["counts"]["improvement"] == 0


def test_an_ad_hoc_request_in_markdown() -> None:
    with behaviour_server("delay", "1") as url_a, behaviour_server("delay", "3") as url_b:
        done = hftperf("ab", f"{url_a}/orders", f"{url_b}/orders", "--scenario", "load", "-c", "2", "-m", "POST",
                       "-b", "{}", *QUICK, "--format", "markdown")
    assert done.returncode == 0, done.stderr  # no --fail-on-regression: a report only
    assert done.stdout.startswith("### hftperf ab: **regression**")
    assert "| load | p50 |" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rounds", "2"], "'--rounds' / '-k': expected at least 3"),
        (["--scenario", "nope"], "--scenario 'nope': expected one of load, health-sequential"),
        (["--scenario", "book-scaling"], "--scenario book-scaling: measures the order book in process"),
        (["-p", "connections=zero"], "connections"),
        (["--tolerance", "p50"], "--tolerance 'p50': expected METRIC=PERCENT"),
        (["--history", "history.db"], "--history: needs --rev"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    with behaviour_server("ok") as url:
        done = hftperf("ab", url, url, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_a_url_with_a_path_needs_the_ad_hoc_scenario() -> None:
    with behaviour_server("ok") as url:
        done = hftperf("ab", f"{url}/quotes", url)  # /health (the scenario's own path) would be taken
    assert done.returncode == 2 and "requests /health below a base URL" in done.stderr


def test_an_unreachable_target_names_its_address() -> None:
    port = free_port()
    with behaviour_server("ok") as url:
        done = hftperf("ab", url, f"http://127.0.0.1:{port}", *QUICK)
    assert done.returncode == 2 and f"127.0.0.1:{port}" in done.stderr


def test_out_writes_both_sides_rounds_and_report(tmp_path: Path) -> None:
    from hftperf.result import load_result

    out = tmp_path / "ab"
    with behaviour_server("ok") as url:
        done = hftperf("ab", url, url, "--rounds", "3", "--round-duration", "0.3s", "--warmup", "0.1s",
                       "--warmup-rounds", "1", "--quiet", "--out", str(out))
        again = hftperf("ab", url, url, "--rounds", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    a, b = load_result(out / "a" / "result.json"), load_result(out / "b" / "result.json")
    assert [s.repeat_index for s in a.scenarios] == [0, 1, 2, 3] and len(b.scenarios) == 4
    assert a.environment["ab_side"] == "A" and b.environment["target"] == url
    rounds = json.loads((out / "rounds.json").read_text())["details"]["rounds"]
    assert len(rounds) == 4 and all("ratio_b_a" in r for r in rounds)
    assert (out / "report.md").read_text().startswith("### hftperf ab")
    assert again.returncode == 2 and "not empty" in again.stderr  # a used directory is refused
