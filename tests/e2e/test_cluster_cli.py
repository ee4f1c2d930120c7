"""``--cluster`` driven as a user would: ``local:N`` clusters, a lost worker, a dead address, live metrics."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support.servers import behaviour_server, free_port, hostile_server
from support.verdicts import gate_attempts

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.slow


def hftperf(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _exact(result: dict) -> None:  # type: ignore[type-arg]
    assert result["requests"] == result["ok"] + sum(result["errors"].values()) + result["in_flight"]


def test_load_on_a_local_cluster_lists_its_workers() -> None:
    with behaviour_server("ok") as url:
        done = hftperf("load", url + "/", "-c", "4", "-d", "1.5", "--warmup", "0.3", "--cluster", "local:2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    _exact(result)
    assert result["workers"] == 2 and result["executor"] == "local:2" and result["ok"] > 500
    assert [set(w) >= {"host", "cores", "hftperf_version", "clock_offset_us", "requests"}
            for w in result["load_workers"]] == [True, True]
    assert sum(w["requests"] for w in result["load_workers"]) == result["requests"]


def test_ab_runs_its_rounds_on_the_cluster_named_by_the_environment() -> None:
    with behaviour_server("ok") as url_a, behaviour_server("ok") as url_b:
        done = hftperf("ab", url_a + "/", url_b + "/", "-s", "load", "-c", "4", "--rounds", "3", "--warmup-rounds",
                       "0", "--round-duration", "0.5s", "--warmup", "0.2s", "--format", "json",
                       env={"HFTPERF_CLUSTER": "local:2"})
    assert done.returncode == 0, done.stderr
    rounds = json.loads(done.stdout)["details"]["rounds"]
    assert len(rounds) == 3 and all(r["a"]["throughput_rps"] > 0 and r["b"]["throughput_rps"] > 0 for r in rounds)


def _load_worker_pids(parent: int) -> list[int]:
    """The Dask worker processes of ``hftperf --cluster local:N`` (spawned children; nannies are in-process)."""
    pids = []
    for child in psutil.Process(parent).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids


def _lose_a_worker(pacing: list[str], how: str) -> tuple[int, dict, float]:  # type: ignore[type-arg]
    """``hftperf load --cluster local:2 --json`` with ``pacing``; one worker is lost ~4 s in.
    Returns the exit code, the JSON result and the wall time."""
    with behaviour_server("ok") as url:
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "hftperf", "load", url + "/", "-c", "4", *pacing,
                                    "--warmup", "0.5", "--cluster", "local:2", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        victim = None
        try:
            pids: list[int] = []
            for _ in range(300):  # wait for both Dask workers to be up (a busy machine: up to 30 s)
                pids = _load_worker_pids(process.pid)
                if len(pids) == 2:
                    break
                time.sleep(0.1)
            assert len(pids) == 2, pids
            time.sleep(4.0)  # cluster start-up, then a few seconds into the measured period
            victim = psutil.Process(pids[0])
            victim.kill() if how == "kill" else victim.suspend()
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
            if victim is not None and how == "stop":
                with contextlib.suppress(psutil.Error):
                    victim.kill()
        elapsed = time.monotonic() - started
    assert process.returncode == 1, err  # documented: a lost share exits 1
    return process.returncode, json.loads(out), elapsed


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_lost_worker_is_reported_and_its_share_counted_as_not_sent(how: str) -> None:
    """SIGKILL: the worker dies (and leaves the cluster); SIGSTOP: it stays listed but falls silent."""
    _, result, elapsed = _lose_a_worker(["-d", "8", "--rate", "1000"], how)
    _exact(result)
    assert len(result["lost_workers"]) == 1
    lost = result["lost_workers"][0]
    assert "tcp://127.0.0.1:" in lost["name"] and lost["not_sent"] > 500
    reasons = result["not_sent_by_reason"]
    assert reasons["worker lost"] == lost["not_sent"] and sum(reasons.values()) == result["not_sent"]
    assert result["requests"] + result["not_sent"] >= 7990  # every scheduled request is somewhere
    assert result["ok"] >= 3900  # the other worker ran to the end (its share: 4,000)
    assert elapsed < 40  # cluster start + 8.5 s + drain + cluster close: the run kept its deadline


def test_a_lost_workers_share_of_a_staged_run_is_counted_in_its_stages() -> None:
    _, result, _ = _lose_a_worker(["--stage", "4s:600/s", "--stage", "4s:1200/s"], "kill")
    _exact(result)
    (lost,) = result["lost_workers"]
    stages = result["stages"]
    assert lost["not_sent"] > 500 and sum(lost["not_sent_by_stage"]) == lost["not_sent"]
    for stage, missing in zip(stages, lost["not_sent_by_stage"], strict=True):
        _exact(stage)  # the lost share is in each stage's not_sent: a stage's accounting holds
        assert stage["not_sent"] >= missing
        assert abs(stage["requests"] - stage["expected_requests"]) <= 2, stage  # every due request is somewhere
    assert sum(s["requests"] for s in stages) == result["requests"]


@pytest.mark.parametrize("mode", ["refused", "never"])
def test_a_cluster_address_that_does_not_answer_exits_2_quickly(mode: str) -> None:
    with behaviour_server("ok") as url:
        if mode == "refused":
            scheduler = f"tcp://127.0.0.1:{free_port()}"
            started = time.monotonic()
            done = hftperf("load", url + "/", "-d", "1", "--cluster", scheduler)
        else:
            with hostile_server("never") as silent:
                scheduler = silent.replace("http://", "tcp://")
                started = time.monotonic()
                done = hftperf("load", url + "/", "-d", "1", "--cluster", scheduler)
        elapsed = time.monotonic() - started
    assert done.returncode == 2
    assert elapsed < 10
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and scheduler in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_a_remote_target_needs_the_flag() -> None:
    done = hftperf("load", "http://192.0.2.1:80/", "-d", "1", "--cluster", "local:1")
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr and "--allow-remote-target" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _scrape(port: int) -> dict[str, float]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        text = answer.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("hftperf_requests_total", "hftperf_responses_ok_total", "hftperf_latency_seconds_count"):
                values[sample.name] = sample.value
    return values


def test_the_metrics_endpoint_shows_increasing_counters_during_a_run() -> None:
    port = free_port()
    with behaviour_server("ok") as url:
        process = subprocess.Popen([sys.executable, "-m", "hftperf", "load", url + "/", "-c", "2", "-d", "5",
                                    "--warmup", "0", "--rate", "500", "--metrics-port", str(port), "--quiet"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            scrapes = []
            deadline = time.monotonic() + 20
            while len(scrapes) < 2 and time.monotonic() < deadline:
                time.sleep(1.2)
                try:
                    values = _scrape(port)
                except OSError:
                    continue  # not listening yet
                if values.get("hftperf_requests_total") and (not scrapes or values != scrapes[-1]):
                    scrapes.append(values)
            _, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0, err
    assert len(scrapes) == 2
    first, second = scrapes
    assert second["hftperf_requests_total"] > first["hftperf_requests_total"] > 0
    assert second["hftperf_latency_seconds_count"] > first["hftperf_latency_seconds_count"]


def test_run_ci_config_passes_on_a_local_cluster(tmp_path: Path) -> None:
    """The CI gate on a LocalCluster, judged as .ci/run judges it (up to 3 runs, the last decides)."""
    text = (Path(__file__).resolve().parents[2] / "configs" / "ci.toml").read_text()
    config = tmp_path / "ci.toml"  # free ports, never the defaults: other stacks run on this machine
    config.write_text(text.replace("[stack]\n", f"[stack]\ngateway_port = {free_port()}\n"
                                                 f"engine_port = {free_port()}\n", 1))
    def run(attempt: int) -> subprocess.CompletedProcess[str]:
        return hftperf("run", "--config", str(config), "--cluster", "local:2", "--out",
                       str(tmp_path / f"results-{attempt}"), "--quiet", timeout=600)

    done = gate_attempts(run)
    out = max(tmp_path.glob("results-*"))  # the last attempt's, which decides
    # 3: the tool itself says its load generator was starved (a busy machine): loud, not a failure
    assert done.returncode in (0, 3), done.stdout[-3000:] + done.stderr[-3000:]
    if done.returncode == 3:
        print("WARNING: the CI config on a local cluster was INCONCLUSIVE in every attempt (machine too busy)")
    document = json.loads((out / "result.json").read_text())
    assert document["environment"]["executor"] == "local:2" and len(document["environment"]["load_workers"]) == 2
    for scenario in document["scenarios"]:
        if "load_workers" in scenario["figures"]:
            assert scenario["requests"] == scenario["ok"] + sum(scenario["errors"].values()) + scenario["in_flight"]
            assert sum(w["requests"] for w in scenario["figures"]["load_workers"]) == scenario["requests"]


def test_ctrl_c_stops_the_cluster_workers_and_keeps_what_was_measured() -> None:
    with behaviour_server("ok") as url:
        process = subprocess.Popen([sys.executable, "-m", "hftperf", "load", url + "/", "-c", "4", "-d", "30",
                                    "--warmup", "0.2", "--rate", "500", "--cluster", "local:2", "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(300):
                if len(_load_worker_pids(process.pid)) == 2:
                    break
                time.sleep(0.1)
            time.sleep(4.0)
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
    assert time.monotonic() - stopped_at < 15  # drain 0.5 s, then the cluster closes
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["interrupted"] is True and result["requests"] > 300 and not result["lost_workers"]
    _exact(result)
