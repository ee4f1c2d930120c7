"""The order flow of any order-entry API, driven by its profile: limits around the mid, markets, cancels, amends.

Cancels and amends target this worker's own resting orders, learnt from the answers through the
profile's JSON pointers (``order_id``, ``status``, ``resting``). A cancel or amend turn with no resting
order to act on becomes a limit order, and is *counted* as such (``cancel_no_resting``): the realised
mix is reported against the asked one, never silently replaced. Each request's operation is kept
per request index (a ring, no allocation per request), so latency can be recorded per operation.

Bytes are built from the profile's precompiled segments; a response body is parsed (JSON, then the
pointer) only for the operations that need something from it: submits, when the profile has a
cancel or amend to feed, or states to count.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson

from hftperf.loadgen.request import RequestSource, RequestSpec, render_head
from hftperf.targets.dryrun import format_price
from hftperf.targets.profile import CompiledOperation, CompiledProfile
from hftperf.targets.template import is_safe

__all__ = ["OPERATIONS", "FlowShares", "ProfileOrderFactory", "ProfileOrderSource", "asked_shares"]

OPERATIONS = ("submit.limit", "submit.market", "cancel", "amend")
_LIMIT, _MARKET, _CANCEL, _AMEND = range(4)
_RING = 1 << 16  # in-flight requests per worker are far fewer than this
_MAX_RESTING = 10_000  # remembered resting orders per worker (oldest forgotten first)


@dataclass(frozen=True)
class FlowShares:
    """The asked mix (normalised), the generator's price band and quantities, in the generator's ticks."""

    limit: float
    market: float
    cancel: float
    amend: float
    symbols: tuple[str, ...]
    mid_price: int
    price_band: int
    max_quantity: int

    def normalised(self) -> dict[str, float]:
        """Shares per operation name, summing to 1."""
        total = self.limit + self.market + self.cancel + self.amend
        return {name: share / total for name, share in zip(OPERATIONS, (self.limit, self.market, self.cancel,
                                                                        self.amend), strict=True)}


def asked_shares(profile: CompiledProfile, shares: FlowShares) -> dict[str, float]:
    """The asked share of each operation; one the API lacks (no cancel, no amend) goes to limit orders."""
    asked = shares.normalised()
    for op, present in (("cancel", profile.cancel is not None), ("amend", profile.amend is not None)):
        if not present:
            asked["submit.limit"] += asked[op]
            asked[op] = 0.0
    return asked


@dataclass(frozen=True)
class ProfileOrderFactory:
    """Picklable description of the flow; each worker process creates its own source."""

    profile: CompiledProfile
    shares: FlowShares
    seed: int
    auth_header: tuple[str, str] | None = None  # (name, value) from the login, made once per run

    def create(self, spec: RequestSpec, worker_index: int, workers: int) -> RequestSource:
        """One source per worker, seeded by (seed, worker) so runs repeat."""
        return ProfileOrderSource(self, spec, random.Random(self.seed * 1_000_003 + worker_index))


class ProfileOrderSource:
    """Builds the profile's requests and remembers resting order ids from the answers."""

    wants_response_body = True

    def __init__(self, factory: ProfileOrderFactory, spec: Any, rng: random.Random) -> None:
        profile, shares = factory.profile, factory.shares
        self.profile = profile
        self.rng = rng
        self.shares = shares
        # ${client_order_id} is unique across workers, runs and re-measurements (APIs refuse a repeated
        # one): 8 random hex digits of this source, then the request's index. Not drawn from ``rng``,
        # so the seeded mix, prices and sizes still repeat run for run.
        self._id_prefix = b"h" + os.urandom(4).hex().encode()
        asked = asked_shares(profile, shares)
        self.asked = asked
        bounds, running = [], 0.0
        for name in OPERATIONS:
            running += asked[name]
            bounds.append(running)
        self._bounds = bounds
        header: tuple[str, str] | None = getattr(factory, "auth_header", None)  # a gRPC flow has none
        extra = (header,) if header else ()
        self._heads = {op: self._head(spec, operation, extra) for op, operation in
                       ((_LIMIT, profile.submit), (_CANCEL, profile.cancel), (_AMEND, profile.amend)) if operation}
        self._heads[_MARKET] = self._heads[_LIMIT]
        values = profile.profile.values
        spelled = [values.side["buy"], values.side["sell"], values.type["limit"], values.type["market"],
                   values.time_in_force["limit"], values.time_in_force["market"], *shares.symbols]
        # Every generated value is escaped never: the API's spellings and the symbols are checked once here,
        # numbers need none, and an id from an answer takes the slow path only when it is not plain.
        self._plain = all(is_safe(v) for v in spelled)
        self._side = (values.side["buy"].encode(), values.side["sell"].encode())
        self._type = (values.type["limit"].encode(), values.type["market"].encode())
        self._tif = (values.time_in_force["limit"].encode(), values.time_in_force["market"].encode())
        self._symbols = [s.encode() for s in shares.symbols]
        self._scale = values.price_scale
        low, high = shares.mid_price - shares.price_band, shares.mid_price + shares.price_band
        self._prices = {ticks: format_price(ticks, values.price_scale).encode() for ticks in range(low, high + 1)}
        submit = profile.submit.config
        self._needs_id = profile.cancel is not None or profile.amend is not None
        self._parse_submit = self._needs_id or bool(submit.status and (submit.filled or submit.rejected))
        import jsonpointer  # RFC 6901 parsing (escapes, validation) by the library, once here

        # ... and the walk inline per response: jsonpointer's resolve spends most of its time in ABC
        # isinstance checks, a third of this source's cost per request (profiled).
        self._id_at = tuple(jsonpointer.JsonPointer(submit.order_id).parts) if submit.order_id else None
        self._state_at = tuple(jsonpointer.JsonPointer(submit.status).parts) if submit.status else None
        self._ops = bytearray(_RING)
        self.resting: list[bytes] = []
        self.counts: defaultdict[str, int] = defaultdict(int)

    @staticmethod
    def _head(spec: RequestSpec, operation: CompiledOperation,
              extra: tuple[tuple[str, str], ...]) -> tuple[bytes, bytes, bytes]:
        """(method + space, ' HTTP/1.1' + headers up to Content-Length, operation) pieces around the path."""
        base = spec.target.path.split("?", 1)[0].rstrip("/")
        headers = (*spec.headers, *operation.headers, *extra)
        has_body = bool(operation.body.text)
        if has_body and not any(k.lower() == "content-type" for k, _ in headers):
            headers = (*headers, ("Content-Type", "application/json"))
        head = render_head(RequestSpec(url=spec.url, method=operation.method.decode(), headers=headers,
                                       body=b"{" if has_body else b""), None)
        request_line, _, rest = head.partition(b"\r\n")
        method, _, _ = request_line.partition(b" ")
        return method + b" " + base.encode(), b" HTTP/1.1\r\n" + rest, b""

    def _count(self, key: str) -> None:
        self.counts[key] += 1

    def take_counts(self) -> dict[str, int]:
        """The counters since the last call (sent per operation, outcomes, turns without a resting order)."""
        counts, self.counts = dict(self.counts), defaultdict(int)
        return counts

    def tag(self, index: int) -> str:
        """The operation of request ``index`` (valid while it is in flight)."""
        return OPERATIONS[self._ops[index % _RING]]

    def build(self, index: int) -> bytes:
        """The next request of the mix."""
        op, values = self.next_order(index)
        operation = self.operation(op)
        before, after, _ = self._heads[op]
        if self._plain:
            path, body = operation.path.render_safe(values), operation.body.render_safe(values)
        else:
            text = {k: v.decode() for k, v in values.items()}
            path, body = operation.path.render(text), operation.body.render(text)
        return b"%s%s%sContent-Length: %d\r\n\r\n%s" % (before, path, after, len(body), body)

    def operation(self, op: int) -> CompiledOperation:
        """The profile's operation for an operation index (limit and market orders are submits)."""
        operation = self.profile.submit if op < _CANCEL else (
            self.profile.cancel if op == _CANCEL else self.profile.amend)
        assert operation is not None
        return operation

    def next_order(self, index: int) -> tuple[int, dict[str, bytes]]:
        """Draw request ``index`` of the mix: its operation index and placeholder values (the API's spelling)."""
        draw = self.rng.random()
        bounds = self._bounds
        op = _LIMIT if draw < bounds[0] else _MARKET if draw < bounds[1] else _CANCEL if draw < bounds[2] else _AMEND
        if op in (_CANCEL, _AMEND) and not self.resting:
            self._count(f"{OPERATIONS[op]}_no_resting")
            op = _LIMIT
        self._ops[index % _RING] = op
        self._count(f"sent.{OPERATIONS[op]}")
        p = self.shares
        rng = self.rng
        values = {"seq": b"%d" % index, "symbol": rng.choice(self._symbols),
                  "client_order_id": b"%s%d" % (self._id_prefix, index)}
        if op in (_CANCEL, _AMEND):
            position = rng.randrange(len(self.resting))
            self.resting[position], self.resting[-1] = self.resting[-1], self.resting[position]
            values["order_id"] = self.resting.pop() if op == _CANCEL else self.resting[-1]
        side = rng.random() < 0.5
        values["side"] = self._side[side]
        kind = 1 if op == _MARKET else 0
        values["type"], values["time_in_force"] = self._type[kind], self._tif[kind]
        values["price"] = self._prices[p.mid_price + rng.randint(-p.price_band, p.price_band)]
        values["quantity"] = b"%d" % rng.randint(1, p.max_quantity)
        return op, values

    def observe(self, index: int, status: int, body: bytes) -> None:
        """Count the outcome; remember orders that rest on the book, to cancel or amend them later."""
        op = self._ops[index % _RING]
        if op in (_LIMIT, _MARKET):
            submit = self.profile.submit.config
            if status not in submit.ok_status:
                self._count("submit.failed")
                return
            if not self._parse_submit:
                return
            document = _json(body)
            state = _walk(document, self._state_at) if self._state_at is not None else None
            if state is not None:
                outcome = ("resting" if state in submit.resting else "filled" if state in submit.filled
                           else "rejected" if state in submit.rejected else "other")
                self._count(f"outcome.{outcome}")
            if self._needs_id:
                order_id = _walk(document, self._id_at) if self._id_at is not None else None
                if order_id is None:
                    self._count("submit.no_id")
                elif state is None or not submit.resting or state in submit.resting:
                    self._count("submit.id")
                    if len(self.resting) >= _MAX_RESTING:
                        self.resting.pop(0)
                    text = order_id if isinstance(order_id, str) else (
                        str(order_id) if type(order_id) is int else json.dumps(order_id))
                    if not is_safe(text):
                        self._plain = False  # an id that needs escaping: this worker renders the slow way
                    self.resting.append(text.encode())
                else:
                    self._count("submit.id")
        else:
            operation = self.profile.cancel if op == _CANCEL else self.profile.amend
            assert operation is not None
            self._count(f"{OPERATIONS[op]}.{'ok' if status in operation.config.ok_status else 'failed'}")


def _json(body: bytes) -> object:
    """The parsed answer, None when it is not JSON. orjson: a quarter of the standard parser's time here."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _walk(document: object, parts: tuple[str, ...]) -> object:
    """The value at a parsed JSON pointer (object keys, array indexes); None when absent."""
    node = document
    for part in parts:
        if type(node) is dict:
            node = node.get(part)
        elif type(node) is list and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
