"""Two git revisions as two live stacks, side by side, for ``hftperf ab --rev BASE --rev HEAD``.

Each revision is exported (``git archive``), its images are built tagged by commit (reused when
present), and its stack starts under its own name, networks and free host ports. With a
compose file that is the user's stack; without one, in a checkout of hftperf, it is the bundled
reference stack of that revision. Both stacks are removed afterwards unless ``keep``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hftperf.errors import HftperfError, UsageError
from hftperf.reference_engine.backends.base import StackConfig
from hftperf.stacks.revisions import Revision, exported, repo_root, resolve_revision, uncommitted_changes

__all__ = ["RevisionTarget", "revision_targets"]

Say = Callable[[str], None]
REVISION_IMAGE_REPOSITORY = "hftperf-stack-rev"  # the bundled stack of a revision: hftperf-stack-rev:<sha12>


@dataclasses.dataclass(frozen=True)
class RevisionTarget:
    """One side, up: its revision, base URL, stack name and what its images are."""

    revision: Revision
    url: str
    stack: str
    images: dict[str, Any]

    def environment(self) -> dict[str, Any]:
        """What this side's result.json records about the revision and its stack."""
        return {"revision": self.revision.spec, "revision_commit": self.revision.commit,
                "revision_subject": self.revision.subject, "revision_worktree": self.revision.worktree,
                "stack_name": self.stack, "stack_services": self.images}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _compose_relative(root: Path, compose_file: Path) -> Path:
    """The compose file's path inside the repository (relative paths are relative to the repository)."""
    if not compose_file.is_absolute():
        return compose_file
    try:
        return compose_file.resolve().relative_to(root.resolve())
    except ValueError:
        raise UsageError(f"--compose-file {compose_file}: not inside the repository {root}") from None


def _is_hftperf(tree: Path) -> bool:
    pyproject = tree / "pyproject.toml"
    return pyproject.is_file() and 'name = "hftperf"' in pyproject.read_text(errors="replace")


@contextlib.contextmanager
def revision_targets(repo: Path, specs: tuple[str, str], compose_file: Path | None, service: str | None, *,
                     keep: bool = False, base_image: str | None = None, build_args: tuple[tuple[str, str], ...] = (),
                     startup_timeout_s: float = 120.0, say: Say | None = None,
                     warn: Say | None = None) -> Iterator[tuple[RevisionTarget, RevisionTarget]]:
    """Start both revisions' stacks; yield (A, B); remove both (unless ``keep``), also on errors."""
    root = repo_root(repo)
    revisions = [resolve_revision(root, spec) for spec in specs]
    if not all(r.worktree for r in revisions) and uncommitted_changes(root) and warn is not None:
        warn(f"{root} has uncommitted changes; --rev exports commits with git archive, so they are not "
             "measured (--rev WORKTREE measures the working tree as it is)")
    relative = _compose_relative(root, compose_file) if compose_file is not None else None
    if relative is None and service is not None:
        raise UsageError("--service needs --compose-file (without one, ab --rev runs hftperf's bundled stack)")
    if relative is not None and service is None:
        raise UsageError("--compose-file needs --service S, the HTTP target service")
    started: list[Any] = []
    with contextlib.ExitStack() as trees:
        try:
            sides = []
            for side, revision in zip("ab", revisions, strict=True):
                tree = trees.enter_context(exported(root, revision, keep=keep))
                name = f"ab-{revision.short}-{side}"
                if relative is not None:
                    sides.append(_compose_side(tree / relative, service or "", name, revision, build_args,
                                               startup_timeout_s, started, say))
                else:
                    sides.append(_bundled_side(tree, name, revision, base_image, startup_timeout_s, started, say))
            yield sides[0], sides[1]
        finally:
            if not keep:
                for stack in reversed(started):
                    with contextlib.suppress(HftperfError):  # remove the other side even if one fails
                        stack.stop(volumes=True)


def _compose_side(compose_file: Path, service: str, name: str, revision: Revision,
                  build_args: tuple[tuple[str, str], ...], startup_timeout_s: float, started: list[Any],
                  say: Say | None) -> RevisionTarget:
    from hftperf.stacks.compose import ComposeStack

    if not compose_file.is_file():
        raise UsageError(f"--compose-file {compose_file.name}: revision {revision.spec} ({revision.short}) "
                         "has no such file")
    config = StackConfig(name=name, backend="compose", compose_file=compose_file, service=service,
                         image_tag=revision.short, source_commit=None if revision.worktree else revision.commit,
                         remap_ports=True, build_args=build_args, startup_timeout_s=startup_timeout_s)
    stack = ComposeStack(config, progress=(lambda line: say(f"{revision.short}: {line}")) if say else None)
    if say is not None:
        say(f"starting {revision.label()} as stack {name}")
    started.append(stack)
    endpoints = stack.start()
    return RevisionTarget(revision, endpoints.gateway_url, name, stack.environment())


def _bundled_side(tree: Path, name: str, revision: Revision, base_image: str | None, startup_timeout_s: float,
                  started: list[Any], say: Say | None) -> RevisionTarget:
    from hftperf.defaults import DEFAULT_BASE_IMAGE
    from hftperf.reference_engine.backends.docker import DockerStack
    from hftperf.reference_engine.backends.docker_client import connect
    from hftperf.reference_engine.backends.docker_image import ensure_revision_image

    if not _is_hftperf(tree):
        raise UsageError(f"revision {revision.spec} is not a checkout of hftperf; give your stack with "
                         "--compose-file F --service S")
    client = connect()
    base = base_image or DEFAULT_BASE_IMAGE
    if say is not None:
        say(f"{revision.short}: the bundled stack image (built once per commit)")
    tag, built = ensure_revision_image(client, base, tree, f"{REVISION_IMAGE_REPOSITORY}:{revision.short}",
                                       rebuild=revision.worktree)  # the working tree may have changed
    config = StackConfig(name=name, backend="docker", gateway_port=_free_port(), engine_port=_free_port(),
                         network="host", image=tag, base_image=base, startup_timeout_s=startup_timeout_s)
    stack = DockerStack(config, client)
    started.append(stack)
    endpoints = stack.start()
    image_id = str(client.images.get(tag).id)
    images = {"reference-stack": {"image": tag, "image_id": image_id, "built": built,
                                  "git_commit": revision.commit, "git_dirty": revision.worktree}}
    return RevisionTarget(revision, endpoints.gateway_url, name, images)
