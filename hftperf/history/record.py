"""Turn a results directory into history rows: the commit, the machine, the config, every metric's samples.

The samples are those ``compare`` would use (per repeat with ``--repeat``, else per ~1 s window of
the interval log, else the single value), so statistics on the history can be redone later
exactly as a comparison would do them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftperf.compare.samples import choose_source, scenario_samples
from hftperf.environment import utc_now_iso
from hftperf.result import RunResult, ScenarioResult

__all__ = ["CommitInfo", "commit_info", "config_hash", "machine_fingerprint", "run_rows"]

_MACHINE_KEYS = ("cpu_model", "cpu_count", "machine", "kernel", "hftperf_version")


@dataclass(frozen=True)
class CommitInfo:
    """The target's revision: commit id, committer time, subject and branch (each may be unknown)."""

    sha: str | None = None
    time: int | None = None
    subject: str | None = None
    branch: str | None = None


def _git(repo: Path, *args: str) -> str | None:
    from hftperf.environment import _run_quietly

    return _run_quietly(["git", *args], repo)


def commit_info(repo: Path, commit: str | None = None, branch: str | None = None) -> CommitInfo:
    """The commit (``commit`` resolved in ``repo``, else the repo's HEAD) with its time and subject.

    A ``commit`` that is not a revision of ``repo`` (or no repo at all) is kept as given, untimed.
    """
    revision = commit or "HEAD"
    sha = _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if sha is None:
        return CommitInfo(sha=commit, branch=branch)
    shown = _git(repo, "show", "-s", "--format=%ct%x00%s", sha) or ""
    time_text, _, subject = shown.partition("\x00")
    if branch is None and commit is None:
        current = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
        branch = current if current and current != "HEAD" else None
    return CommitInfo(sha=sha, time=int(time_text) if time_text.isdigit() else None, subject=subject or None,
                      branch=branch)


def _short_hash(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()[:12]


def machine_fingerprint(environment: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(fingerprint, what it hashes): CPU model, cores, architecture, kernel and hftperf version."""
    machine = {key: environment.get(key) for key in _MACHINE_KEYS}
    return _short_hash(machine), machine


def config_hash(run: RunResult) -> str:
    """The suite as run: the config file's hash, duration scale, repeats and the scenarios' names."""
    env = run.environment
    names = sorted({s.name for s in run.scenarios})
    return _short_hash([env.get("config_sha256"), env.get("duration_scale"), env.get("repeat"), names])


def _by_name(run: RunResult) -> dict[str, list[ScenarioResult]]:
    grouped: dict[str, list[ScenarioResult]] = {}
    for scenario in run.scenarios:
        grouped.setdefault(scenario.name, []).append(scenario)
    return grouped


def run_rows(run: RunResult, results_dir: Path | None, commit: CommitInfo, source: str = "run",
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run row and its metric rows, ready for ``HistoryStore.add_run``."""
    machine, machine_doc = machine_fingerprint(run.environment)
    row = {
        "recorded_at": utc_now_iso(), "source": source, "label": run.label,
        "commit_sha": commit.sha, "commit_time": commit.time, "commit_subject": commit.subject,
        "branch": commit.branch, "machine": machine, "machine_json": json.dumps(machine_doc, sort_keys=True),
        "config_hash": config_hash(run), "hftperf_version": run.environment.get("hftperf_version"),
        "results_dir": str(results_dir) if results_dir is not None else None,
    }
    metrics = []
    for name, results in _by_name(run).items():
        sample_source = choose_source(results, results)
        samples = scenario_samples(results, sample_source, results_dir)
        for metric, per_run in samples.per_run.items():
            values = samples.values.get(metric) or per_run
            if not per_run and not values:
                continue
            metrics.append({
                "scenario": name, "kind": results[0].kind, "metric": metric,
                "value": statistics.median(per_run) if per_run else statistics.median(values),
                "sample_source": sample_source if samples.values.get(metric) else "single",
                "samples": [float(v) for v in values],
            })
    return row, metrics
