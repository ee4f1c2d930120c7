"""Stack backends: ways to run the reference stack behind one small protocol.

Explicit registry: a backend is one module plus one line in ``BACKENDS``. The Docker backend
is imported only when chosen (the ``docker`` package is an optional extra).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from hftperf.errors import InfrastructureError, UsageError
from hftperf.reference_engine.backends.base import (
    DEFAULT_ENGINE_PORT,
    DEFAULT_GATEWAY_PORT,
    ProcessStatus,
    StackBackend,
    StackConfig,
    StackEndpoints,
    StackStatus,
    default_state_dir,
)
from hftperf.reference_engine.backends.local import LocalStack, state_path

__all__ = [
    "BACKENDS",
    "DEFAULT_ENGINE_PORT",
    "DEFAULT_GATEWAY_PORT",
    "LocalStack",
    "ProcessStatus",
    "StackBackend",
    "StackConfig",
    "StackEndpoints",
    "StackStatus",
    "attach_stack",
    "create_stack",
    "default_state_dir",
]

BACKENDS: dict[str, str] = {  # name -> "module:class", imported on use
    "local": "hftperf.reference_engine.backends.local:LocalStack",
    "docker": "hftperf.reference_engine.backends.docker:DockerStack",
    "compose": "hftperf.stacks.compose:ComposeStack",
}


def _backend_class(name: str) -> Any:
    try:
        module, _, cls = BACKENDS[name].partition(":")
    except KeyError:
        raise UsageError(f"unknown stack backend {name!r} (expected one of: {', '.join(BACKENDS)})") from None
    return getattr(importlib.import_module(module), cls)


def create_stack(config: StackConfig) -> Any:
    """A backend instance for ``config.backend`` (not started); it has start/stop/status/endpoints."""
    return _backend_class(config.backend)(config)


def attach_stack(name: str = "default", state_dir: Path | None = None) -> Any:
    """The stack ``name`` to inspect or stop: a local one not taken down, else Docker's, else a stopped local one."""
    local: LocalStack | None = None
    state = state_path(name, state_dir if state_dir is not None else default_state_dir())
    if state.exists():
        local = LocalStack.attach(name, state_dir)
        if local.status().stopped_at is None:  # up (or crashed, never taken down): that one
            return local
    docker_stack = _attach_docker(name)
    if docker_stack is not None:
        return docker_stack
    if local is not None:
        return local
    raise InfrastructureError(
        f"no stack named {name!r} (no state file {state}, no Docker container labelled hftperf.stack={name})"
    )


def _attach_docker(name: str) -> Any:
    """The Docker stack ``name`` if Docker is usable and has its containers; None otherwise."""
    if importlib.util.find_spec("docker") is None:
        return None
    from hftperf.reference_engine.backends.docker import DockerStack, find_stack_containers
    from hftperf.reference_engine.backends.docker_client import connect

    try:
        client = connect(timeout_s=10.0)
    except InfrastructureError:
        return None  # no daemon: there is no Docker stack to find
    containers = find_stack_containers(client, name)
    if not containers:
        return None
    if any(c.labels.get("hftperf.backend") == "compose" for c in containers):
        from hftperf.stacks.compose import ComposeStack

        return ComposeStack.attach(name, client)
    return DockerStack.attach(name, client)
