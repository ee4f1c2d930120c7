"""What a test does with a verdict the tool itself calls inconclusive (its load generator was starved).

On a shared, busy machine hftperf may say it could not measure (exit 3): that is reported loudly
(a skip with the tool's own words in the test report), not a test failure. Any other exit code is
asserted as usual by the caller.
"""

from __future__ import annotations

import subprocess

import pytest

from hftperf.errors import ExitCode

__all__ = ["skip_if_inconclusive"]


def skip_if_inconclusive(done: subprocess.CompletedProcess[str]) -> None:
    """Skip, quoting the tool, when ``done`` exited 3 (inconclusive: instrument starved)."""
    if done.returncode == ExitCode.INCONCLUSIVE:
        said = [ln for ln in (done.stdout + done.stderr).splitlines() if "INCONCLUSIVE" in ln.upper()]
        pytest.skip("INCONCLUSIVE (instrument starved on a busy machine): " + " | ".join(said[-3:])[:400])
