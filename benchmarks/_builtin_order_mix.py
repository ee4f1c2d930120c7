"""The order mix hftperf had built in before API profiles (kept here only as the benchmark's baseline).

A seeded, realistic order flow for ``POST /orders``: limits around the mid, cancels, markets.

Cancels target this worker's own resting orders, learnt from the gateway's answers (the
order id and status in the 201 body), so the mix exercises the cancel path for real. With no
resting order to cancel yet, a cancel turn becomes a limit order. Same seed, same requests.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from hftperf.loadgen.request import RequestSource, RequestSpec, render_head
from hftperf.scenarios.order_mix import OrderMixParams

__all__ = ["OrderMixFactory", "OrderMixSource"]

_ORDER_ID_RE = re.compile(rb'"order_id":\s*(\d+)')
_RESTING_RE = re.compile(rb'"status":\s*"(new|partially_filled)"')
_MAX_RESTING = 10_000  # remembered resting orders per worker (oldest forgotten first)


@dataclass(frozen=True)
class OrderMixFactory:
    """Picklable description of the flow; each worker process creates its own source."""

    params: OrderMixParams
    seed: int

    def create(self, spec: RequestSpec, worker_index: int, workers: int) -> RequestSource:
        """One source per worker, seeded by (seed, worker) so runs repeat."""
        return OrderMixSource(self.params, spec, random.Random(self.seed * 1_000_003 + worker_index))


class OrderMixSource:
    """Builds order requests and remembers resting order ids from the answers."""

    wants_response_body = True

    def __init__(self, params: OrderMixParams, spec: RequestSpec, rng: random.Random) -> None:
        self.params = params
        self.rng = rng
        total = params.mix.limit + params.mix.cancel + params.mix.market
        self._limit_below = params.mix.limit / total
        self._cancel_below = (params.mix.limit + params.mix.cancel) / total
        # spec.url is the orders collection, e.g. http://127.0.0.1:8080/orders
        self._post_head = render_head(RequestSpec(url=spec.url, method="POST", headers=spec.headers, body=b"{"), None)
        marker = b"/__order_id__"
        delete = render_head(RequestSpec(url=spec.url.rstrip("/") + marker.decode(), method="DELETE",
                                         headers=spec.headers), 0)
        self._delete_prefix, _, self._delete_suffix = delete.partition(marker)
        self.resting: list[int] = []
        self.cancels_sent = 0

    def build(self, index: int) -> bytes:
        """The next request of the mix."""
        draw = self.rng.random()
        if draw >= self._limit_below and draw < self._cancel_below and self.resting:
            position = self.rng.randrange(len(self.resting))
            self.resting[position], self.resting[-1] = self.resting[-1], self.resting[position]
            self.cancels_sent += 1
            return b"%s/%d%s" % (self._delete_prefix, self.resting.pop(), self._delete_suffix)
        p = self.params
        order = {
            "symbol": self.rng.choice(p.symbols),
            "side": self.rng.choice(("buy", "sell")),
            "quantity": self.rng.randint(1, p.max_quantity),
            "client_order_id": f"h{index}",
        }
        if draw >= self._cancel_below:
            order.update(type="market", time_in_force="ioc")
        else:
            order.update(type="limit", time_in_force="gtc",
                         price=p.mid_price + self.rng.randint(-p.price_band, p.price_band))
        body = json.dumps(order, separators=(",", ":")).encode()
        return b"%sContent-Length: %d\r\n\r\n%s" % (self._post_head, len(body), body)

    def observe(self, index: int, status: int, body: bytes) -> None:
        """Remember orders that rest on the book, to cancel them later."""
        if status != 201 or not _RESTING_RE.search(body):
            return
        match = _ORDER_ID_RE.search(body)
        if match:
            if len(self.resting) >= _MAX_RESTING:
                self.resting.pop(0)
            self.resting.append(int(match.group(1)))
