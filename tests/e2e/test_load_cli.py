"""``hftperf load`` driven as a user would: a subprocess, its output and its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram
from support.servers import behaviour_server, free_port

from hftperf.hlog import read_hlog

JSON_KEYS = {"requests", "ok", "errors", "in_flight", "duration_s", "throughput_rps", "latency_us",
             "pacer_lag_us", "connection_wait_us", "connection_waits", "censored", "sent", "histogram"}
PERCENTILE_KEYS = {"p50", "p90", "p99", "p99_9", "max", "mean"}


def hftperf(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_json_output_has_the_stable_keys_and_a_decodable_histogram(tmp_path: Path) -> None:
    hlog = tmp_path / "run.hlog"
    with behaviour_server("ok") as url:
        done = hftperf("load", url + "/", "-c", "4", "-d", "1", "--warmup", "0.2", "--rate", "500",
                       "--json", "--hlog", str(hlog))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= JSON_KEYS
    assert set(result["latency_us"]) == PERCENTILE_KEYS == set(result["pacer_lag_us"]) == set(
        result["connection_wait_us"])
    assert result["requests"] == result["ok"] + sum(result["errors"].values()) + result["in_flight"]
    assert result["requests"] >= 490
    decoded = HdrHistogram.decode(result["histogram"])
    assert decoded.get_total_count() == result["ok"]
    log = read_hlog(hlog)
    assert log.merged().total_count == result["ok"]
    assert log.merged("pacer_lag").total_count == log.merged("connection_wait").total_count == result["sent"]


def test_closed_loop_json_has_no_pacer_lag() -> None:
    with behaviour_server("ok") as url:
        done = hftperf("load", url + "/", "-c", "2", "-d", "0.5", "--warmup", "0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pacer_lag_us"] is None


def test_table_output_names_the_figures() -> None:
    with behaviour_server("status", "503") as url:
        done = hftperf("load", url + "/", "-c", "2", "-d", "0.5", "--warmup", "0")
    assert done.returncode == 0, done.stderr
    assert "errors: http_5xx" in done.stdout and "throughput" in done.stdout


def test_unreachable_target_exits_2_with_one_line() -> None:
    done = hftperf("load", f"http://127.0.0.1:{free_port()}/", "-d", "1")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "cannot connect to 127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_bad_arguments_exit_2_without_traceback() -> None:
    for args in (["--rate", "fast"], ["-d", "ten"], ["-c", "0"], ["--header", "nocolon"],
                 ["--body", "@/nonexistent/file"]):
        done = hftperf("load", "http://127.0.0.1:9/", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.strip(), args
    done = hftperf("load", "https://127.0.0.1/")
    assert done.returncode == 2 and "http://" in done.stderr
