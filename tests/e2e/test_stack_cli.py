"""``hftperf stack up/status/logs/down`` as subprocesses, as a user would type them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.servers import free_port, port_free


def alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (the gateway's uvicorn workers included)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


class Cli:
    """Runs ``python -m hftperf stack ...`` with a private state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.env = {**os.environ, "HFTPERF_STATE_DIR": str(state_dir), "COLUMNS": "200"}
        self.env.pop("HFTPERF_DEBUG", None)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hftperf", "stack", *args],
            check=False, env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture()
def cli(tmp_path: Path) -> Iterator[Cli]:
    """The CLI runner; tears down any stack a failed test left running."""
    runner = Cli(tmp_path / "state")
    yield runner
    for state in (tmp_path / "state").glob("*.json"):
        runner("down", "--name", state.stem)


def test_up_status_logs_down(cli: Cli, tmp_path: Path) -> None:
    gw, eng = free_port(), free_port()
    up = cli("up", "--gateway-port", str(gw), "--engine-port", str(eng), "--workers", "2", "--name", "e2e")
    assert up.returncode == 0, up.stderr
    assert f"http://127.0.0.1:{gw}" in up.stdout
    assert f"127.0.0.1:{eng}" in up.stdout
    assert httpx.get(f"http://127.0.0.1:{gw}/health", timeout=5).status_code == 200

    state = json.loads((tmp_path / "state" / "e2e.json").read_text())
    pids = {name: int(p["pid"]) for name, p in state["processes"].items()}
    assert all(alive(pid) for pid in pids.values())
    assert len(group_members(pids["gateway"])) >= 3, "uvicorn supervisor + 2 workers"

    status = cli("status", "--name", "e2e")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout
    assert str(pids["engine"]) in status.stdout

    again = cli("up", "--gateway-port", str(free_port()), "--engine-port", str(free_port()), "--name", "e2e")
    assert again.returncode == 2
    assert "already running" in again.stderr

    for component in ("engine", "gateway"):
        logs = cli("logs", component, "--lines", "5", "--name", "e2e")
        assert logs.returncode == 0, logs.stderr
        assert 0 < len(logs.stdout.splitlines()) <= 5
    both = cli("logs", "--name", "e2e")
    assert "==> engine" in both.stdout and "==> gateway" in both.stdout

    down = cli("down", "--name", "e2e")
    assert down.returncode == 0, down.stderr
    assert not any(group_members(pgid) for pgid in pids.values()), "stray process after down"
    assert port_free(gw) and port_free(eng), "port still in use after down"

    after = cli("status", "--name", "e2e")
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_port_in_use_is_one_line_exit_2(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli("up", "--gateway-port", str(port), "--engine-port", str(free_port()), "--name", "busy")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "state" / "busy.json").exists(), "nothing may start when a port is taken"


def test_status_of_unknown_stack_is_exit_2(cli: Cli) -> None:
    r = cli("status", "--name", "never-started")
    assert r.returncode == 2
    assert "no stack named 'never-started'" in r.stderr


def test_stack_binds_loopback_unless_asked_and_warns_when_asked(cli: Cli, tmp_path: Path) -> None:
    # An address of no interface here: the warning comes first, then a clear refusal; nothing binds.
    r = cli("up", "--host", "192.0.2.1", "--gateway-port", str(free_port()), "--engine-port", str(free_port()),
            "--name", "exposed")  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("hftperf: warning: the stack (engine and gateway) listens on 192.0.2.1")
    assert "192.0.2.1" in lines[1] and "not an address of this machine" in lines[1]
    assert not (tmp_path / "state" / "exposed.json").exists()

    # Another loopback address (IPv6): no warning, and the stack serves there.
    gw = free_port()
    up = cli("up", "--host", "::1", "--gateway-port", str(gw), "--engine-port", str(free_port()), "--name", "v6")
    assert up.returncode == 0, up.stderr
    assert "warning" not in up.stderr
    assert f"http://[::1]:{gw}" in up.stdout
    assert httpx.get(f"http://[::1]:{gw}/health", timeout=5).status_code == 200
    assert cli("status", "--name", "v6").returncode == 0
    assert cli("down", "--name", "v6").returncode == 0


def test_default_bind_is_loopback_only(cli: Cli) -> None:
    gw, eng = free_port(), free_port()
    up = cli("up", "--gateway-port", str(gw), "--engine-port", str(eng), "--name", "lo")
    assert up.returncode == 0, up.stderr
    assert "warning" not in up.stderr
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:] + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    local = {f.split()[1] for f in listening if f.split()[3] == "0A"}  # state 0A = LISTEN
    for port in (gw, eng):
        mine = {a for a in local if a.endswith(f":{port:04X}")}
        # 127.0.0.1 as IPv4, or as the IPv4-mapped IPv6 address gRPC binds (::ffff:127.0.0.1).
        loopback = {f"0100007F:{port:04X}", f"0000000000000000FFFF00000100007F:{port:04X}"}
        assert mine and mine <= loopback, f"port {port} listens on {mine}, not only 127.0.0.1"
    assert cli("down", "--name", "lo").returncode == 0
