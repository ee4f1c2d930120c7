"""Parse W3C ``Server-Timing`` headers into named durations (ns), off the hot path of plain runs.

``Server-Timing: gateway;dur=1.25, engine;dur=0.4;desc="match", db;dur=0.31`` →
``[("gateway", 1_250_000), ("engine", 400_000), ("db", 310_000)]``. Metrics without ``dur``
and malformed entries are skipped: the header is advisory, never an error of the request.
"""

from __future__ import annotations

__all__ = ["parse_server_timing"]

_MAX_METRICS = 16  # a hostile header cannot make us record thousands of histograms


def parse_server_timing(value: bytes | str) -> list[tuple[str, int]]:
    """Return ``(name, duration_ns)`` pairs for every metric with a valid ``dur`` (milliseconds)."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    metrics: list[tuple[str, int]] = []
    for entry in text.split(","):
        name, *params = entry.split(";")
        name = name.strip()
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            continue
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() != "dur":
                continue
            try:
                duration_ms = float(raw.strip().strip('"'))
            except ValueError:
                break
            if duration_ms >= 0 and duration_ms == duration_ms and duration_ms != float("inf"):
                metrics.append((name, int(duration_ms * 1e6)))
            break
        if len(metrics) >= _MAX_METRICS:
            break
    return metrics
