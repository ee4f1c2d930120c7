"""Stack backends: ways to run the reference stack behind one small protocol.

Explicit registry: a backend is one module plus one line in ``BACKENDS``.
"""

from __future__ import annotations

from pathlib import Path

from hftperf.errors import UsageError
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
from hftperf.reference_engine.backends.local import LocalStack

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

BACKENDS: dict[str, type[LocalStack]] = {"local": LocalStack}


def create_stack(config: StackConfig) -> LocalStack:
    """A backend instance for ``config.backend`` (not started)."""
    try:
        backend = BACKENDS[config.backend]
    except KeyError:
        raise UsageError(f"unknown stack backend {config.backend!r} (expected one of: {', '.join(BACKENDS)})") from None
    return backend(config)


def attach_stack(name: str = "default", state_dir: Path | None = None) -> LocalStack:
    """The stack recorded under ``name`` in the state directory (to inspect or stop it)."""
    return LocalStack.attach(name, state_dir)
