"""Listen addresses of the reference stack: what counts as loopback, and the warning otherwise."""

from __future__ import annotations

import socket

import pytest

from hftperf.reference_engine.bind import exposure_warning, is_loopback, socket_family, url_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses_need_no_warning(host: str) -> None:
    assert is_loopback(host)
    assert exposure_warning(host, "gateway") is None


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("0.0.0.0", "0.0.0.0 (every interface)"),
        ("::", ":: (every interface)"),
        ("10.1.2.3", "10.1.2.3,"),
        ("fe80::1", "fe80::1,"),
        ("example.internal", "example.internal,"),  # a name may resolve to anything
    ],
)
def test_other_addresses_are_warned_about_in_one_line(host: str, shown: str) -> None:
    assert not is_loopback(host)
    warning = exposure_warning(host, "engine")
    assert warning is not None and "\n" not in warning
    assert warning.startswith(f"the engine listens on {shown}")
    assert "no authentication" in warning


def test_ipv6_literals_get_brackets_and_their_family() -> None:
    assert url_host("::1") == "[::1]" and url_host("[::1]") == "[::1]" and url_host("127.0.0.1") == "127.0.0.1"
    assert socket_family("::1") == socket.AF_INET6 and socket_family("127.0.0.1") == socket.AF_INET
