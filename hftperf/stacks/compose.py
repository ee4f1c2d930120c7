"""Compose backend: the user's compose file, run through the Docker SDK (not the ``docker compose`` CLI).

Services start in dependency order; each is waited for (its health check, else its first port,
else running) before the next. Ports are published on 127.0.0.1 unless the stack's ``host``
allows more. Everything carries ``hftperf.stack=<name>``: the labels are the state, so
``status``, ``logs`` and ``down`` find the stack from any shell. A failed start removes what it
started and raises with the failing service's last log lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import time
from collections.abc import Callable
from typing import Any

from hftperf.addresses import parse_grpc_target
from hftperf.errors import ConfigError, HftperfError, InfrastructureError, UsageError
from hftperf.reference_engine.backends.base import (
    ProcessStatus,
    StackConfig,
    StackEndpoints,
    StackLifecycle,
    StackStatus,
)
from hftperf.reference_engine.backends.docker_client import connect, docker_errors, free_port, utc_now
from hftperf.reference_engine.backends.processes import port_in_use
from hftperf.stacks.compose_file import ComposeFile, Service, load_compose, start_order
from hftperf.stacks.compose_images import ServiceImage, ensure_images

__all__ = ["LABEL", "ComposeStack", "ServiceFailure"]

LABEL = "hftperf.stack"
LOG_TAIL_LINES = 20
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclasses.dataclass(frozen=True)
class ServiceFailure:
    """A service found not running: which, how it ended, its last log lines."""

    service: str
    state: str
    exit_code: int | None
    log_tail: str

    def line(self) -> str:
        """One line for an error message or a report."""
        logs = " | ".join(ln.strip() for ln in self.log_tail.splitlines() if ln.strip()) or "(empty)"
        code = f" with status {self.exit_code}" if self.exit_code is not None else ""
        return f"service {self.service} {self.state}{code}; last log lines: {logs}"


class ComposeStack(StackLifecycle):
    """A compose file's services as containers; ``with ComposeStack(config) as endpoints:``."""

    def __init__(self, config: StackConfig, client: Any = None, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.client = client
        self.progress = progress
        self.compose: ComposeFile | None = None
        self.images: dict[str, ServiceImage] = {}
        self.data_dir = config.resolved_data_dir()
        self.data_volume = "(the compose file's volumes)"
        self._host_ports: dict[tuple[str, int], int] = {}  # (service, container port) -> host port
        self._started_at = utc_now()
        self._endpoint_labels: dict[str, str] = {}
        if config.compose_file is not None:
            self.compose = load_compose(config.compose_file)
            self._check_services()

    # -- construction from another shell ------------------------------------------------------
    @classmethod
    def attach(cls, name: str, client: Any = None) -> ComposeStack:
        """The stack ``name`` as its container labels describe it (no compose file needed)."""
        stack = cls(StackConfig(name=name, backend="compose"), client if client is not None else connect())
        containers = stack._containers()
        if not containers:
            raise InfrastructureError(f"no stack named {name!r} (no container labelled {LABEL}={name})")
        labels = containers[0].labels
        stack._endpoint_labels = {k: v for k, v in labels.items() if k.startswith("hftperf.endpoint.")}
        stack._started_at = labels.get("hftperf.started_at", "")
        return stack

    # -- StackBackend -------------------------------------------------------------------------
    def endpoints(self) -> StackEndpoints:
        """The target service's HTTP URL and the gRPC service's address (both on 127.0.0.1)."""
        if self._endpoint_labels:
            return StackEndpoints(self._endpoint_labels.get("hftperf.endpoint.http", ""),
                                  self._endpoint_labels.get("hftperf.endpoint.grpc", ""))
        http = self._address(self.config.service)
        grpc = self._address(self.config.grpc_service)
        return StackEndpoints(f"http://{http}" if http else "", grpc or "")

    def start(self) -> StackEndpoints:
        """Build or find every image, create networks and volumes, start services in dependency order."""
        compose = self._require_compose()
        if self.client is None:
            self.client = connect()
        if self._containers():
            raise UsageError(f"stack {self.config.name!r} already has containers; remove them first with "
                             f"`hftperf stack down --name {self.config.name}`")
        self._plan_ports(compose)
        self.images = ensure_images(self.client, compose, tag=self.config.image_tag,
                                    build_args=dict(self.config.build_args),
                                    source_commit=self.config.source_commit, progress=self.progress)
        try:
            self._create_networks_and_volumes(compose)
            for name in start_order(compose):
                self._start_service(compose.services[name])
        except BaseException:
            with contextlib.suppress(HftperfError):  # clean up, but report why the start failed
                self.stop()
            raise
        return self.endpoints()

    def stop(self, volumes: bool = False) -> None:
        """Remove the stack's containers (reverse start order) and networks; its volumes too if asked."""
        if self.client is None:
            self.client = connect()
        containers = self._containers()
        containers.sort(key=lambda c: c.labels.get("hftperf.started_at_ns", "0"), reverse=True)
        for container in containers:
            with docker_errors(f"removing container {container.name}"):
                container.remove(force=True)
        label = {"label": f"{LABEL}={self.config.name}"}
        with docker_errors(f"removing the networks of stack {self.config.name!r}"):
            for network in self.client.networks.list(filters=label):
                network.remove()
        if volumes:
            with docker_errors(f"removing the volumes of stack {self.config.name!r}"):
                for volume in self.client.volumes.list(filters=label):
                    volume.remove(force=True)

    def status(self) -> StackStatus:
        """Each service's container: running, and healthy (its health check, else running)."""
        rows = []
        for container in self._containers():
            state = container.attrs.get("State", {})
            alive = container.status == "running"
            health = (state.get("Health") or {}).get("Status")
            port = next(iter(self._published(container).values()), 0)
            rows.append(ProcessStatus(container.labels.get("hftperf.service", container.name), int(state.get("Pid", 0)),
                                      port, alive, alive and health in (None, "healthy"), None, container.name))
        return StackStatus(name=self.config.name, backend="compose (Docker SDK)", endpoints=self.endpoints(),
                           running=bool(rows) and all(r.healthy for r in rows), processes=tuple(rows),
                           data_dir=self.data_dir, started_at=self._started_at)

    def components(self) -> list[str]:
        """The compose file's services."""
        return self.services()

    def log_source(self, component: str) -> str:
        """The service's container."""
        return f"container hftperf-{self.config.name}-{component}"

    def logs(self, component: str, lines: int) -> str:
        """The last ``lines`` lines of a service's container log ('' when it has none)."""
        container = self._container(component)
        if container is None or lines <= 0:
            return ""
        with docker_errors(f"reading the log of {container.name}"):
            return bytes(container.logs(tail=lines)).decode(errors="replace").rstrip("\n")

    def services(self) -> list[str]:
        """The names of the services that have a container, in start order."""
        containers = sorted(self._containers(), key=lambda c: c.labels.get("hftperf.started_at_ns", "0"))
        return [c.labels.get("hftperf.service", c.name) for c in containers]

    def failures(self) -> list[ServiceFailure]:
        """Services whose container is no longer running (a service that died during a run)."""
        found = []
        for container in self._containers():
            with docker_errors(f"inspecting {container.name}"):
                container.reload()
            if container.status != "running":
                code = container.attrs.get("State", {}).get("ExitCode")
                service = container.labels.get("hftperf.service", container.name)
                found.append(ServiceFailure(service, container.status, code, self.logs(service, LOG_TAIL_LINES)))
        return found

    def environment(self) -> dict[str, Any]:
        """What result.json's environment records: each service's image, image id and build commit."""
        return {name: image.environment() for name, image in self.images.items()}

    # -- internals ------------------------------------------------------------------------------
    def _require_compose(self) -> ComposeFile:
        if self.compose is None:
            raise UsageError("the compose backend needs a compose file (--compose-file F or [stack] compose_file)")
        return self.compose

    def _check_services(self) -> None:
        compose = self._require_compose()
        for flag, name in (("--service", self.config.service), ("--grpc-service", self.config.grpc_service)):
            if name is not None and name not in compose.services:
                raise UsageError(f"{flag} {name!r}: {compose.path} has no such service "
                                 f"(services: {', '.join(compose.services)})")
        if self.config.service is None:
            raise UsageError(f"the compose backend needs the HTTP target service: --service NAME "
                             f"(one of {', '.join(compose.services)})")

    def _prefix(self) -> str:
        return f"hftperf-{self.config.name}"

    def _labels(self, service: str | None = None) -> dict[str, str]:
        labels = {LABEL: self.config.name, "hftperf.backend": "compose", "hftperf.started_at": self._started_at}
        if self.config.compose_file is not None:
            labels["hftperf.compose_file"] = str(self.config.compose_file)
        if service is not None:
            labels["hftperf.service"] = service
            labels["hftperf.started_at_ns"] = f"{time.time_ns():020d}"
            ends = self.endpoints()
            labels["hftperf.endpoint.http"], labels["hftperf.endpoint.grpc"] = ends.gateway_url, ends.engine_target
        return labels

    def _containers(self) -> list[Any]:
        with docker_errors(f"listing containers of stack {self.config.name!r}"):
            return list(self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.config.name}"}))

    def _container(self, service: str) -> Any:
        return next((c for c in self._containers() if c.labels.get("hftperf.service") == service), None)

    def _published(self, container: Any) -> dict[str, int]:
        ports = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
        return {key: int(b[0]["HostPort"]) for key, b in ports.items() if b and b[0].get("HostPort")}

    def _address(self, service_name: str | None) -> str | None:
        """``127.0.0.1:PORT`` of a service's first TCP port as seen from the host."""
        if service_name is None or self.compose is None:
            return None
        service = self.compose.services[service_name]
        if service.network_mode == "host":
            port = next((p.container for p in service.ports), None) or next(iter(service.expose), None)
            return f"127.0.0.1:{port}" if port else None
        tcp = [p for p in service.ports if p.protocol == "tcp"]
        if not tcp:
            raise ConfigError(f"{self.compose.path}: services.{service_name}: publishes no TCP port "
                              "(add 'ports' so hftperf can reach it from the host)")
        host = self._host_ports.get((service_name, tcp[0].container), tcp[0].host)
        return f"127.0.0.1:{host}"

    def _plan_ports(self, compose: ComposeFile) -> None:
        """Host port of each binding; refuse non-loopback binds (unless ``host`` allows) and taken ports."""
        for service in compose.services.values():
            if service.network_mode == "host":
                continue
            for binding in service.ports:
                ip = binding.ip or "127.0.0.1"
                if ip not in _LOOPBACK and self.config.host in _LOOPBACK:
                    raise UsageError(f"{compose.path}: services.{service.name}.ports: {ip}:{binding.host or ''}:"
                                     f"{binding.container} publishes beyond this machine; hftperf binds 127.0.0.1 "
                                     "only (pass --host 0.0.0.0 to allow it)")
                if self.config.remap_ports or binding.host is None:
                    self._host_ports[(service.name, binding.container)] = free_port()
                    continue
                if port_in_use("127.0.0.1", binding.host):
                    raise InfrastructureError(f"services.{service.name}.ports: port {binding.host} on 127.0.0.1 "
                                              "is already in use; free it or change the compose file's port")
                self._host_ports[(service.name, binding.container)] = binding.host
        self.endpoints()  # the target services must be reachable from the host: fail before anything starts

    def _docker_ports(self, service: Service) -> dict[str, Any]:
        ports: dict[str, list[tuple[str, int]]] = {}
        for binding in service.ports:
            entry = (binding.ip or "127.0.0.1", self._host_ports[(service.name, binding.container)])
            ports.setdefault(f"{binding.container}/{binding.protocol}", []).append(entry)
        return ports

    def _network_name(self, network: str) -> str:
        return f"{self._prefix()}-{network}"

    def _create_networks_and_volumes(self, compose: ComposeFile) -> None:
        used = {n for s in compose.services.values() if s.network_mode in (None, "bridge") for n in s.networks}
        for network in compose.networks:
            if network in used or network == "default":
                with docker_errors(f"creating network {self._network_name(network)}"):
                    self.client.networks.create(self._network_name(network), driver="bridge", labels=self._labels())
        for volume in compose.volumes:
            with docker_errors(f"creating volume {self._prefix()}-{volume}"):
                self.client.volumes.create(f"{self._prefix()}-{volume}", labels=self._labels())

    def _start_service(self, service: Service) -> None:
        mounts = {
            (f"{self._prefix()}-{m.source}" if m.kind == "volume" else m.source): {
                "bind": m.target, "mode": "ro" if m.read_only else "rw"}
            for m in service.volumes
        }
        kwargs: dict[str, Any] = {
            "name": f"{self._prefix()}-{service.name}", "labels": self._labels(service.name),
            "environment": dict(service.environment), "volumes": mounts, "detach": True,
        }
        for key in ("command", "entrypoint"):
            if getattr(service, key) is not None:
                kwargs[key] = list(getattr(service, key))
        if service.working_dir:
            kwargs["working_dir"] = service.working_dir
        if service.user:
            kwargs["user"] = service.user
        if service.healthcheck is not None:
            kwargs["healthcheck"] = service.healthcheck.docker()
        networks = list(service.networks) if service.network_mode in (None, "bridge") else []
        if service.network_mode == "bridge" and not networks:
            networks = ["default"]
        if service.network_mode in ("host", "none"):
            kwargs["network_mode"] = service.network_mode
        else:
            first = self._network_name(networks[0])
            kwargs["network"] = first
            kwargs["networking_config"] = {first: self.client.api.create_endpoint_config(aliases=[service.name])}
            kwargs["ports"] = self._docker_ports(service)
        self._say(f"starting {service.name}")
        with docker_errors(f"creating the container of service {service.name}"):
            container = self.client.containers.create(self.images[service.name].image, **kwargs)
            for extra in networks[1:]:
                self.client.networks.get(self._network_name(extra)).connect(container, aliases=[service.name])
        with docker_errors(f"starting service {service.name}"):
            try:
                container.start()
            except Exception as exc:  # a port taken between the check and the start, a bad command
                import docker.errors

                if isinstance(exc, docker.errors.APIError):
                    self._fail(service, container, f"did not start ({exc.explanation or exc})")
                raise
        self._wait_ready(service, container)

    def _wait_ready(self, service: Service, container: Any) -> None:
        """Health check passed, else first published port accepts, else running (or exited 0, a one-shot)."""
        deadline = time.monotonic() + self.config.startup_timeout_s
        address = None
        if service.healthcheck is None and (service.ports or (service.network_mode == "host" and service.expose)):
            address = self._address(service.name) if service.network_mode == "host" or any(
                p.protocol == "tcp" for p in service.ports) else None
        while True:
            with docker_errors(f"inspecting {container.name}"):
                container.reload()
            state = container.attrs.get("State", {})
            health = (state.get("Health") or {}).get("Status")
            if container.status in ("exited", "dead"):
                if state.get("ExitCode") == 0 and service.healthcheck is None and address is None:
                    return
                self._fail(service, container, f"exited with status {state.get('ExitCode')} during start-up")
            if container.status == "running":
                if health == "unhealthy":
                    self._fail(service, container, "failed its health check")
                if service.healthcheck is not None and health == "healthy":
                    return
                if service.healthcheck is None and (address is None or self._listening(container, service, address)):
                    return
            if time.monotonic() > deadline:
                what = "health check" if service.healthcheck else (f"port {address}" if address else "start")
                self._fail(service, container, f"not ready after {self.config.startup_timeout_s:g} s ({what})")
            time.sleep(0.1)

    def _listening(self, container: Any, service: Service, address: str) -> bool:
        """The service's port accepts connections: probed at the container's own address on its network.

        A published port is opened on the host by Docker's proxy before the service listens, so
        probing the host port would pass at once; the container's address does not.
        """
        if service.network_mode == "host":
            return _accepts(address)
        networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        ip = next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), None)
        port = next((p.container for p in service.ports if p.protocol == "tcp"), None)
        return _accepts(f"{ip}:{port}") if ip and port else _accepts(address)

    def _fail(self, service: Service, container: Any, what: str) -> None:
        tail = ""
        with contextlib.suppress(Exception):  # already failing: the log is a courtesy
            tail = bytes(container.logs(tail=LOG_TAIL_LINES)).decode(errors="replace")
        logs = " | ".join(ln.strip() for ln in tail.splitlines() if ln.strip())
        raise InfrastructureError(f"service {service.name} {what}; removed the stack; last log lines: "
                                  f"{logs or '(empty)'}")

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)


def _accepts(address: str) -> bool:
    try:
        host, port = parse_grpc_target(address)  # the one HOST:PORT parser ([v6]:port too)
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False

