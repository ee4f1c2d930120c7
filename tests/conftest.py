"""Shared pytest fixtures for the whole test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_hlog_candidates() -> list[Path]:
    """Where the shared interval-log test data may live, in order of preference."""
    if env := os.environ.get("HFTPERF_SHARED_TESTDATA"):
        # an explicit setting wins; accept the hlog folder itself or the testdata folder above it
        return [Path(env) / "hlog", Path(env)] if (Path(env) / "hlog").is_dir() else [Path(env)]
    return [REPO_ROOT.parent / "shared" / "testdata" / "hlog", Path("/work/shared/testdata/hlog")]


@pytest.fixture(scope="session")
def shared_hlog_dir() -> Path:
    """Directory of .hlog files written by other HdrHistogram tools (skips if absent)."""
    candidates = _shared_hlog_candidates()
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    pytest.skip(f"shared HdrHistogram test logs not found (set HFTPERF_SHARED_TESTDATA); tried {tried}")
