"""Request bytes and body templates."""

from __future__ import annotations

import json

import pytest

from hftperf.loadgen.request import RequestSpec, parse_http_url, request_builder


def test_static_get_request_bytes() -> None:
    assert request_builder(RequestSpec("http://127.0.0.1:8080/health")) == (
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    )


def test_post_json_gets_content_type_and_length() -> None:
    data = request_builder(RequestSpec("http://h/orders", "POST", (("X-Key", "1"),), b'{"a":1}'))
    assert isinstance(data, bytes)
    head, body = data.split(b"\r\n\r\n")
    assert body == b'{"a":1}'
    assert b"Content-Length: 7" in head and b"Content-Type: application/json" in head
    assert b"X-Key: 1" in head


def test_template_expands_per_request_and_is_repeatable() -> None:
    body = b'{"id":${seq},"qty":${rand:1:5},"side":"${choice:buy|sell}"}'
    spec = RequestSpec("http://h/orders", "POST", body=body, template=True, seed=7)
    build = request_builder(spec, worker_index=1, workers=2)
    assert callable(build)
    first = [build(i) for i in range(50)]
    orders = [json.loads(data.split(b"\r\n\r\n")[1]) for data in first]
    assert [o["id"] for o in orders] == list(range(1, 100, 2))
    assert {o["side"] for o in orders} == {"buy", "sell"}
    assert all(1 <= o["qty"] <= 5 for o in orders)
    again = request_builder(spec, worker_index=1, workers=2)
    assert [again(i) for i in range(50)] == first  # type: ignore[operator]


@pytest.mark.parametrize("url", ["https://h/", "ftp://h/", "http:///x", "http://h:99999/"])
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        parse_http_url(url)


def test_ipv6_host_header() -> None:
    assert parse_http_url("http://[::1]:81/x?y=1").host_header == "[::1]:81"
