"""Run metadata: what is collected, git state, CPU model, and the comparability check."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

import hftperf
from hftperf.environment import (
    CHECKED_METADATA,
    collect_environment,
    cpu_model,
    file_sha256,
    git_state,
    metadata_mismatches,
    utc_now_iso,
)
from hftperf.schemas import RESULT_SCHEMA_FILE, load_schema

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A fresh git repository with one commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tracked.txt").write_text("one\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "tracked.txt")
    _git(repo, "commit", "-q", "-m", "first")
    return repo


def test_collects_every_standard_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "suite.toml"
    config.write_bytes(b"[scenarios]\n")
    env = collect_environment("http://127.0.0.1:8080", "local", config, None, {"network_mode": "host"})
    assert env["hftperf_version"] == hftperf.__version__
    assert env["python_implementation"] and env["python_version"].count(".") == 2
    assert env["os"] and env["hostname"]
    assert env["cpu_count"] == os.cpu_count() and env["cpu_count_usable"] >= 1
    assert (env["target"], env["stack"], env["network_mode"]) == ("http://127.0.0.1:8080", "local", "host")
    assert env["config_path"] == str(config)
    assert env["config_sha256"] == hashlib.sha256(b"[scenarios]\n").hexdigest()
    started = dt.datetime.fromisoformat(env["started_at"])
    assert started.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 60
    assert set(CHECKED_METADATA) <= set(env)
    definitions = load_schema(RESULT_SCHEMA_FILE)["$defs"]
    jsonschema.Draft202012Validator({"$defs": definitions, "$ref": "#/$defs/environment"}).validate(env)


def test_defaults_are_null_and_extra_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not inside a checkout
    env = collect_environment(None, None, None, None, {"grpc_target": "127.0.0.1:50051", "stack": "docker"})
    assert env["target"] is None and env["network_mode"] is None
    assert env["config_path"] is None and env["config_sha256"] is None
    assert env["git_commit"] is None and env["git_dirty"] is None
    assert env["grpc_target"] == "127.0.0.1:50051" and env["stack"] == "docker"


def test_config_hash_given_is_kept_and_unreadable_config_gives_none(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    assert collect_environment(None, None, missing, "ab" * 32)["config_sha256"] == "ab" * 32
    assert collect_environment(None, None, missing, None)["config_sha256"] is None


def test_file_sha256_reads_large_files_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "big").write_bytes(data)
    assert file_sha256(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_utc_now_iso_is_utc_with_z() -> None:
    text = utc_now_iso()
    assert text.endswith("Z")
    assert dt.datetime.fromisoformat(text).tzinfo == dt.UTC


# -- git ----------------------------------------------------------------------------------


@needs_git
def test_git_state_of_a_clean_then_dirty_checkout(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True)
    assert git_state(checkout) == (head.stdout.strip(), False)
    (checkout / "untracked.txt").write_text("new\n")
    assert git_state(checkout)[1] is False  # untracked files do not make it dirty
    (checkout / "tracked.txt").write_text("two\n")
    assert git_state(checkout) == (head.stdout.strip(), True)
    monkeypatch.chdir(checkout / ".")
    env = collect_environment(None, None, None, None)
    assert (env["git_commit"], env["git_dirty"]) == (head.stdout.strip(), True)


@needs_git
def test_git_state_outside_a_checkout_or_before_the_first_commit(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, None)
    _git(tmp_path, "init", "-q")
    assert git_state(tmp_path) == (None, None)


def test_git_missing_is_not_an_error(checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert git_state(checkout) == (None, None)


# -- CPU model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R)  Xeon(R) CPU @ 2.20GHz\n"
         "processor\t: 1\nmodel name\t: Intel(R)  Xeon(R) CPU @ 2.20GHz\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"),
        ("processor\t: 0\nBogoMIPS\t: 50.00\nHardware\t: BCM2835\n", "BCM2835"),
        ("Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\n", "ARMv7 Processor rev 4 (v7l)"),
        ("processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\n", "POWER9 (raw), altivec supported"),
    ],
)
def test_cpu_model_from_cpuinfo(tmp_path: Path, cpuinfo: str, expected: str) -> None:
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    assert cpu_model(tmp_path / "cpuinfo") == expected


def test_cpu_model_without_cpuinfo_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hftperf.environment.sys.platform", "linux")
    monkeypatch.setattr("hftperf.environment.platform.processor", lambda: "x86_64")
    assert cpu_model(tmp_path / "absent") == "x86_64"
    monkeypatch.setattr("hftperf.environment.platform.processor", lambda: "")
    assert cpu_model(tmp_path / "absent") is None


# -- comparability ------------------------------------------------------------------------


def test_no_mismatch_between_identical_environments() -> None:
    env = collect_environment("http://t", "local", None, None)
    assert metadata_mismatches(env, dict(env)) == []


def test_each_differing_checked_key_gives_one_line_in_order() -> None:
    a = {"cpu_model": "AMD EPYC", "cpu_count": 2, "hostname": "a", "git_commit": "1" * 40, "stack": "local"}
    b = {"cpu_model": "Intel Xeon", "cpu_count": 2, "hostname": "b", "git_commit": "2" * 40, "target": "http://x"}
    assert metadata_mismatches(a, b) == [
        "cpu_model: 'AMD EPYC' vs 'Intel Xeon'",
        "target: (missing) vs 'http://x'",
        "stack: 'local' vs (missing)",
    ]


def test_missing_counts_as_unknown() -> None:
    assert metadata_mismatches({"stack": None}, {}) == []
    assert metadata_mismatches({"stack": "local"}, {}) == ["stack: 'local' vs (missing)"]
