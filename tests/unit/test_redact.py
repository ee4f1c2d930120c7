"""Credential redaction in descriptions of requests and URLs."""

from __future__ import annotations

import pytest

from hftperf.redact import REDACTED, describe_request, is_sensitive, redact_headers, redact_url


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "proxy-authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
        "x-auth-token",
        "X-Upstream-Token",
        "client_secret",
        "X-Password",
        "apikey",
    ],
)
def test_credential_like_names_are_sensitive(name: str) -> None:
    assert is_sensitive(name)


@pytest.mark.parametrize("name", ["Content-Type", "Accept", "X-Request-Id", "User-Agent", "Host", "X-Venue"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not is_sensitive(name)


def test_configured_names_are_redacted_whatever_their_case() -> None:
    headers = [("X-Desk", "fx-1"), ("Authorization", "Bearer abc"), ("x-tenant", "acme")]
    assert redact_headers(headers, extra=["X-Tenant"]) == {
        "X-Desk": "fx-1",
        "Authorization": REDACTED,
        "x-tenant": REDACTED,
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/orders", "http://127.0.0.1:8080/orders"),
        ("http://alice:hunter2@127.0.0.1:8080/x", "http://[redacted]@127.0.0.1:8080/x"),
        ("http://tok@[::1]/x", "http://[redacted]@[::1]/x"),
        ("http://h/x?venue=1&api_key=s3cr3t&token=t", "http://h/x?venue=1&api_key=[redacted]&token=[redacted]"),
        ("http://h/x?venue=1", "http://h/x?venue=1"),
    ],
)
def test_urls_lose_userinfo_and_secret_query_values(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_an_unparsable_url_still_loses_its_userinfo() -> None:
    assert "hunter2" not in redact_url("http://alice:hunter2@host:99999/")


def test_describe_request() -> None:
    described = describe_request("POST", "http://u:p@h:1/o?key=1", [("Cookie", "c=1"), ("Accept", "*/*")])
    assert described == {
        "method": "POST",
        "url": "http://[redacted]@h:1/o?key=1",
        "headers": {"Cookie": REDACTED, "Accept": "*/*"},
    }
