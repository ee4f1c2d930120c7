"""No credential given to hftperf reaches anything it writes, whatever the command or format.

One loopback server answers 200 only when the query token and the three credential headers
arrive (so every secret really was on the wire, and a run that measured only 401s fails the
test); then every command and output format runs against it, and every byte written (stdout,
stderr, every file under the working directory: results, reports, interval logs, the GitHub
step summary) is searched for every secret. Inputs that hold the secrets on purpose (configs, a
result.json written by something else, the stack's private state file) live apart, in ``in/``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import behaviour_server, free_port

from hftperf.result import load_result

REPO = Path(__file__).resolve().parents[2]

PASSWORD = "pw-Zq81xLk"  # URL userinfo
TOKEN = "tok-Hm42Rv"  # query parameter "token"
AUTH = "au-Pp93Wd"  # Authorization: Bearer ...
API_KEY = "ak-Ls07Qe"  # X-Api-Key
PIN = "pin-Vb56Ty"  # X-Desk-Pin: secret only because [run] redact_headers / --redact-header name it
BAD_KEY = "98765012"  # a mistyped (integer) X-Api-Key in a config
BAD_PIN = "55501234"  # a mistyped (integer) X-Desk-Pin: a header only [run] redact_headers names
DB_PASSWORD = "db-Xc44Nm"  # a PostgreSQL DSN's password
SECRETS = (PASSWORD, TOKEN, AUTH, API_KEY, PIN, BAD_KEY, BAD_PIN, DB_PASSWORD)

HEADERS = ["-H", f"Authorization: Bearer {AUTH}", "-H", f"X-Api-Key: {API_KEY}", "-H", f"X-Desk-Pin: {PIN}",
           "-H", "X-Venue: visible-venue"]
FAST = ["-c", "2", "--warmup", "0s"]


def suite_toml(request_path: str = f"/health?venue=x&token={TOKEN}", api_key: str = f'"{API_KEY}"',
               pin: str = f'"{PIN}"') -> str:
    return f"""
[run]
label = "secrets"
stack = "none"
redact_headers = ["X-Desk-Pin"]

[[scenario]]
name = "health-sequential"
warmup = "0s"
duration = "300ms"
[scenario.request]
path = "{request_path}"
[scenario.request.headers]
Authorization = "Bearer {AUTH}"
X-Api-Key = {api_key}
X-Desk-Pin = {pin}
X-Venue = "visible-venue"
"""


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """The checking server: 200 only for requests that carry the token and all three headers."""
    needles = f"token={TOKEN}|authorization: bearer {AUTH}|x-api-key: {API_KEY}|x-desk-pin: {PIN}"
    with behaviour_server("require", needles) as url:
        yield int(url.rsplit(":", 1)[1])


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """``in/`` for inputs that hold secrets on purpose, ``work/`` for everything hftperf writes."""
    inputs, work = tmp_path / "in", tmp_path / "work"
    inputs.mkdir()
    work.mkdir()
    (inputs / "suite.toml").write_text(suite_toml())
    return inputs, work


def secret_url(port: int, path: str = "/health") -> str:
    return f"http://alice:{PASSWORD}@127.0.0.1:{port}{path}?venue=x&token={TOKEN}"


class Recorder:
    """Runs hftperf in ``work`` with $GITHUB_STEP_SUMMARY there; keeps every stream it wrote."""

    def __init__(self, inputs: Path, work: Path) -> None:
        self.inputs, self.work = inputs, work
        self.streams: list[bytes] = []

    def __call__(self, *args: str, code: int = 0,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "GITHUB_STEP_SUMMARY": str(self.work / "step-summary.md"),
                   "HFTPERF_STATE_DIR": str(self.inputs / "state"), **(env or {})}
        environ.pop("HFTPERF_DEBUG", None)
        done = subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, cwd=self.work,
                              env=environ, timeout=60)
        self.streams += [done.stdout, done.stderr]
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        assert done.returncode == code, f"{args}: exit {done.returncode}\n{out}\n{err}"
        return subprocess.CompletedProcess(done.args, done.returncode, out, err)

    def assert_nothing_leaked(self, files_expected: bool = True) -> None:
        """Search every stream and every file under ``work`` (recursively) for every secret."""
        written = {f"stream {i}": data for i, data in enumerate(self.streams)}
        written |= {str(p.relative_to(self.work)): p.read_bytes() for p in self.work.rglob("*") if p.is_file()}
        assert len(written) > len(self.streams) or not files_expected, "no file was written at all"
        for where, data in written.items():
            lowered = data.lower()
            for secret in SECRETS:  # the secrets are URL-safe: percent-encoding would not hide them
                assert secret.lower().encode() not in lowered, f"{secret} in {where}"


@pytest.fixture
def hftperf(dirs: tuple[Path, Path]) -> Iterator[Recorder]:
    recorder = Recorder(*dirs)
    yield recorder
    recorder.assert_nothing_leaked()


def test_load_table_json_and_interval_logs(hftperf: Recorder, port: int) -> None:
    common = [secret_url(port), *HEADERS, "--redact-header", "x-desk-pin", "-d", "300ms", *FAST]
    table = hftperf("load", *common, "--hlog", "table.hlog", "-q")
    assert f"[redacted]@127.0.0.1:{port}/health?venue=x&token=[redacted]" in table.stdout
    document = json.loads(hftperf("load", *common, "--hlog", "json.hlog", "--json").stdout)
    assert document["ok"] > 0 and document["errors"] == {}  # the server saw every secret
    assert document["request"]["headers"] == {"Authorization": "[redacted]", "X-Api-Key": "[redacted]",
                                              "X-Desk-Pin": "[redacted]", "X-Venue": "visible-venue"}
    for name in ("table.hlog", "json.hlog"):
        assert f"[redacted]@127.0.0.1:{port}" in (hftperf.work / name).read_text()


def test_run_reports_compare_and_step_summary(hftperf: Recorder, port: int) -> None:
    suite = str(hftperf.inputs / "suite.toml")
    hftperf("run", "--config", suite, "--target", f"http://alice:{PASSWORD}@127.0.0.1:{port}", "--out", "base", "-q")
    hftperf("run", "--config", suite, "--target", f"http://bob:{PASSWORD}@127.0.0.1:{port}/", "--out", "head", "-q")
    for side in ("base", "head"):
        (scenario,) = load_result(hftperf.work / side).scenarios
        assert scenario.ok > 0 and scenario.errors == {}
        assert scenario.figures["request"]["headers"]["X-Desk-Pin"] == "[redacted]"
    for fmt in ("markdown", "json", "html"):
        hftperf("report", "base", "--format", fmt, "--out", f"report.{fmt}")
        hftperf("report", "head", "--format", fmt)
    compared = {fmt: hftperf("compare", "base", "head", "--format", fmt).stdout for fmt in ("table", "markdown")}
    document = json.loads(hftperf("compare", "base", "head", "--format", "json").stdout)
    # the two targets differ (a trailing '/'): the warning quotes both, redacted
    assert any(w.startswith("environment differs: target") for w in document["warnings"])
    assert "environment differs: target" in compared["table"] + compared["markdown"]
    assert "base: `secrets (base)`" in (hftperf.work / "step-summary.md").read_text()  # compare appended


def test_results_written_elsewhere_are_redacted_when_read(hftperf: Recorder, port: int) -> None:
    """A result.json from an older hftperf or another tool may hold raw secrets: reports and compare
    read it through the same redaction."""
    hftperf("run", "--config", str(hftperf.inputs / "suite.toml"), "--target", f"http://127.0.0.1:{port}",
            "--out", "base", "-q")
    foreign = hftperf.inputs / "foreign"
    foreign.mkdir()
    document = json.loads((hftperf.work / "base" / "result.json").read_text())
    document["environment"]["target"] = f"http://alice:{PASSWORD}@127.0.0.1:{port}/?token={TOKEN}"
    document["scenarios"][0]["figures"]["request"]["headers"]["Authorization"] = f"Bearer {AUTH}"
    (foreign / "result.json").write_text(json.dumps(document))
    for hlog in (hftperf.work / "base").glob("*.hlog"):
        (foreign / hlog.name).write_bytes(hlog.read_bytes())
    for fmt in ("markdown", "json", "html"):
        hftperf("report", str(foreign), "--format", fmt)
    for fmt in ("table", "markdown", "json"):
        assert "environment differs: target" in hftperf("compare", str(foreign), "base", "--format", fmt).stdout


def test_ab_table_markdown_and_json_with_step_summary(hftperf: Recorder, port: int) -> None:
    url = secret_url(port)
    common = ["ab", url, url, "-s", "load", *HEADERS, "-k", "3", "--round-duration", "300ms", "--warmup-rounds",
              "0", *FAST]
    for fmt in ("table", "markdown"):
        assert f"A http://[redacted]@127.0.0.1:{port}/health?venue=x&token=[redacted]" in hftperf(
            *common, "--format", fmt).stdout
    document = json.loads(hftperf(*common, "--format", "json").stdout)
    rounds = document["details"]["rounds"]
    assert len(rounds) == 3 and all(r[side]["error_rate"] == 0 for r in rounds for side in ("a", "b"))
    assert (hftperf.work / "step-summary.md").read_text().count("hftperf ab") == 3


def test_error_lines(hftperf: Recorder, port: int) -> None:
    closed = free_port()
    bad_port = f"http://alice:{PASSWORD}@127.0.0.1:99999/?token={TOKEN}"
    unreachable = f"http://alice:{PASSWORD}@127.0.0.1:{closed}/health?token={TOKEN}"
    suite = str(hftperf.inputs / "suite.toml")
    (hftperf.inputs / "bad.toml").write_text(suite_toml(api_key=BAD_KEY))
    (hftperf.inputs / "bad-pin.toml").write_text(suite_toml(pin=BAD_PIN))
    cases = [
        (["load", bad_port, *HEADERS], "port", {}),
        (["load", unreachable, *HEADERS, "-d", "300ms"], "cannot connect", {}),
        (["ab", bad_port, secret_url(port), "-s", "load", *HEADERS], "port", {}),
        (["ab", unreachable, secret_url(port), "-s", "load", "-k", "3"], "cannot connect", {}),
        (["run", "--config", suite, "--target", f"http://alice:{PASSWORD}@127.0.0.1:{closed}"], "cannot connect", {}),
        (["run", "--config", suite, "--target", f"ftp://alice:{PASSWORD}@127.0.0.1:1/?token={TOKEN}"], "--target", {}),
        (["run", "--config", suite], "HFTPERF_TARGET",
         {"HFTPERF_TARGET": f"http://alice:{PASSWORD}@127.0.0.1:99999/?token={TOKEN}"}),
        (["run", "--config", suite, "--grpc-target", f"alice:{PASSWORD}@127.0.0.1:x"], "--grpc-target", {}),
        (["run", "--config", str(hftperf.inputs / "bad.toml"), "--target", f"http://127.0.0.1:{port}"],
         "X-Api-Key: expected a string", {}),
        (["run", "--config", str(hftperf.inputs / "bad-pin.toml"), "--target", f"http://127.0.0.1:{port}"],
         "X-Desk-Pin: expected a string", {}),
        (["stack", "up", "--name", "secrets", "--gateway-port", str(free_port()), "--engine-port", str(free_port()),
          "--data-dir", "stack-data", "--db", f"postgresql://bob:{DB_PASSWORD}@127.0.0.1:{closed}/db",
          "--timeout", "10"], "engine", {}),
    ]
    for args, named, env in cases:
        done = hftperf(*args, code=2, env=env)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hftperf: error:") and named in lines[0], (args, done.stderr)
    logs = hftperf("stack", "logs", "--name", "secrets").stdout  # the engine's log quotes its DSN
    assert "postgresql://[redacted]@127.0.0.1" in logs


def test_usage_errors_from_click_are_redacted(dirs: tuple[Path, Path]) -> None:
    hftperf = Recorder(*dirs)
    url = f"http://alice:{PASSWORD}@127.0.0.1:1/?token={TOKEN}"
    try:
        done = hftperf("load", url, url, code=2)  # an unexpected extra argument: Click quotes it
        assert "[redacted]" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    finally:
        hftperf.assert_nothing_leaked(files_expected=False)
