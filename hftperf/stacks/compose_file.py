"""Read a compose file: the Compose Specification's common subset, checked key by key.

hftperf runs the services itself (``hftperf.stacks.compose``), so every key it reads must mean
what Compose means; a key it does not support is a ``ConfigError`` naming the key and the
service (exit 2), never silently ignored. ``x-*`` extension keys are allowed anywhere, as the
specification says. No package on PyPI ships the specification's JSON schema in a maintained
form (the old ``docker-compose`` 1.x is abandoned), so the checks are written here, for the subset.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hftperf.errors import ConfigError, InfrastructureError
from hftperf.stacks.interpolate import interpolate, read_env_file
from hftperf.units import parse_duration_s

__all__ = ["Build", "ComposeFile", "Healthcheck", "Mount", "PortBinding", "Service", "load_compose", "start_order"]

SERVICE_KEYS = ("image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose",
                "depends_on", "healthcheck", "volumes", "networks", "network_mode", "working_dir", "user")
TOP_KEYS = ("services", "volumes", "networks", "name", "version")
_BUILD_KEYS = ("context", "dockerfile", "args")
_HEALTH_KEYS = ("test", "interval", "timeout", "retries", "start_period", "disable")
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_PORT = re.compile(r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]+\]):)?(?:(?P<host>\d*):)?"
                   r"(?P<container>\d+)(?:/(?P<proto>tcp|udp))?$")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Build:
    """How to build a service's image: context directory, Dockerfile (relative to it), build args."""

    context: Path
    dockerfile: str = "Dockerfile"
    args: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Healthcheck:
    """A container health check in Docker's units (nanoseconds)."""

    test: tuple[str, ...]  # ("CMD", ...) or ("CMD-SHELL", "...")
    interval_ns: int = 30 * 1_000_000_000
    timeout_ns: int = 30 * 1_000_000_000
    retries: int = 3
    start_period_ns: int = 0

    def docker(self) -> dict[str, Any]:
        """The ``healthcheck`` argument of ``containers.create``."""
        return {"test": list(self.test), "interval": self.interval_ns, "timeout": self.timeout_ns,
                "retries": self.retries, "start_period": self.start_period_ns}


@dataclasses.dataclass(frozen=True)
class PortBinding:
    """``[IP:][HOST:]CONTAINER[/PROTO]``; host None: any free port; ip None: 127.0.0.1."""

    container: int
    host: int | None = None
    ip: str | None = None
    protocol: str = "tcp"


@dataclasses.dataclass(frozen=True)
class Mount:
    """A named volume (source is the volume's key) or a bind mount (source is an absolute path)."""

    kind: str  # "volume" or "bind"
    source: str
    target: str
    read_only: bool = False


@dataclasses.dataclass(frozen=True)
class Service:
    """One service, with interpolation done and relative paths resolved."""

    name: str
    image: str | None
    build: Build | None
    command: tuple[str, ...] | None
    entrypoint: tuple[str, ...] | None
    environment: Mapping[str, str]
    ports: tuple[PortBinding, ...]
    expose: tuple[int, ...]
    depends_on: Mapping[str, str]  # service -> condition
    healthcheck: Healthcheck | None
    volumes: tuple[Mount, ...]
    networks: tuple[str, ...]
    network_mode: str | None
    working_dir: str | None
    user: str | None


@dataclasses.dataclass(frozen=True)
class ComposeFile:
    """A checked compose file: its services and top-level volumes and networks."""

    path: Path
    project: str  # the file's ``name``, else its directory's name
    services: Mapping[str, Service]
    volumes: tuple[str, ...]
    networks: tuple[str, ...]  # "default" is always there for services without ``networks``


def load_compose(path: Path, environ: Mapping[str, str] | None = None) -> ComposeFile:
    """Parse and check ``path``; variables come from ``environ`` (default os.environ) over ``.env``."""
    try:
        import yaml
    except ImportError:
        raise InfrastructureError("reading compose files needs PyYAML: pip install 'hftperf[docker]'") from None
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the compose file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with 'services' at the top")
    directory = path.resolve().parent
    env = {**(read_env_file(directory / ".env") if (directory / ".env").is_file() else {}),
           **(os.environ if environ is None else environ)}
    document = _interpolated(document, env, str(path))
    _check_keys(document, TOP_KEYS, f"{path}: top-level key")
    services = document.get("services")
    if not isinstance(services, dict) or not services:
        raise ConfigError(f"{path}: 'services' must be a mapping with at least one service")
    volumes = _names(document.get("volumes"), f"{path}: volumes")
    networks = _names(document.get("networks"), f"{path}: networks")
    parsed = {str(name): _service(str(name), spec, path, directory, volumes) for name, spec in services.items()
              if not str(name).startswith("x-")}
    compose = ComposeFile(path, _project(document.get("name"), directory, path), parsed, volumes,
                          (*networks, *(() if "default" in networks else ("default",))))
    _check_references(compose)
    start_order(compose)  # a cycle fails here, before anything starts
    return compose


def start_order(compose: ComposeFile) -> list[str]:
    """Services in an order where each comes after everything it depends on; a cycle is an error."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: visiting, 2: done

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*chain[chain.index(name):], name])
            raise ConfigError(f"{compose.path}: services.{name}.depends_on: dependency cycle {cycle}")
        state[name] = 1
        for dep in compose.services[name].depends_on:
            visit(dep, [*chain, name])
        state[name] = 2
        order.append(name)

    for name in compose.services:
        visit(name, [])
    return order


# -- helpers ----------------------------------------------------------------------------------


def _interpolated(value: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):
        return interpolate(value, env, where)
    if isinstance(value, list):
        return [_interpolated(v, env, where) for v in value]
    if isinstance(value, dict):
        return {k: _interpolated(v, env, f"{where}: {k}") for k, v in value.items()}
    return value


def _check_keys(table: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in table:
        if str(key).startswith("x-"):
            continue
        if key not in known:
            raise ConfigError(f"{where} {key!r} is not supported by hftperf (supported: {', '.join(known)})")


def _project(name: Any, directory: Path, path: Path) -> str:
    project = str(name) if name else directory.name
    project = re.sub(r"[^a-z0-9_-]", "", project.lower()) or "default"
    if name and not _NAME.match(str(name)):
        raise ConfigError(f"{path}: name {name!r}: expected letters, digits, '_', '.' or '-'")
    return project


def _names(table: Any, where: str) -> tuple[str, ...]:
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a mapping of names")
    for name, spec in table.items():
        if spec not in (None, {}) and not (isinstance(spec, dict) and set(spec) <= {"driver"} and
                                           spec.get("driver") in (None, "bridge", "local")):
            keys = ", ".join(spec) if isinstance(spec, dict) else repr(spec)
            raise ConfigError(f"{where}.{name}: {keys} is not supported by hftperf (only the default driver)")
    return tuple(str(n) for n in table)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    raise ConfigError(f"{where}: expected a string or a list of strings")


def _mapping(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list):
        pairs = [str(item).partition("=") for item in value]
        return {k: v for k, _, v in pairs}
    raise ConfigError(f"{where}: expected a mapping or a list of KEY=VALUE")


def _duration_ns(value: Any, where: str) -> int:
    try:
        return round(parse_duration_s(_go_duration(str(value))) * 1_000_000_000)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _go_duration(text: str) -> str:
    """Compose writes ``1m30s``; hftperf's units take one number and unit: sum the parts."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return text
    factor = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return f"{sum(float(n) * factor[u] for n, u in parts)}s"


def _healthcheck(spec: Any, where: str) -> Healthcheck | None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping")
    _check_keys(spec, _HEALTH_KEYS, f"{where}: key")
    if spec.get("disable"):
        return None
    test = spec.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list) or not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise ConfigError(f"{where}.test: expected a string or a list starting with CMD or CMD-SHELL")
    if test[0] == "NONE":
        return None
    retries = spec.get("retries", 3)
    if not isinstance(retries, int) or retries < 1:
        raise ConfigError(f"{where}.retries: expected a positive integer, got {retries!r}")
    values = {k: _duration_ns(spec[k], f"{where}.{k}") for k in ("interval", "timeout", "start_period") if k in spec}
    return Healthcheck(tuple(str(t) for t in test), values.get("interval", 30 * 10**9),
                       values.get("timeout", 30 * 10**9), retries, values.get("start_period", 0))


def _port(item: Any, where: str) -> PortBinding:
    if isinstance(item, dict):
        unknown = set(item) - {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}
        if unknown or "target" not in item:
            raise ConfigError(f"{where}: long syntax needs 'target' (and may have published, host_ip, protocol)")
        published = item.get("published")
        return PortBinding(int(item["target"]), int(published) if published else None,
                           item.get("host_ip"), str(item.get("protocol", "tcp")))
    match = _PORT.match(str(item).strip())
    if match is None:
        raise ConfigError(f"{where}: {item!r}: expected [IP:][HOST:]CONTAINER[/tcp|udp] (ranges are not supported)")
    host = match.group("host")
    return PortBinding(int(match.group("container")), int(host) if host else None,
                       (match.group("ip") or "").strip("[]") or None, match.group("proto") or "tcp")


def _mount(item: Any, where: str, directory: Path, volumes: tuple[str, ...]) -> Mount:
    if isinstance(item, dict):
        kind, source, target = item.get("type", "volume"), item.get("source"), item.get("target")
        if kind not in ("volume", "bind") or not target or not source:
            raise ConfigError(f"{where}: long syntax needs type volume or bind, source and target")
        read_only = bool(item.get("read_only", False))
    else:
        parts = str(item).split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise ConfigError(f"{where}: {item!r}: expected SOURCE:TARGET[:ro|rw] "
                              "(anonymous volumes are not supported)")
        source, target, read_only = parts[0], parts[1], len(parts) == 3 and parts[2] == "ro"
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    if kind == "bind":
        return Mount("bind", str((directory / Path(source).expanduser()).resolve()), str(target), read_only)
    if source not in volumes:
        raise ConfigError(f"{where}: volume {source!r} is not declared under the top-level 'volumes'")
    return Mount("volume", str(source), str(target), read_only)


def _depends_on(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list):
        return {str(name): "service_started" for name in value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a list of services or a mapping service -> {{condition: ...}}")
    deps: dict[str, str] = {}
    for name, spec in value.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}.{name}: expected a mapping with 'condition'")
        _check_keys(spec, ("condition", "restart", "required"), f"{where}.{name}: key")
        condition = spec.get("condition", "service_started")
        if condition not in _CONDITIONS:
            raise ConfigError(f"{where}.{name}.condition: expected one of {', '.join(_CONDITIONS)}, got {condition!r}")
        deps[str(name)] = condition
    return deps


def _service(name: str, spec: Any, path: Path, directory: Path, top_volumes: tuple[str, ...]) -> Service:
    where = f"{path}: services.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for key in spec:
        if not str(key).startswith("x-") and key not in SERVICE_KEYS:
            raise ConfigError(f"{where}: key {key!r} is not supported by hftperf (service {name}; supported: "
                              f"{', '.join(SERVICE_KEYS)})")
    build = _build(spec["build"], f"{where}.build", directory) if "build" in spec else None
    if build is None and not spec.get("image"):
        raise ConfigError(f"{where}: needs 'image' or 'build'")
    environment: dict[str, str] = {}
    env_files = spec.get("env_file", [])
    for file in [env_files] if isinstance(env_files, str) else env_files:
        environment.update(read_env_file(directory / str(file)))
    environment.update(_mapping(spec.get("environment"), f"{where}.environment"))
    networks = spec.get("networks", ["default"] if "network_mode" not in spec else [])
    if isinstance(networks, dict):
        for net, net_spec in networks.items():
            if net_spec not in (None, {}):
                raise ConfigError(f"{where}.networks.{net}: per-network options are not supported by hftperf")
    return Service(
        name=name,
        image=str(spec["image"]) if spec.get("image") else None,
        build=build,
        command=_strings(spec["command"], f"{where}.command") if "command" in spec else None,
        entrypoint=_strings(spec["entrypoint"], f"{where}.entrypoint") if "entrypoint" in spec else None,
        environment=environment,
        ports=tuple(_port(p, f"{where}.ports") for p in spec.get("ports", [])),
        expose=tuple(int(str(p).split("/")[0]) for p in spec.get("expose", [])),
        depends_on=_depends_on(spec.get("depends_on", []), f"{where}.depends_on"),
        healthcheck=_healthcheck(spec["healthcheck"], f"{where}.healthcheck") if "healthcheck" in spec else None,
        volumes=tuple(_mount(v, f"{where}.volumes", directory, top_volumes) for v in spec.get("volumes", [])),
        networks=tuple(str(n) for n in networks),
        network_mode=str(spec["network_mode"]) if "network_mode" in spec else None,
        working_dir=str(spec["working_dir"]) if "working_dir" in spec else None,
        user=str(spec["user"]) if "user" in spec else None,
    )


def _build(spec: Any, where: str, directory: Path) -> Build:
    if isinstance(spec, str):
        spec = {"context": spec}
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a context path or a mapping")
    _check_keys(spec, _BUILD_KEYS, f"{where}: key")
    context = (directory / str(spec.get("context", "."))).resolve()
    if not context.is_dir():
        raise ConfigError(f"{where}.context: {context} is not a directory")
    return Build(context, str(spec.get("dockerfile", "Dockerfile")), _mapping(spec.get("args"), f"{where}.args"))


def _check_references(compose: ComposeFile) -> None:
    for service in compose.services.values():
        where = f"{compose.path}: services.{service.name}"
        for dep in service.depends_on:
            if dep not in compose.services:
                raise ConfigError(f"{where}.depends_on: no service named {dep!r}")
        for net in service.networks:
            if net not in compose.networks:
                raise ConfigError(f"{where}.networks: network {net!r} is not declared under the top-level 'networks'")
        if service.network_mode not in (None, "host", "none", "bridge"):
            raise ConfigError(f"{where}.network_mode: {service.network_mode!r} is not supported by hftperf "
                              "(expected host, none or bridge)")
