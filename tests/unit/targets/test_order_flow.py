"""The profile-driven order flow, built and fed answers directly (no network): bytes, ids, counts."""

from __future__ import annotations

import json
from pathlib import Path

import httptools
import pytest

from hftperf.loadgen.request import RequestSpec
from hftperf.targets import compile_profile, load_profile
from hftperf.targets.order_flow import FlowShares, ProfileOrderFactory

PROFILES = Path(__file__).resolve().parents[2] / "data" / "profiles"
SHARES = FlowShares(limit=0.5, market=0.1, cancel=0.3, amend=0.1, symbols=("BTC-USD",), mid_price=10_000,
                    price_band=50, max_quantity=5)


class _Request:
    def __init__(self) -> None:
        self.url = b""
        self.body = b""
        self.headers: dict[bytes, bytes] = {}

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body


def parse(raw: bytes) -> tuple[str, _Request]:
    request = _Request()
    parser = httptools.HttpRequestParser(request)
    parser.feed_data(raw)
    return parser.get_method().decode(), request


@pytest.fixture()
def uuid_source(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("UUID_EXCHANGE_PASSWORD", "pw")
    profile = compile_profile(load_profile(str(PROFILES / "uuid-exchange.toml"), "test"))
    factory = ProfileOrderFactory(profile, SHARES, seed=7, auth_header=("Authorization", "Bearer t0k"))
    return factory.create(RequestSpec(url="http://127.0.0.1:9/"), 0, 1)


def test_requests_are_valid_http_in_the_api_s_spelling(uuid_source) -> None:  # type: ignore[no-untyped-def]
    method, request = parse(uuid_source.build(0))  # nothing rests yet: a submit
    assert method == "POST" and request.url == b"/api/v2/orders"
    body = json.loads(request.body)
    assert body["direction"] in ("BUY", "SELL") and body["kind"] in ("LIMIT", "MARKET")
    assert 99.5 <= float(body["px"]) <= 100.5 and 1 <= body["qty"] <= 5
    assert request.headers[b"authorization"] == b"Bearer t0k" and request.headers[b"x-client"] == b"hftperf"
    assert int(request.headers[b"content-length"]) == len(request.body)


def test_cancels_and_amends_use_the_ids_the_answers_gave(uuid_source) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for index in range(400):
        method, request = parse(uuid_source.build(index))
        tag = uuid_source.tag(index)
        if tag.startswith("submit"):
            assert method == "POST"
            order_id = f"00000000-0000-4000-8000-{index:012d}"
            ids.append(order_id)
            answer = {"data": {"uuid": order_id, "state": "OPEN" if tag == "submit.limit" else "FILLED"}}
            uuid_source.observe(index, 200, json.dumps(answer).encode())
        else:
            assert method == ("DELETE" if tag == "cancel" else "PATCH")
            assert request.url.decode().rsplit("/", 1)[1] in ids
            uuid_source.observe(index, 200, b'{"data":{}}')
    counts = uuid_source.take_counts()
    sent = {k[5:]: v for k, v in counts.items() if k.startswith("sent.")}
    assert sum(sent.values()) == 400
    assert sent["cancel"] > 60 and sent["amend"] > 15  # the asked 30% / 10%, less the early turns with none resting
    assert counts["cancel.ok"] == sent["cancel"] and counts["amend.ok"] == sent["amend"]
    assert counts["outcome.resting"] + counts["outcome.filled"] == sent["submit.limit"] + sent["submit.market"]
    assert uuid_source.take_counts() == {}  # taken: the next interval starts from zero


def test_a_pointer_that_never_matches_is_counted_and_cancels_become_submits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UUID_EXCHANGE_PASSWORD", "pw")
    profile = compile_profile(load_profile(str(PROFILES / "uuid-exchange.toml"), "test"))
    source = ProfileOrderFactory(profile, SHARES, seed=1).create(RequestSpec(url="http://127.0.0.1:9/"), 0, 1)
    for index in range(200):
        source.build(index)
        source.observe(index, 200, b'{"id": "elsewhere", "state": "OPEN"}')
    counts = source.take_counts()
    assert counts["submit.no_id"] == 200 and "sent.cancel" not in counts
    assert counts["cancel_no_resting"] > 40 and counts["amend_no_resting"] > 10


def test_the_reference_profile_builds_the_bundled_stack_s_orders() -> None:
    profile = compile_profile(load_profile("reference", "test"))
    source = ProfileOrderFactory(profile, SHARES, seed=3).create(RequestSpec(url="http://127.0.0.1:9/"), 0, 1)
    method, request = parse(source.build(0))
    body = json.loads(request.body)
    assert method == "POST" and request.url == b"/orders"
    assert set(body) == {"symbol", "side", "type", "time_in_force", "price", "quantity", "client_order_id"}
    source.observe(0, 201, b'{"order_id": 17, "status": "new"}')
    assert source.resting == [b"17"]


def test_the_suite_s_api_applies_to_order_scenarios_without_their_own(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from hftperf.config import load_config
    from hftperf.scenarios import REGISTRY

    monkeypatch.setenv("UUID_EXCHANGE_PASSWORD", "pw")
    config = tmp_path / "suite.toml"
    config.write_text(f'api = "{PROFILES / "uuid-exchange.toml"}"\n[run]\nstack = "none"\ntarget = "http://127.0.0.1:9"\n'
                      '[[scenario]]\nname = "order-latency"\n'
                      '[[scenario]]\nname = "mine"\nkind = "order-latency"\napi = "reference"\n'
                      '[[scenario]]\nname = "health-sequential"\n')
    kinds = {kind: s.params_type for kind, s in REGISTRY.items()}
    scenarios = {s.name: s for s in load_config(config, known_kinds=kinds).scenarios}
    assert scenarios["order-latency"].params["api"] == str(PROFILES / "uuid-exchange.toml")
    assert scenarios["mine"].params["api"] == "reference"
    assert "api" not in scenarios["health-sequential"].params
    inline = tmp_path / "inline.toml"
    inline.write_text('[run]\nstack = "none"\ntarget = "http://127.0.0.1:9"\n[api]\nname = "x"\n'
                      '[api.submit]\npath = "/o"\nordr_id = "/id"\n[[scenario]]\nname = "order-latency"\n')
    with pytest.raises(Exception, match=r"api\.submit\.ordr_id: unknown key"):
        load_config(inline, known_kinds=kinds)


def test_client_order_ids_never_repeat_across_sources_of_one_flow() -> None:
    # two workers of one run, or a capacity step measured again: each source is new, its ids too
    profile = compile_profile(load_profile("reference", "test"))
    factory = ProfileOrderFactory(profile, SHARES, seed=3)
    ids = []
    for worker in (0, 0, 1):
        source = factory.create(RequestSpec(url="http://127.0.0.1:9/"), worker, 2)
        ids += [json.loads(parse(source.build(i))[1].body)["client_order_id"] for i in range(50)]
    assert len(set(ids)) == len(ids) == 150
    assert all(cid.isalnum() and len(cid) <= 20 for cid in ids)
    again = factory.create(RequestSpec(url="http://127.0.0.1:9/"), 0, 2)
    first = factory.create(RequestSpec(url="http://127.0.0.1:9/"), 0, 2)
    strip = [{k: v for k, v in json.loads(parse(s.build(0))[1].body).items() if k != "client_order_id"}
             for s in (again, first)]
    assert strip[0] == strip[1]  # the seeded order itself repeats
