"""Fuzzing the command line: every option of every command, given any text, ends in exit 0/2 with one line.

Each command runs in process through the real error boundary (``run_command``). Targets are a closed
loopback port (127.0.0.1:9) and Docker points at a socket that does not exist, so a value that is
valid gets as far as "unreachable" (exit 2) and no load is ever sent. What must never appear: a
traceback, an "internal error" (an exception the boundary did not expect), or exit 1 (which CI
reads as "a threshold failed").
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hftperf.cli import app
from hftperf.cli.console import run_command

# An exception in a helper thread (a watchdog timer that overflows) is a failure too, not a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

DATA = Path(__file__).resolve().parents[1] / "data"
CLOSED = "http://127.0.0.1:9"
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=14)
VALUES = st.one_of(
    TEXT,
    st.from_regex(r"\A-?[0-9]{0,6}(\.[0-9]{0,3})?(e[+-]?[0-9]{1,3})?(us|ms|s|m|h|/s|/m|%)?\Z"),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-1", "65536", "99999", "0s", "1e300s", "nan", "inf", "${rand:5:1}", "xml", "FOO",
                     "@/no/such/file", "http://127.0.0.1:0/", "GET", "json"]),
)


def _invoke(args: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_command(app, args)
    return code, err.getvalue()


def _check(args: list[str], code: int, err: str, allowed: tuple[int, ...] = (2,)) -> None:
    assert "Traceback" not in err, (args, err)
    assert "internal error" not in err, (args, err)
    assert code in allowed, (args, code, err)
    if code == 2:
        lines = [line for line in err.strip().splitlines() if line.startswith("hftperf: error: ")]
        assert len(lines) == 1, (args, err)


@pytest.fixture(autouse=True)
def _no_docker_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    monkeypatch.setenv("HFTPERF_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


LOAD_OPTIONS = ["--connections", "--duration", "--rate", "--workers", "--warmup", "--timeout", "--method",
                "--body", "--header"]


@FUZZ
@given(option=st.sampled_from(LOAD_OPTIONS), value=VALUES)
@example(option="--body", value="${rand:5:1}")
def test_load_options(option: str, value: str) -> None:
    args = ["load", f"{CLOSED}/health", "--template", option, value, "-d", "100ms", "--warmup", "0s", "-q"]
    if option in ("--duration", "--warmup"):
        args = ["load", f"{CLOSED}/health", "--template", "-q", option, value]
    code, err = _invoke(args)
    _check(args, code, err)


@FUZZ
@given(url=VALUES)
def test_load_url(url: str) -> None:
    code, err = _invoke(["load", url, "-d", "100ms", "-q"])
    _check(["load", url], code, err)


AB_OPTIONS = ["--rounds", "--round-duration", "--warmup", "--warmup-rounds", "--connections", "--rate",
              "--timeout", "--format", "--alpha", "--tolerance", "--param", "--scenario", "--method"]


@FUZZ
@given(option=st.sampled_from(AB_OPTIONS), value=VALUES)
def test_ab_options(option: str, value: str) -> None:
    args = ["ab", CLOSED, CLOSED, option, value, "-q"]
    code, err = _invoke(args)
    _check(args, code, err)


RUN_OPTIONS = ["--duration-scale", "--repeat", "--deadline", "--label", "--grpc-target", "--target", "--scenario",
               "--stack"]


@FUZZ
@given(option=st.sampled_from(RUN_OPTIONS), value=VALUES)
@example(option="--duration-scale", value="1e300")
@example(option="--repeat", value="99999999999")
def test_run_options(option: str, value: str, tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[2] / "configs" / "ci.toml"
    args = ["run", "--config", str(config), "--target", CLOSED, option, value, "-q", "--out",
            str(tmp_path / "out"), "--force"]
    code, err = _invoke(args)
    _check(args, code, err)


STACK_OPTIONS = ["--gateway-port", "--engine-port", "--workers", "--timeout", "--db", "--network", "--name",
                 "--symbols"]


@FUZZ
@given(option=st.sampled_from(STACK_OPTIONS), value=VALUES)
def test_stack_up_options(option: str, value: str) -> None:
    args = ["stack", "up", "--backend", "docker", option, value]
    code, err = _invoke(args)
    _check(args, code, err)


@FUZZ
@given(option=st.sampled_from(["--format", "--alpha", "--tolerance", "--config"]), value=VALUES)
def test_compare_options(option: str, value: str) -> None:
    args = ["compare", str(DATA / "compare" / "base"), str(DATA / "compare" / "same"), option, value]
    code, err = _invoke(args)
    _check(args, code, err, allowed=(0, 2))


@FUZZ
@given(fmt=VALUES)
def test_report_format(fmt: str, tmp_path: Path) -> None:
    args = ["report", str(DATA / "results-small"), "--format", fmt, "--out", str(tmp_path / "report.out"),
            "--plots", str(tmp_path / "plots")]
    code, err = _invoke(args)
    _check(args, code, err, allowed=(0, 2))
