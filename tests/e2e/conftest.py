"""Fixtures shared by the end-to-end tests that need a Docker daemon (skipped, saying why, without one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.docker_env import docker_base_image


@pytest.fixture(scope="module")
def base_image() -> str:
    """The base image to build on (skips the module's Docker tests when Docker cannot run)."""
    image, why = docker_base_image()
    if image is None:
        pytest.skip(why)
    return image


@pytest.fixture(scope="module")
def client(base_image: str) -> Iterator[Any]:
    """A Docker SDK client for the daemon in the environment."""
    import docker

    c = docker.from_env(timeout=120)
    yield c
    c.close()
