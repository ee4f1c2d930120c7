"""``hftperf load``: ad-hoc load against one URL (work in progress)."""

from __future__ import annotations


def load() -> None:
    """Placeholder replaced by the load command implementation."""
    raise NotImplementedError
