"""Server-Timing header parsing."""

from __future__ import annotations

from hftperf.loadgen.server_timing import parse_server_timing


def test_parses_named_durations_in_ms() -> None:
    header = b'gateway;dur=1.25, engine;desc="match";dur=0.4, db;dur=0.31, miss, cpu;dur=abc'
    assert parse_server_timing(header) == [("gateway", 1_250_000), ("engine", 400_000), ("db", 310_000)]


def test_ignores_garbage_and_caps_the_number_of_metrics() -> None:
    assert parse_server_timing("") == []
    assert parse_server_timing(";;;,,,=") == []
    assert parse_server_timing("a b;dur=1, x;dur=-1, y;dur=inf") == []
    many = ", ".join(f"m{i};dur=1" for i in range(100))
    assert len(parse_server_timing(many)) == 16
