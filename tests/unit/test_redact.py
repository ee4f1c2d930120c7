"""Credential redaction: request descriptions, URLs, free text, documents and error messages."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hftperf.errors import ConfigError, UsageError
from hftperf.params import describe_value
from hftperf.redact import (
    REDACTED,
    describe_request,
    is_sensitive,
    redact_data,
    redact_headers,
    redact_text,
    redact_url,
)


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


# -- free text, documents, and the places that use them -------------------------------------

@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("URL: invalid port in URL 'http://u:hunter2@127.0.0.1:99999/?token=abc123'", "hunter2"),
        ("URL: invalid port in URL 'http://u:hunter2@127.0.0.1:99999/?token=abc123'", "abc123"),
        ("invalid port in URL '127.0.0.1:99999/?token=abc123'", "abc123"),  # the scheme already cut off
        ("a http://u:pa/ss@h:1/x?a=1 b", "pa/ss"),  # a '/' inside the password
        ("got 'http://[::1/x?api%5Fkey=zz9'", "zz9"),  # unparsable host, percent-encoded name
        ("see http://h/cb#access_token=qq7&x=1", "qq7"),
        ("grpc target bob:s3cret@127.0.0.1:50051", "s3cret"),
        ("PostgreSQL postgresql://bob:s3cret@db:5432/x: connection refused", "s3cret"),
        ("dsn 'host=db password=s3cret dbname=x'", "s3cret"),
        ("GET /health HTTP/1.1\nAuthorization: Bearer s3cret\nX-Api-Key: k3y\n", "s3cret"),
        ("GET /health HTTP/1.1\nAuthorization: Bearer s3cret\nX-Api-Key: k3y\n", "k3y"),
        ('template {"user": "bob", "password": "s3c\\"ret"}', 's3c'),  # a JSON body quoted in a message
        ("headers {'Authorization': 'Bearer s3cret', 'Accept': '*/*'}", "s3cret"),  # a dict's repr
    ],
)
def test_free_text_loses_every_credential(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert REDACTED in redact_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "p99 < 50ms",
        "cannot connect to 127.0.0.1:8080 (connection refused)",
        "http://127.0.0.1:8080/health?venue=x",
        "http://h/path@with-at",  # '@' in a path is not userinfo
        "mail me@example.com at 19:50",
        "scenario[0].rate: expected a rate such as '1000/s', got 'fast'",
        "Docker daemon not reachable at unix:///run/docker.sock; start it",  # kept as written
        "http://h:1/x?",
    ],
)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


def test_custom_names_are_redacted_in_text_and_queries() -> None:
    assert redact_text("X-Desk-Pin: 4711", ["x-desk-pin"]) == f"X-Desk-Pin: {REDACTED}"
    assert redact_url("http://h/?desk_pin=4711&v=1", ["desk_pin"]) == f"http://h/?desk_pin={REDACTED}&v=1"


def test_redact_url_keeps_the_query_text_as_written() -> None:
    assert redact_url("http://h/x?q=a+b%20c&token=t&flag") == f"http://h/x?q=a+b%20c&token={REDACTED}&flag"


_SECRET = st.text(string.ascii_letters + string.digits + "-_.~!$*", min_size=6, max_size=20)


@given(password=_SECRET, token=_SECRET, port=st.integers(min_value=0, max_value=999999))
def test_no_url_shape_leaks_its_password_or_token(password: str, token: str, port: int) -> None:
    url = f"http://alice:{password}@127.0.0.1:{port}/health?venue=x&token={token}"
    for rendered in (redact_url(url), redact_text(f"got {url!r}"), redact_text(url.removeprefix("http://"))):
        assert f":{password}@" not in rendered and f"token={token}" not in rendered


def test_redacting_twice_changes_nothing() -> None:
    text = "http://u:p@h:1/?token=t Authorization: Bearer x password=y"
    assert redact_text(redact_text(text)) == redact_text(text)


def test_documents_lose_string_credentials_but_keep_figures() -> None:
    document = {
        "environment": {"target": "http://u:s3cret@h:1", "grpc_target": "u:s3cret@h:2"},
        "request": {"headers": {"Authorization": "Bearer s3cret", "Accept": "*/*"}},
        "server_timing_us": {"auth": {"p50": 12.0}},  # a figure whose name has a credential word
        "password": "s3cret",
        "steps": [{"url": "http://h/?token=s3cret"}],
    }
    redacted = redact_data(document)
    assert "s3cret" not in repr(redacted)
    assert redacted["server_timing_us"] == {"auth": {"p50": 12.0}}
    assert redacted["request"]["headers"]["Accept"] == "*/*"


def test_every_hftperf_error_message_is_redacted() -> None:
    for error in (UsageError("URL: got 'http://u:s3cret@h:1/?token=t0k'"), ConfigError("db 'postgres://u:s3cret@h'")):
        assert "s3cret" not in str(error) and "t0k" not in str(error) and "s3cret" not in repr(error.args)


def test_a_wrong_type_under_a_credential_key_is_not_quoted() -> None:
    assert "98765012" not in describe_value(98765012, "f.toml: scenario[0].request.headers.X-Api-Key")
    assert "4711" not in describe_value(4711, "f.toml: scenario[0].request.headers.X-Desk-Pin")  # any header
    assert describe_value(5, "f.toml: scenario[0].connections") == "5"


@pytest.mark.parametrize("text", ["a:" * 100_000 + "@h", "x=1&" * 50_000 + "@", "ab:cd" * 40_000 + "@h"])
def test_redaction_time_is_linear_in_the_text(text: str) -> None:
    """A log or a long word must not stall output: with unbounded patterns these took tens of seconds."""
    import time

    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 5.0
