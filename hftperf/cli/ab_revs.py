"""``hftperf ab --rev BASE --rev HEAD``: the options that start two revisions' stacks, and the results directory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hftperf.cli.console import stderr
from hftperf.compare.ab import AbRound
from hftperf.compare.model import Comparison
from hftperf.config import read_toml
from hftperf.environment import collect_environment, utc_now_iso
from hftperf.errors import DataError, UsageError
from hftperf.params import load_params
from hftperf.reports.comparison import render_comparison_markdown
from hftperf.result import RunResult, build_run_result, save_result
from hftperf.results_dir import prepare_results_dir

__all__ = ["RevOptions", "Sides", "default_out", "record_ab_history", "rev_options", "revision_sides",
           "write_ab_results"]


@dataclass(frozen=True)
class _AbSection:
    """``[ab]`` of a config file: the revisions and the stack (flags win)."""

    rev: tuple[str, ...] = ()
    repo: Path | None = None
    compose_file: Path | None = None
    service: str | None = None
    keep: bool = False


def rev_options(config: Path | None, revs: Sequence[str], repo: Path | None, compose_file: Path | None,
                service: str | None, keep: bool, base_image: str | None) -> RevOptions:
    """Flags over ``[ab]`` of ``config`` (ConfigError names the file and key)."""
    section = _AbSection()
    if config is not None:
        document, _ = read_toml(config)
        section = load_params(_AbSection, document.get("ab", {}), f"{config}: ab")
    return RevOptions(tuple(revs) or section.rev, repo or section.repo or Path("."),
                      compose_file or section.compose_file, service or section.service, keep or section.keep,
                      base_image)


@dataclass(frozen=True)
class RevOptions:
    """What ``--rev`` and its companions asked for."""

    revs: tuple[str, ...]
    repo: Path
    compose_file: Path | None
    service: str | None
    keep: bool
    base_image: str | None
    startup_timeout_s: float = 120.0

    def check(self, urls: Sequence[str | None]) -> None:
        """Exactly two revisions, and then no URLs; companions only with --rev."""
        if not self.revs:
            if self.compose_file is not None or self.service is not None or self.keep:
                raise UsageError("--compose-file, --service and --keep go with --rev BASE --rev HEAD")
            if any(url is None for url in urls):
                raise UsageError("give URL_A and URL_B, or --rev BASE --rev HEAD to start both revisions' stacks")
            return
        if len(self.revs) != 2:
            raise UsageError(f"--rev: expected exactly two (--rev BASE --rev HEAD), got {len(self.revs)}")
        if any(url is not None for url in urls):
            raise UsageError("--rev starts both stacks itself: give no URL_A/URL_B with it")
        if self.service is not None and self.compose_file is None:
            raise UsageError("--service needs --compose-file (without one, ab --rev runs hftperf's bundled stack)")
        if self.compose_file is not None and self.service is None:
            raise UsageError("--compose-file needs --service S, the HTTP target service")


@dataclass(frozen=True)
class Sides:
    """The two targets: URLs, how the verdicts name them, and what each side's result.json records."""

    url_a: str
    url_b: str
    label_a: str
    label_b: str
    environment_a: dict[str, Any]
    environment_b: dict[str, Any]


@contextlib.contextmanager
def revision_sides(options: RevOptions, quiet: bool) -> Iterator[Sides]:
    """Start both revisions (progress on stderr) and yield their targets; both stacks go afterwards."""
    from hftperf.stacks.ab_stacks import revision_targets

    def warn(text: str) -> None:
        stderr.out(f"hftperf: warning: {text}", highlight=False)

    status = stderr.status("exporting the revisions…") if stderr.is_terminal and not quiet else None

    def say(line: str) -> None:
        if status is not None:
            status.update(line[:150])
        elif not quiet and ": build: " not in line:  # no terminal: the steps, not every build line
            stderr.out(f"ab: {line}", highlight=False)

    if status is not None:
        status.start()
    try:
        with revision_targets(options.repo, (options.revs[0], options.revs[1]), options.compose_file,
                              options.service, keep=options.keep, base_image=options.base_image,
                              startup_timeout_s=options.startup_timeout_s, say=say, warn=warn) as (a, b):
            if status is not None:
                status.stop()
            if not quiet:
                stderr.out(f"A {a.revision.label()}: {a.url} (stack {a.stack})", highlight=False)
                stderr.out(f"B {b.revision.label()}: {b.url} (stack {b.stack})", highlight=False)
            yield Sides(a.url, b.url, a.revision.label(), b.revision.label(), a.environment(), b.environment())
    finally:
        if status is not None:
            status.stop()
    if options.keep and not quiet:
        stderr.out(f"kept both stacks: hftperf stack down --name {a.stack}; hftperf stack down --name {b.stack}",
                   highlight=False)


def default_out(revs: Sequence[str]) -> Path:
    """``results/<UTC time>-ab-<base>-<head>`` (revision names made file-safe)."""
    safe = ["".join(c if c.isalnum() or c in "._-" else "-" for c in rev) for rev in revs]
    return Path("results") / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-ab-{'-'.join(safe)}"


def _side_run(side: str, rounds: Sequence[AbRound], sides: Sides, started_at: str, interrupted: bool) -> RunResult:
    """One side's rounds as a run (a round per repeat) with what its environment records."""
    env_extra, label = (sides.environment_a, sides.label_a) if side == "a" else (sides.environment_b, sides.label_b)
    results = [replace(getattr(r, side), repeat_index=r.index) for r in rounds]
    environment = collect_environment(getattr(sides, f"url_{side}"), "ab", None, None,
                                      extra={**env_extra, "ab_side": side.upper(), "ab_label": label})
    return build_run_result(f"ab-{side}", environment, results, started_at, utc_now_iso(), interrupted)


def write_ab_results(out: Path, force: bool, rounds: Sequence[AbRound], comparison: Comparison, sides: Sides,
                     started_at: str, interrupted: bool) -> Path:
    """``a/result.json`` and ``b/result.json`` (a round per repeat), ``rounds.json``, ``report.md``."""
    directory = prepare_results_dir(out, force)
    for side in ("a", "b"):
        save_result(_side_run(side, rounds, sides, started_at, interrupted), directory / side)
    try:
        (directory / "rounds.json").write_text(json.dumps(comparison.to_dict(), indent=2) + "\n")
        (directory / "report.md").write_text(render_comparison_markdown(comparison) + "\n")
    except OSError as exc:
        raise DataError(f"cannot write the ab results into {directory}: {exc.strerror or exc}") from None
    return directory


def record_ab_history(url: str, rounds: Sequence[AbRound], sides: Sides, directory: Path | None,
                      started_at: str, repo: Path) -> list[int]:
    """Both sides' measured rounds (warm-up rounds left out) as two history runs (source "ab"), each
    keyed by its revision's commit (a WORKTREE side is no commit: not recorded); the new runs' ids."""
    from hftperf.history import commit_info, record_result

    measured = [r for r in rounds if not r.warmup]
    ids = []
    for side in ("a", "b"):
        env = sides.environment_a if side == "a" else sides.environment_b
        if env.get("revision_worktree"):
            continue  # uncommitted changes are no commit of the history
        commit = commit_info(repo, env.get("revision_commit"))
        run = _side_run(side, measured, sides, started_at, False)
        ids.append(record_result(url, run, directory / side if directory else None, commit, source="ab"))
    return ids
