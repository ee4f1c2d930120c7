"""Local backend: engine and gateway as processes on 127.0.0.1, tracked in a state file.

Each process runs in its own session (process group) so that ``stop`` reaches uvicorn's
worker processes too, and so that a stack started by ``hftperf stack up`` outlives the CLI.
The state file (pids, ports, logs, command lines) lets another shell inspect or stop it. The
process groups, ports and logs themselves are read and signalled through :mod:`.processes`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hftperf.atomic import write_atomically
from hftperf.errors import InfrastructureError, UsageError
from hftperf.redact import redact_text
from hftperf.reference_engine.backends.base import (
    ProcessStatus,
    StackConfig,
    StackEndpoints,
    StackLifecycle,
    StackStatus,
)
from hftperf.reference_engine.backends.processes import (
    group_alive,
    is_ours,
    port_in_use,
    read_log_tail,
    stop_group,
    wait_port_free,
)
from hftperf.reference_engine.bind import url_host
from hftperf.reference_engine.healthcheck import engine_healthy, gateway_healthy

__all__ = ["COMPONENTS", "LocalStack", "port_in_use", "read_log_tail", "state_path"]

COMPONENTS = ("engine", "gateway")  # start order; stop order is the reverse
_MODULES = {"engine": "hftperf.reference_engine.engine", "gateway": "hftperf.reference_engine.gateway"}
_STATE_SCHEMA = "hftperf.stack-state/1"
_LOG_TAIL_LINES = 20


def state_path(name: str, state_dir: Path) -> Path:
    """The state file of stack ``name``."""
    return state_dir / f"{name}.json"


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class LocalStack(StackLifecycle):
    """Engine + gateway as local processes; use as ``with LocalStack(config) as endpoints:``."""

    def __init__(self, config: StackConfig) -> None:
        if config.gateway_port == config.engine_port:
            raise UsageError(f"gateway and engine ports must differ (both {config.gateway_port})")
        if config.workers < 1:
            raise UsageError(f"workers must be >= 1 (got {config.workers})")
        self.config = config
        self.data_dir = config.resolved_data_dir()
        self.state_file = state_path(config.name, config.resolved_state_dir())
        self._state: dict[str, Any] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._log_offsets: dict[str, int] = {}  # where this run's output starts in each log

    # -- construction from another shell ------------------------------------------------------
    @classmethod
    def attach(cls, name: str = "default", state_dir: Path | None = None) -> LocalStack:
        """The stack ``name`` as recorded in its state file (for status, logs and down)."""
        config = StackConfig(name=name, state_dir=state_dir)
        path = state_path(name, config.resolved_state_dir())
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            raise InfrastructureError(f"no stack named {name!r} (no state file {path})") from None
        except (OSError, ValueError) as exc:
            raise InfrastructureError(f"cannot read stack state {path}: {exc}") from None
        if state.get("schema") != _STATE_SCHEMA:
            raise InfrastructureError(f"{path}: unknown state schema {state.get('schema')!r}")
        config = dataclasses.replace(
            config,
            host=str(state.get("host", config.host)),
            gateway_port=int(state["gateway_port"]),
            engine_port=int(state["engine_port"]),
            workers=int(state.get("workers", 1)),
            data_dir=Path(state["data_dir"]),
            db=state.get("db"),
        )
        stack = cls(config)
        stack._state = state
        return stack

    # -- StackBackend -------------------------------------------------------------------------
    def endpoints(self) -> StackEndpoints:
        """Where this stack is reachable."""
        c = self.config
        host = url_host(c.host)
        return StackEndpoints(f"http://{host}:{c.gateway_port}", f"{host}:{c.engine_port}")

    def start(self) -> StackEndpoints:
        """Start engine then gateway, wait until both are healthy; stop both on any failure."""
        if self._state.get("processes") and self._any_alive():
            raise InfrastructureError(f"stack {self.config.name!r} is already running ({self.endpoints().gateway_url})")
        previous = self._read_state()
        if previous is not None and previous.get("stopped_at") is None:
            with contextlib.suppress(InfrastructureError):
                if LocalStack.attach(self.config.name, self.config.state_dir)._any_alive():
                    raise UsageError(
                        f"stack {self.config.name!r} is already running; "
                        f"stop it first with `hftperf stack down --name {self.config.name}`"
                    )
        for component, port in (("gateway", self.config.gateway_port), ("engine", self.config.engine_port)):
            if port_in_use(self.config.host, port):
                raise InfrastructureError(
                    f"port {port} on {self.config.host} is already in use (wanted for the {component}); "
                    f"free it or choose another with --{component}-port"
                )
        self._check_data_dir()
        self._state = {
            "schema": _STATE_SCHEMA,
            "name": self.config.name,
            "backend": "local",
            "started_at": _utc_now(),
            "stopped_at": None,
            "data_dir": str(self.data_dir),
            "db": self.config.db,
            "host": self.config.host,
            "gateway_port": self.config.gateway_port,
            "engine_port": self.config.engine_port,
            "workers": self.config.workers,
            "processes": {},
        }
        try:
            for component in COMPONENTS:
                self._spawn(component)
        except BaseException:
            self.stop()
            raise
        return self.endpoints()

    def components(self) -> list[str]:
        """engine and gateway, in start order."""
        return list(COMPONENTS)

    def logs(self, component: str, lines: int) -> str:
        """The last ``lines`` lines of a component's log file."""
        return read_log_tail(self.log_path(component), lines)

    def log_source(self, component: str) -> str:
        """The component's log file."""
        return str(self.log_path(component))

    def stop(self, volumes: bool = False) -> None:
        """Stop gateway then engine: SIGTERM, wait, SIGKILL after the timeout; free the ports.

        ``volumes`` is for Docker stacks: a UsageError here (the data stays in the data directory).
        """
        if volumes:
            raise UsageError(f"--volumes is for Docker stacks; the local stack keeps its data in {self.data_dir}")
        self._refresh()
        procs = self._state.get("processes", {})
        for component in reversed(COMPONENTS):
            if component in procs:
                self._terminate(component, int(procs[component]["pid"]))
        if self.config.ephemeral:
            self.state_file.unlink(missing_ok=True)
        elif self._state:
            self._state["stopped_at"] = _utc_now()
            self._write_state()

    def status(self) -> StackStatus:
        """Liveness and health of each recorded process."""
        self._refresh()
        procs = self._state.get("processes", {})
        endpoints = self.endpoints()
        stopped = self._state.get("stopped_at") is not None
        rows = []
        for component in COMPONENTS:
            if component not in procs:
                continue
            info = procs[component]
            alive = not stopped and group_alive(int(info["pid"])) and is_ours(int(info["pid"]), _MODULES[component])
            healthy = alive and self._healthy(component, 1.0)
            pid, port = int(info["pid"]), int(info["port"])
            rows.append(ProcessStatus(component, pid, port, alive, healthy, Path(info["log"])))
        return StackStatus(
            name=self.config.name,
            backend="local",
            running=len(rows) == len(COMPONENTS) and all(r.healthy for r in rows),
            endpoints=endpoints,
            processes=tuple(rows),
            data_dir=self.data_dir,
            started_at=str(self._state.get("started_at", "")),
            stopped_at=self._state.get("stopped_at"),
        )

    # -- extras used by tests and fault injection ----------------------------------------------
    def log_path(self, component: str) -> Path:
        """The log file of ``engine`` or ``gateway``."""
        if component not in COMPONENTS:
            raise UsageError(f"unknown component {component!r} (expected engine or gateway)")
        return self.data_dir / f"{component}.log"

    def pid(self, component: str) -> int:
        """The process id recorded for ``component``."""
        try:
            return int(self._state["processes"][component]["pid"])
        except KeyError:
            raise InfrastructureError(f"{component} of stack {self.config.name!r} was not started") from None

    def restart(self, component: str) -> None:
        """Stop ``component`` if it still runs (graceful, then forced), start it again, wait healthy."""
        self._terminate(component, self.pid(component))
        self._spawn(component)

    # -- internals ------------------------------------------------------------------------------
    def _argv(self, component: str) -> list[str]:
        c = self.config
        if component == "engine":
            argv = ["--host", c.host, "--port", str(c.engine_port), "--data-dir", str(self.data_dir)]
            if c.db:
                argv += ["--db", c.db]
            if c.symbols:
                argv += ["--symbols", ",".join(c.symbols)]
            argv += list(c.engine_args)
        else:
            argv = ["--host", c.host, "--port", str(c.gateway_port), "--engine", self.endpoints().engine_target]
            argv += ["--workers", str(c.workers), *c.gateway_args]
        return [sys.executable, "-m", _MODULES[component], *argv]

    def _check_data_dir(self) -> None:
        """Create the data directory and make sure the logs (and the database) can be written there."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            for component in COMPONENTS:
                with self.log_path(component).open("ab"):
                    pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InfrastructureError(
                f"cannot write to the data directory {self.data_dir} ({reason.lower()}); "
                f"choose a writable one with --data-dir"
            ) from None

    def _spawn(self, component: str) -> None:
        argv = self._argv(component)
        log = self.log_path(component)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("ab") as log_file:
            self._log_offsets[component] = log_file.tell()
            shown = redact_text(" ".join(argv))  # keep database passwords out of logs
            log_file.write(f"--- {_utc_now()} starting: {shown}\n".encode())
            log_file.flush()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True,
            )  # fmt: skip
        self._children[component] = proc
        port = self.config.engine_port if component == "engine" else self.config.gateway_port
        self._state["processes"][component] = {"pid": proc.pid, "port": port, "log": str(log), "argv": argv}
        self._write_state()
        self._wait_healthy(component, proc)

    def _wait_healthy(self, component: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while True:
            if proc.poll() is not None:
                self._fail(component, f"exited with status {proc.returncode} during start-up")
            if self._healthy(component, 0.5):
                return
            if time.monotonic() > deadline:
                self._fail(component, f"not healthy after {self.config.startup_timeout_s:g} s")
            time.sleep(0.1)

    def _fail(self, component: str, what: str) -> None:
        tail = read_log_tail(self.log_path(component), _LOG_TAIL_LINES, self._log_offsets.get(component, 0))
        detail = " | ".join(ln.strip() for ln in tail.splitlines() if ln.strip() and not ln.startswith("--- "))
        raise InfrastructureError(f"{component} {what}; log {self.log_path(component)}: {detail or '(empty)'}")

    def _healthy(self, component: str, timeout_s: float) -> bool:
        ends = self.endpoints()
        if component == "engine":
            return engine_healthy(ends.engine_target, timeout_s)
        return gateway_healthy(ends.gateway_url, timeout_s)

    def _any_alive(self) -> bool:
        procs = self._state.get("processes", {})
        return any(group_alive(int(p["pid"])) and is_ours(int(p["pid"]), _MODULES[c]) for c, p in procs.items())

    def _terminate(self, component: str, pgid: int) -> None:
        if not is_ours(pgid, _MODULES[component]):
            return  # the pid was recycled by an unrelated process: leave it alone
        stop_group(pgid, self.config.stop_timeout_s)
        if (child := self._children.pop(component, None)) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)
        if group_alive(pgid):
            raise InfrastructureError(f"{component} (process group {pgid}) survived SIGKILL")
        port = self.config.engine_port if component == "engine" else self.config.gateway_port
        wait_port_free(self.config.host, port)

    def _refresh(self) -> None:
        # Another handle (another shell, or restart()) may have replaced a pid since.
        current = self._read_state()
        if current is not None and self._state and current.get("started_at") == self._state.get("started_at"):
            self._state = current

    def _read_state(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return None

    def _write_state(self) -> None:
        # Atomic replace, so that another shell never reads half a file.
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        # 0600: may hold a database DSN
        write_atomically(self.state_file, (json.dumps(self._state, indent=2) + "\n").encode(), mode=0o600)
