"""Git revisions for ``hftperf ab --rev``: resolve, describe and export them without touching a checkout.

A revision is exported with ``git archive`` into a temporary directory, so the user's working
tree, index and HEAD stay as they are, and uncommitted changes are not part of it (a warning
says so). ``WORKTREE`` means the working tree as it is, uncommitted changes included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hftperf.errors import InfrastructureError, UsageError

__all__ = ["WORKTREE", "Revision", "exported", "repo_root", "resolve_revision", "uncommitted_changes"]

WORKTREE = "WORKTREE"
_GIT_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class Revision:
    """One side of the comparison: what the user wrote, the commit it names, its subject line."""

    spec: str  # as given: "origin/main", "HEAD~1", "WORKTREE"
    commit: str  # the full commit id (WORKTREE: HEAD's)
    subject: str
    worktree: bool = False

    @property
    def short(self) -> str:
        """The 12-character commit id (WORKTREE: 'worktree')."""
        return "worktree" if self.worktree else self.commit[:12]

    def label(self) -> str:
        """``<sha12> <subject>`` as the verdicts show each side."""
        return f"{self.short} {self.subject}" if not self.worktree else f"WORKTREE (on {self.commit[:12]})"


def _git(repo: Path, *args: str, binary: bool = False) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=_GIT_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        raise InfrastructureError("git is not installed; --rev needs git") from None
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"git {' '.join(args)} in {repo} took longer than {_GIT_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args[:2])} in {repo}: {reason[-1] if reason else 'failed'}")
    return done.stdout if binary else done.stdout.strip()


def repo_root(repo: Path) -> Path:
    """The top of the git checkout containing ``repo``; UsageError naming --repo when it is none."""
    if not repo.is_dir():
        raise UsageError(f"--repo {repo}: not a directory")
    try:
        return Path(_git(repo, "rev-parse", "--show-toplevel").decode())
    except UsageError:
        raise UsageError(f"--repo {repo}: not a git checkout (--rev needs one)") from None


def resolve_revision(repo: Path, spec: str) -> Revision:
    """The commit ``spec`` names in ``repo`` (``WORKTREE``: the working tree on top of HEAD)."""
    name = "HEAD" if spec == WORKTREE else spec
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").decode()
    except UsageError:
        raise UsageError(f"--rev {spec}: no such revision in {repo}") from None
    subject = _git(repo, "log", "-1", "--format=%s", commit).decode()
    return Revision(spec, commit, subject, worktree=spec == WORKTREE)


def uncommitted_changes(repo: Path) -> bool:
    """True when tracked files differ from HEAD (what an export of a commit leaves out)."""
    return bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))


@contextlib.contextmanager
def exported(repo: Path, revision: Revision, keep: bool = False) -> Iterator[Path]:
    """A directory holding the revision's tree (``git archive``), removed afterwards; WORKTREE: the repo.

    ``keep`` leaves the directory (a kept stack may bind-mount from it).
    """
    if revision.worktree:
        yield repo
        return
    directory = Path(tempfile.mkdtemp(prefix=f"hftperf-rev-{revision.short}-"))
    try:
        archive = _git(repo, "archive", "--format=tar", revision.commit, binary=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(directory, filter="data")  # no links out of the directory, no devices
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
