"""Results directories and run data files: never overwrite or mix a previous run's data.

A run writes ``result.json``, one ``.hlog`` per scenario, ``summary.md`` and ``plots/``. A new run
goes into an empty (or new) directory; ``--force`` first removes what an earlier run wrote there, so
the old run's interval logs and plots are never mixed with the new ones (as pyperf refuses to
overwrite a file without ``--replace``). Report output may never land on a run's data files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hftperf.errors import DataError, UsageError

__all__ = ["RUN_DATA_SUFFIXES", "check_not_run_data", "prepare_results_dir", "unique_dir"]

RESULT_FILE = "result.json"
RUN_DATA_SUFFIXES = (".hlog",)
_RUN_OUTPUTS = ("summary.md", "plots")


def is_run_data(path: Path) -> bool:
    """True for a file holding measurements: a ``result.json`` or an interval log."""
    return path.name == RESULT_FILE or path.suffix in RUN_DATA_SUFFIXES


def check_not_run_data(path: Path, flag: str) -> None:
    """UsageError when writing ``path`` would replace a run's measurements (or a directory)."""
    if is_run_data(path):
        raise UsageError(f"{flag} {path}: refusing to write over a run's data ({path.name} holds measurements); "
                         "choose another file name")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; expected a file name")


def _run_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if is_run_data(p) or p.name in _RUN_OUTPUTS]


def prepare_results_dir(directory: Path, force: bool, flag: str = "--out") -> Path:
    """Create ``directory`` for a new run; refuse a non-empty one unless ``force`` (then clear the old run)."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{flag} {directory}: exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        if not force:
            raise UsageError(f"{flag} {directory}: not empty (a previous run's results?); choose a new directory "
                             "or pass --force to replace what the previous run wrote there")
        try:
            for path in _run_files(directory):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        except OSError as exc:
            raise DataError(f"{flag} {directory}: cannot remove the previous run's files: "
                            f"{exc.strerror or exc}") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{flag} {directory}: cannot create it: {exc.strerror or exc}") from None
    return directory


def unique_dir(directory: Path) -> Path:
    """``directory``, or ``directory-2``, ``-3``, ... when it already exists (two runs in one second)."""
    candidate, n = directory, 1
    while candidate.exists():
        n += 1
        candidate = directory.with_name(f"{directory.name}-{n}")
    return candidate
