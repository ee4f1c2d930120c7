"""The reference stack image: content-hashed tag, offline build context, build through the SDK.

The build context is this package's Dockerfile plus ``wheels/``: the hftperf wheel and every
dependency wheel, built on the host with ``pip wheel`` (so the host's pip, cache and index are
used). The image installs them with ``pip install --no-index`` in a build without network,
which works behind an air gap. The tag carries the hftperf version and a hash of everything
that goes into the image, so a present image is reused and a changed source rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import hftperf
from hftperf.defaults import DEFAULT_BASE_IMAGE, OFFLINE_BASE_IMAGE
from hftperf.errors import InfrastructureError
from hftperf.reference_engine.backends.docker_client import docker_errors

__all__ = ["DEFAULT_BASE_IMAGE", "IMAGE_REPOSITORY", "OFFLINE_BASE_HINT", "ensure_image", "ensure_revision_image",
           "image_tag", "source_tree"]

IMAGE_REPOSITORY = "hftperf-stack"
OFFLINE_BASE_HINT = (
    "create one without a registry with scripts/docker-offline-base.sh (debootstrap + docker import, "
    f"tag {OFFLINE_BASE_IMAGE}) and pass --base-image {OFFLINE_BASE_IMAGE}"
)
_PIP_TIMEOUT_S = 900.0
_BUILD_TIMEOUT_S = 900


def _dockerfile() -> bytes:
    return importlib.resources.files("hftperf.reference_engine.dockerfiles").joinpath("Dockerfile").read_bytes()


def source_tree() -> Path | None:
    """The checkout hftperf runs from (it has pyproject.toml), or None for an installed wheel."""
    root = Path(hftperf.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "hftperf"' in pyproject.read_text(errors="replace"):
        return root
    return None


def image_tag(base_image_id: str) -> str:
    """``hftperf-stack:<version>-<hash>``: the hash covers the package, Dockerfile, base image and Python."""
    digest = hashlib.sha256()
    for part in (_dockerfile(), base_image_id.encode(), f"{sys.version_info[:2]}".encode()):
        digest.update(part + b"\0")
    package = Path(hftperf.__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    root = source_tree()
    if root is not None:
        digest.update((root / "pyproject.toml").read_bytes())
    return f"{IMAGE_REPOSITORY}:{hftperf.__version__}-{digest.hexdigest()[:12]}"


def _base_image_id(client: Any, base_image: str) -> str:
    """The id of the base image, pulling it when absent; a clear error when that is impossible."""
    import docker.errors

    with docker_errors(f"base image {base_image}"):
        try:
            return str(client.images.get(base_image).id)
        except docker.errors.ImageNotFound:
            pass
        try:
            return str(client.images.pull(base_image).id)
        except docker.errors.APIError as exc:
            reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
            raise InfrastructureError(
                f"base image {base_image} is not present and cannot be pulled ({reason}); {OFFLINE_BASE_HINT}"
            ) from None


def _copy_source(root: Path, into: Path) -> Path:
    """A clean copy of the checkout's package sources (no stale ``build/``, nothing written to the checkout)."""
    into.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "setup.cfg", "MANIFEST.in"):
        if (root / name).is_file():
            shutil.copy2(root / name, into / name)
    shutil.copytree(root / "hftperf", into / "hftperf", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return into


def _build_wheels(into: Path, root: Path | None = None) -> None:
    """``pip wheel`` hftperf (with the postgres extra) and all its dependencies into ``into``."""
    root = root if root is not None else source_tree()
    if root is not None:
        requirement = f"{_copy_source(root, into.parent / 'source')}[postgres]"
    else:
        requirement = f"hftperf[postgres]=={hftperf.__version__}"
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
            "--wheel-dir", str(into), requirement]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"cannot build the wheels for the stack image: {exc}") from None
    if done.returncode != 0:
        tail = " | ".join(line.strip() for line in done.stderr.splitlines()[-6:] if line.strip())
        raise InfrastructureError(f"pip wheel {requirement} failed (status {done.returncode}): {tail}")


def ensure_image(client: Any, base_image: str = DEFAULT_BASE_IMAGE) -> str:
    """The tag of the stack image for ``base_image``, built first when it is not present."""
    import docker.errors

    tag = image_tag(_base_image_id(client, base_image))
    with docker_errors(f"image {tag}"):
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
    context = Path(tempfile.mkdtemp(prefix="hftperf-image-"))
    try:
        (context / "Dockerfile").write_bytes(_dockerfile())
        _build_wheels(context / "wheels")
        shutil.rmtree(context / "source", ignore_errors=True)  # not part of the image's context
        with docker_errors(f"building image {tag} from {base_image}"):
            client.images.build(
                path=str(context), tag=tag, buildargs={"BASE_IMAGE": base_image}, rm=True, forcerm=True,
                pull=False, network_mode="none", timeout=_BUILD_TIMEOUT_S,
                labels={"hftperf.version": hftperf.__version__, "hftperf.base_image": base_image},
            )  # fmt: skip
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _remove_superseded(client, tag, base_image)
    return tag


def _remove_superseded(client: Any, tag: str, base_image: str) -> None:
    """Remove older stack images built on the same base (each is ~600 MB); skip any a container uses."""
    import docker.errors

    for image in client.images.list(name=IMAGE_REPOSITORY, filters={"label": f"hftperf.base_image={base_image}"}):
        for old in (t for t in image.tags if t != tag):
            with contextlib.suppress(docker.errors.APIError):  # in use by a container: keep it
                client.images.remove(old, noprune=False)


def ensure_revision_image(client: Any, base_image: str, root: Path, tag: str,
                          rebuild: bool = False) -> tuple[str, bool]:
    """The stack image of the hftperf source tree ``root`` (a revision's export) as ``tag``; (tag, built now).

    ``tag`` names a commit, so an image already present is that revision's and is reused
    (unless ``rebuild``: a working tree).
    """
    import docker.errors

    with docker_errors(f"image {tag}"):
        try:
            client.images.get(tag)
            if not rebuild:
                return tag, False
        except docker.errors.ImageNotFound:
            pass
    _base_image_id(client, base_image)
    context = Path(tempfile.mkdtemp(prefix="hftperf-image-"))
    try:
        (context / "Dockerfile").write_bytes(_dockerfile())
        _build_wheels(context / "wheels", root)
        shutil.rmtree(context / "source", ignore_errors=True)
        with docker_errors(f"building image {tag} from {base_image}"):
            client.images.build(
                path=str(context), tag=tag, buildargs={"BASE_IMAGE": base_image}, rm=True, forcerm=True,
                pull=False, network_mode="none", timeout=_BUILD_TIMEOUT_S,
                labels={"hftperf.base_image": base_image, "hftperf.revision": tag},
            )  # fmt: skip
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag, True
