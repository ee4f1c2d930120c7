"""Docker backend: engine, gateway (and optionally PostgreSQL) as containers, through the Docker SDK.

The containers carry labels (``hftperf.stack=<name>`` plus ports, network mode and start time):
the labels are the state, so ``status``, ``logs`` and ``down`` find a stack from any shell.
Network modes: ``host`` (the container shares the host's network, no NAT: the best case) and
``bridge`` (a per-stack user-defined bridge network, ports published on 127.0.0.1 only; the
gateway reaches the engine by container name). SQLite lives on a named volume.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from hftperf.errors import HftperfError, InfrastructureError, UsageError
from hftperf.reference_engine.backends.base import (
    ProcessStatus,
    StackConfig,
    StackEndpoints,
    StackLifecycle,
    StackStatus,
)
from hftperf.reference_engine.backends.docker_client import connect, docker_errors, free_port, utc_now
from hftperf.reference_engine.backends.docker_image import ensure_image
from hftperf.reference_engine.backends.processes import port_in_use
from hftperf.reference_engine.healthcheck import engine_healthy, gateway_healthy

__all__ = ["LABEL", "NETWORK_MODES", "DockerStack", "find_stack_containers"]

LABEL = "hftperf.stack"
NETWORK_MODES = ("host", "bridge")
COMPONENTS = ("engine", "gateway")
_NS = 1_000_000_000
_LOG_TAIL_LINES = 20
_PG_USER = "hftperf"
_PG_PASSWORD = "hftperf"  # a throwaway database inside a private stack
_ENGINE_MODULE = "hftperf.reference_engine.engine"
_GATEWAY_MODULE = "hftperf.reference_engine.gateway"


def find_stack_containers(client: Any, name: str) -> list[Any]:
    """Every container (running or not) labelled as part of stack ``name``."""
    with docker_errors(f"listing containers of stack {name!r}"):
        return list(client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}))


class DockerStack(StackLifecycle):
    """The reference stack as containers; use as ``with DockerStack(config) as endpoints:``."""

    def __init__(self, config: StackConfig, client: Any = None) -> None:
        if config.network not in NETWORK_MODES:
            raise UsageError(f"network must be one of {', '.join(NETWORK_MODES)} (got {config.network!r})")
        if config.gateway_port == config.engine_port:
            raise UsageError(f"gateway and engine ports must differ (both {config.gateway_port})")
        if config.workers < 1:
            raise UsageError(f"workers must be >= 1 (got {config.workers})")
        self.config = config
        self.client = client if client is not None else connect()
        self.data_dir = config.resolved_data_dir()  # unused by containers (their data is on a volume)
        self.data_volume = f"hftperf-{config.name}-data"
        self._prefix = f"hftperf-{config.name}"
        self._started_at = utc_now()

    # -- construction from another shell ------------------------------------------------------
    @classmethod
    def attach(cls, name: str, client: Any = None) -> DockerStack:
        """The stack ``name`` as its container labels describe it."""
        client = client if client is not None else connect()
        containers = find_stack_containers(client, name)
        labels = next((c.labels for c in containers if c.labels.get("hftperf.component") == "gateway"), None)
        labels = labels or (containers[0].labels if containers else None)
        if labels is None:
            raise InfrastructureError(f"no stack named {name!r} (no container labelled {LABEL}={name})")
        try:
            config = StackConfig(
                name=name, backend="docker", network=labels["hftperf.network"],
                gateway_port=int(labels["hftperf.gateway_port"]), engine_port=int(labels["hftperf.engine_port"]),
                workers=int(labels["hftperf.workers"]),
            )  # fmt: skip
        except (KeyError, ValueError):
            raise InfrastructureError(f"containers labelled {LABEL}={name} lack hftperf's labels; "
                                      "remove them with docker rm") from None  # fmt: skip
        stack = cls(config, client)
        stack._started_at = labels.get("hftperf.started_at", "")
        return stack

    # -- StackBackend -------------------------------------------------------------------------
    def endpoints(self) -> StackEndpoints:
        """Where this stack is reachable from the host (both modes: 127.0.0.1)."""
        c = self.config
        return StackEndpoints(f"http://127.0.0.1:{c.gateway_port}", f"127.0.0.1:{c.engine_port}")

    def start(self) -> StackEndpoints:
        """Build the image if needed, start (PostgreSQL,) engine, gateway; wait until each is healthy."""
        if find_stack_containers(self.client, self.config.name):
            raise UsageError(
                f"stack {self.config.name!r} already has containers; "
                f"remove them first with `hftperf stack down --name {self.config.name}`"
            )
        for component, port in (("gateway", self.config.gateway_port), ("engine", self.config.engine_port)):
            if port_in_use("127.0.0.1", port):
                raise InfrastructureError(
                    f"port {port} on 127.0.0.1 is already in use (wanted for the {component}); "
                    f"free it or choose another with --{component}-port"
                )
        image = self.config.image or ensure_image(self.client, self.config.base_image)
        try:
            if self.config.network == "bridge":
                with docker_errors(f"creating network {self._prefix}"):
                    self.client.networks.create(self._prefix, driver="bridge", labels=self._labels("network"))
            dsn = self._start_postgres() if self.config.db == "postgres" else self.config.db
            self._run(image, "engine", self._engine_command(dsn))
            self._run(image, "gateway", self._gateway_command())
        except BaseException:
            with contextlib.suppress(HftperfError):  # clean up, but report why the start failed
                self.stop()
            raise
        return self.endpoints()

    def stop(self, volumes: bool = False) -> None:
        """Stop and remove the stack's containers (gateway first) and network; volumes too if asked."""
        order = {"gateway": 0, "engine": 1, "postgres": 2}
        containers = find_stack_containers(self.client, self.config.name)
        containers.sort(key=lambda c: order.get(c.labels.get("hftperf.component", ""), 3))
        for container in containers:
            with docker_errors(f"removing container {container.name}"):
                if container.status == "running":
                    container.stop(timeout=int(self.config.stop_timeout_s))
                container.remove(force=True)
        with docker_errors(f"removing the networks of stack {self.config.name!r}"):
            for network in self.client.networks.list(filters={"label": f"{LABEL}={self.config.name}"}):
                network.remove()
        if volumes:
            with docker_errors(f"removing the volumes of stack {self.config.name!r}"):
                for volume in self.client.volumes.list(filters={"label": f"{LABEL}={self.config.name}"}):
                    volume.remove(force=True)

    def status(self) -> StackStatus:
        """State of each container, with the same health probes as ``up`` uses."""
        rows = []
        by_component = {c.labels.get("hftperf.component"): c for c in self._containers()}
        for component in COMPONENTS:
            container = by_component.get(component)
            if container is None:
                continue
            alive = container.status == "running"
            healthy = alive and self._healthy(component, 1.0)
            pid = int(container.attrs.get("State", {}).get("Pid", 0))
            port = self.config.engine_port if component == "engine" else self.config.gateway_port
            rows.append(ProcessStatus(component, pid, port, alive, healthy, None, container.name))
        return StackStatus(
            name=self.config.name, backend=f"docker, {self.config.network} network", endpoints=self.endpoints(),
            running=len(rows) == len(COMPONENTS) and all(r.healthy for r in rows), processes=tuple(rows),
            data_dir=self.data_dir, started_at=self._started_at,
        )  # fmt: skip

    def components(self) -> list[str]:
        """engine and gateway."""
        return list(COMPONENTS)

    def log_source(self, component: str) -> str:
        """The component's container."""
        return f"container hftperf-{self.config.name}-{component}"

    def logs(self, component: str, lines: int) -> str:
        """The last ``lines`` lines of a component's container log ('' when it has none)."""
        container = {c.labels.get("hftperf.component"): c for c in self._containers()}.get(component)
        if container is None or lines <= 0:
            return ""
        with docker_errors(f"reading the log of {container.name}"):
            return bytes(container.logs(tail=lines)).decode(errors="replace").rstrip("\n")

    # -- internals ------------------------------------------------------------------------------
    def _labels(self, component: str) -> dict[str, str]:
        c = self.config
        db = "sqlite" if c.db is None else ("postgres" if c.db == "postgres" else "dsn")
        return {
            LABEL: c.name, "hftperf.component": component, "hftperf.network": c.network,
            "hftperf.gateway_port": str(c.gateway_port), "hftperf.engine_port": str(c.engine_port),
            "hftperf.workers": str(c.workers), "hftperf.db": db, "hftperf.started_at": self._started_at,
        }  # fmt: skip

    def _containers(self) -> list[Any]:
        return find_stack_containers(self.client, self.config.name)

    def _bind_host(self) -> str:
        # Host mode shares the host's network: listen on loopback only. Bridge mode: listen on the
        # container's interfaces; the published port is bound to 127.0.0.1 on the host.
        return "127.0.0.1" if self.config.network == "host" else "0.0.0.0"

    def _engine_command(self, dsn: str | None) -> list[str]:
        c = self.config
        argv = ["python", "-m", _ENGINE_MODULE, "--host", self._bind_host(), "--port", str(c.engine_port),
                "--data-dir", "/data"]  # fmt: skip
        if dsn:
            argv += ["--db", dsn]
        if c.symbols:
            argv += ["--symbols", ",".join(c.symbols)]
        return argv + list(c.engine_args)

    def _gateway_command(self) -> list[str]:
        c = self.config
        engine_host = "127.0.0.1" if c.network == "host" else f"{self._prefix}-engine"
        return ["python", "-m", _GATEWAY_MODULE, "--host", self._bind_host(), "--port", str(c.gateway_port),
                "--engine", f"{engine_host}:{c.engine_port}", "--workers", str(c.workers), *c.gateway_args]  # fmt: skip

    def _network_kwargs(self, ports: dict[str, tuple[str, int]]) -> dict[str, Any]:
        if self.config.network == "host":
            return {"network_mode": "host"}
        return {"network": self._prefix, "ports": ports}

    def _run(self, image: str, component: str, command: list[str]) -> None:
        port = self.config.engine_port if component == "engine" else self.config.gateway_port
        probe = ["grpc", f"127.0.0.1:{port}"] if component == "engine" else ["http", f"http://127.0.0.1:{port}"]
        volumes = {self.data_volume: {"bind": "/data", "mode": "rw"}} if component == "engine" else {}
        if volumes:
            self._ensure_volume(self.data_volume)
        with docker_errors(f"starting the {component} container"):
            container = self.client.containers.run(
                image, command, name=f"{self._prefix}-{component}", detach=True, init=True,
                labels=self._labels(component), volumes=volumes, environment={"PYTHONUNBUFFERED": "1"},
                # Docker's own check, for `docker ps` and `stack status`; sparse so that its probe
                # (a Python process) costs little CPU during a benchmark. `up` probes from the host.
                healthcheck={"test": ["CMD", "python", "-m", "hftperf.reference_engine.healthcheck", *probe],
                             "interval": 10 * _NS, "timeout": 5 * _NS, "retries": 3, "start_period": 60 * _NS},
                **self._network_kwargs({f"{port}/tcp": ("127.0.0.1", port)}),
            )  # fmt: skip
        self._wait_healthy(component, container)

    def _ensure_volume(self, name: str) -> None:
        import docker.errors

        with docker_errors(f"creating volume {name}"):
            try:
                self.client.volumes.get(name)
            except docker.errors.NotFound:
                self.client.volumes.create(name, labels={LABEL: self.config.name})

    def _start_postgres(self) -> str:
        """A PostgreSQL container for the engine; returns the DSN the engine uses."""
        import docker.errors

        c = self.config
        with docker_errors(f"PostgreSQL image {c.postgres_image}"):
            try:
                self.client.images.get(c.postgres_image)
            except docker.errors.ImageNotFound:
                try:
                    self.client.images.pull(c.postgres_image)
                except docker.errors.APIError as exc:
                    reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
                    raise InfrastructureError(
                        f"PostgreSQL image {c.postgres_image} is not present and cannot be pulled ({reason}); "
                        "load one with `docker load` or use --db with a postgresql:// DSN"
                    ) from None
        port = free_port() if c.network == "host" else 5432
        command = ["postgres", "-c", f"port={port}"]
        if c.network == "host":
            command += ["-c", "listen_addresses=127.0.0.1"]
        self._ensure_volume(f"{self._prefix}-pgdata")
        with docker_errors("starting the PostgreSQL container"):
            container = self.client.containers.run(
                c.postgres_image, command, name=f"{self._prefix}-postgres", detach=True,
                labels=self._labels("postgres"),
                environment={"POSTGRES_USER": _PG_USER, "POSTGRES_PASSWORD": _PG_PASSWORD, "POSTGRES_DB": "hftperf"},
                volumes={f"{self._prefix}-pgdata": {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
                healthcheck={"test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", _PG_USER],
                             "interval": 1 * _NS, "timeout": 5 * _NS, "retries": 30, "start_period": 60 * _NS},
                **self._network_kwargs({}),
            )  # fmt: skip
        self._wait_healthy("postgres", container)
        host = "127.0.0.1" if c.network == "host" else f"{self._prefix}-postgres"
        return f"postgresql://{_PG_USER}:{_PG_PASSWORD}@{host}:{port}/hftperf"

    def _wait_healthy(self, component: str, container: Any) -> None:
        deadline = time.monotonic() + self.config.startup_timeout_s
        while True:
            with docker_errors(f"inspecting {container.name}"):
                container.reload()
            if container.status in ("exited", "dead"):
                code = container.attrs.get("State", {}).get("ExitCode")
                self._fail(component, container, f"exited with status {code} during start-up")
            if container.status == "running" and self._healthy(component, 0.5, container):
                return
            if time.monotonic() > deadline:
                self._fail(component, container, f"not healthy after {self.config.startup_timeout_s:g} s")
            time.sleep(0.1)

    def _fail(self, component: str, container: Any, what: str) -> None:
        tail = ""
        with contextlib.suppress(Exception):  # already failing: the log is a courtesy
            tail = bytes(container.logs(tail=_LOG_TAIL_LINES)).decode(errors="replace")
        detail = " | ".join(ln.strip() for ln in tail.splitlines() if ln.strip())
        raise InfrastructureError(f"{component} container {container.name} {what}; log: {detail or '(empty)'}")

    def _healthy(self, component: str, timeout_s: float, container: Any = None) -> bool:
        if component == "postgres":  # no client library needed: Docker runs pg_isready
            health = (container.attrs.get("State", {}).get("Health") or {}) if container is not None else {}
            return health.get("Status") == "healthy"
        ends = self.endpoints()
        if component == "engine":
            return engine_healthy(ends.engine_target, timeout_s)
        return gateway_healthy(ends.gateway_url, timeout_s)
