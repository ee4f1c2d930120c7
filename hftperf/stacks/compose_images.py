"""The images of a compose stack: build (streamed, through the SDK) or find each service's image.

A built image is tagged ``hftperf-<project>-<service>:<tag>``; with a commit as the tag
(``hftperf ab --rev``) an image already present is reused, so a second run of the same
revisions builds nothing. Without one the tag is ``latest`` and the daemon's layer cache makes
a rebuild of an unchanged context cheap.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from hftperf.environment import git_state
from hftperf.errors import InfrastructureError
from hftperf.reference_engine.backends.docker_client import docker_errors
from hftperf.stacks.compose_file import ComposeFile, Service

__all__ = ["ServiceImage", "ensure_images", "image_name"]

Progress = Callable[[str], None]
_BUILD_TIMEOUT_S = 900
_PULL_FAILED = re.compile(r"pull access denied|failed to resolve|dial tcp|no such host|manifest unknown|"
                          r"not found: manifest|TLS handshake|connection refused|repository does not exist",
                          re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class ServiceImage:
    """The image a service runs: its tag, image id, whether it was built now, its context's commit."""

    service: str
    image: str
    image_id: str
    built: bool
    git_commit: str | None = None
    git_dirty: bool | None = None

    def environment(self) -> dict[str, Any]:
        """As result.json's environment records it."""
        return {"image": self.image, "image_id": self.image_id, "git_commit": self.git_commit,
                "git_dirty": self.git_dirty}


def image_name(project: str, service: str, tag: str | None) -> str:
    """``hftperf-<project>-<service>:<tag or latest>``."""
    return f"hftperf-{project}-{service}:{tag or 'latest'}".lower()


def ensure_images(client: Any, compose: ComposeFile, *, tag: str | None, build_args: Mapping[str, str],
                  source_commit: str | None = None, progress: Progress | None = None) -> dict[str, ServiceImage]:
    """Every service's image, building those with ``build`` (skipped when ``tag`` is set and present)."""
    images: dict[str, ServiceImage] = {}
    for service in compose.services.values():
        if service.build is None:
            images[service.name] = _present(client, service)
        else:
            images[service.name] = _built(client, compose, service, tag, build_args, source_commit, progress)
    return images


def _present(client: Any, service: Service) -> ServiceImage:
    import docker.errors

    assert service.image is not None
    with docker_errors(f"image {service.image} of service {service.name}"):
        try:
            return ServiceImage(service.name, service.image, str(client.images.get(service.image).id), False)
        except docker.errors.ImageNotFound:
            pass
        try:
            pulled = client.images.pull(service.image)
        except docker.errors.APIError as exc:
            reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
            raise InfrastructureError(
                f"service {service.name}: image {service.image} is not present and cannot be pulled ({reason}); "
                "load it with `docker load` or give the service a 'build'"
            ) from None
    return ServiceImage(service.name, service.image, str(pulled.id), False)


def _built(client: Any, compose: ComposeFile, service: Service, tag: str | None, build_args: Mapping[str, str],
           source_commit: str | None, progress: Progress | None) -> ServiceImage:
    import docker.errors

    assert service.build is not None
    name = service.image if service.image and tag is None else image_name(compose.project, service.name, tag)
    commit, dirty = (source_commit, False) if source_commit else git_state(service.build.context)
    if tag is not None and tag != "worktree":  # a commit's image is that commit's: reuse it
        with docker_errors(f"image {name}"):
            try:
                return ServiceImage(service.name, name, str(client.images.get(name).id), False, commit, dirty)
            except docker.errors.ImageNotFound:
                pass
    args = {**service.build.args, **build_args}
    _stream_build(client, service, name, args, progress)
    with docker_errors(f"image {name}"):
        image_id = str(client.images.get(name).id)
    return ServiceImage(service.name, name, image_id, True, commit, dirty)


def _stream_build(client: Any, service: Service, name: str, args: Mapping[str, str],
                  progress: Progress | None) -> None:
    """``docker build`` through the low-level API, each output line to ``progress``; errors name the way out."""
    assert service.build is not None
    log: list[str] = []
    with docker_errors(f"building image {name} of service {service.name}"):
        stream = client.api.build(path=str(service.build.context), dockerfile=service.build.dockerfile, tag=name,
                                  buildargs=dict(args), rm=True, forcerm=True, pull=False, decode=True,
                                  timeout=_BUILD_TIMEOUT_S, labels={"hftperf.service": service.name})
        for chunk in stream:
            if "error" in chunk:
                _build_failed(service, name, str(chunk["error"]).strip(), log)
            line = str(chunk.get("stream") or chunk.get("status") or "").strip()
            if line:
                log.append(line)
                if progress is not None:
                    progress(f"{service.name}: build: {line}")


def _build_failed(service: Service, name: str, error: str, log: list[str]) -> None:
    tail = " | ".join(log[-5:])
    if _PULL_FAILED.search(error):
        raise InfrastructureError(
            f"service {service.name}: building {name} needs a base image that is not present and cannot be "
            f"pulled ({error}); load it with `docker load`, or point the Dockerfile's FROM at a local image "
            "with --base-image IMAGE (build arg BASE_IMAGE) or --build-arg"
        )
    raise InfrastructureError(f"service {service.name}: image build failed: {error}; build log: {tail}")
