"""Is Docker usable here, and with which base image? Answers for tests marked ``docker``."""

from __future__ import annotations

import os

from hftperf.defaults import DEFAULT_BASE_IMAGE as DEFAULT_BASE
from hftperf.defaults import OFFLINE_BASE_IMAGE as OFFLINE_BASE  # what scripts/docker-offline-base.sh creates


def docker_base_image() -> tuple[str | None, str]:
    """(base image to build on, '') when Docker can run the stack, else (None, why not)."""
    try:
        import docker
    except ImportError:
        return None, "the docker package is not installed (pip install -e '.[test]')"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # any failure to reach the daemon means: skip, saying why
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return None, f"Docker daemon not reachable at {where} ({type(exc).__name__}); start dockerd"
    wanted = os.environ.get("HFTPERF_DOCKER_BASE_IMAGE")
    candidates = [wanted] if wanted else [OFFLINE_BASE, DEFAULT_BASE]
    try:
        for image in candidates:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                continue
            return image, ""
    finally:
        client.close()
    return None, (
        f"no base image ({' or '.join(candidates)}) present; create one with "
        "scripts/docker-offline-base.sh or set HFTPERF_DOCKER_BASE_IMAGE"
    )
