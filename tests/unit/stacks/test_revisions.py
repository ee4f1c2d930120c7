"""Git revisions for ``ab --rev``: resolved with subjects, exported without touching the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compose_repo import add_latency_commit, git, make_repo

from hftperf.errors import UsageError
from hftperf.stacks.revisions import WORKTREE, exported, repo_root, resolve_revision, uncommitted_changes


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    path = make_repo(tmp_path / "repo")
    add_latency_commit(path, 2.0)
    return path


def test_revisions_resolve_to_commits_and_subjects(repo: Path) -> None:
    base, head = resolve_revision(repo, "HEAD~1"), resolve_revision(repo, "main")
    assert base.commit == git(repo, "rev-parse", "HEAD~1") and base.subject == "order service"
    assert head.short == git(repo, "rev-parse", "HEAD")[:12] and head.label().endswith("orders take 2 ms longer")
    work = resolve_revision(repo, WORKTREE)
    assert work.worktree and work.short == "worktree" and work.commit == head.commit


def test_export_is_the_commit_not_the_working_tree(repo: Path) -> None:
    server = repo / "service" / "server.py"
    server.write_text("uncommitted\n")
    assert uncommitted_changes(repo)
    with exported(repo, resolve_revision(repo, "HEAD~1")) as tree:
        assert tree != repo and "DELAY_S = 0 / 1000.0" in (tree / "service" / "server.py").read_text()
        assert (tree / "docker-compose.yml").is_file()
    assert not tree.exists()  # removed afterwards
    assert server.read_text() == "uncommitted\n"  # the checkout is untouched
    assert git(repo, "rev-parse", "HEAD") == resolve_revision(repo, "HEAD").commit
    with exported(repo, resolve_revision(repo, WORKTREE)) as tree:
        assert tree == repo


def test_bad_revision_and_non_checkout_are_usage_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--rev nope: no such revision"):
        resolve_revision(repo, "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="not a git checkout"):
        repo_root(tmp_path / "plain")
