"""The gateway's order micro-batcher against a fake engine stub (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from hftperf.reference_engine.gateway_batch import OrderBatcher
from hftperf.reference_engine.proto import matching_pb2 as pb


class FakeStub:
    """Answers SubmitOrderBatch with one NEW report per order once ``release`` is set."""

    def __init__(self, fail: grpc.aio.AioRpcError | None = None, short: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail, self.short = fail, short

    async def SubmitOrderBatch(self, request: pb.OrderBatch, timeout: float) -> pb.OrderBatchResponse:
        self.batches.append([o.client_order_id for o in request.orders])
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        orders = list(request.orders)[: -1 if self.short else None]
        results = [pb.SubmitOrderResponse(order=pb.OrderReport(client_order_id=o.client_order_id, status=pb.NEW))
                   for o in orders]
        return pb.OrderBatchResponse(results=results, codes=[0] * len(results),
                                     timing=pb.EngineTiming(engine_us=7, store_us=5))


class Link:
    def __init__(self, stub: FakeStub) -> None:
        self.stub: Any = stub


def order(cid: str) -> pb.OrderRequest:
    return pb.OrderRequest(symbol="AAA", side=pb.BUY, type=pb.LIMIT, price_ticks=1, quantity=1, client_order_id=cid)


def test_concurrent_orders_share_one_call_and_keep_their_order() -> None:
    async def main() -> None:
        stub = FakeStub()
        batcher = OrderBatcher(Link(stub), timeout_s=1.0)
        results = await asyncio.gather(*(batcher.submit(order(f"o{i}")) for i in range(5)))
        assert stub.batches == [["o0", "o1", "o2", "o3", "o4"]]
        assert [r.response.order.client_order_id for r in results] == ["o0", "o1", "o2", "o3", "o4"]
        assert all(r.code == 0 and (r.engine_us, r.store_us) == (7, 5) for r in results)
    asyncio.run(main())


def test_a_lone_order_goes_at_once() -> None:
    async def main() -> None:
        stub = FakeStub()
        batcher = OrderBatcher(Link(stub), timeout_s=1.0)
        result = await asyncio.wait_for(batcher.submit(order("solo")), timeout=1.0)
        assert stub.batches == [["solo"]] and result.response.order.client_order_id == "solo"
    asyncio.run(main())


def test_orders_arriving_during_a_call_leave_together_when_it_returns() -> None:
    async def main() -> None:
        stub = FakeStub()
        stub.release.clear()
        batcher = OrderBatcher(Link(stub), timeout_s=1.0, max_inflight=1)
        first = batcher.submit(order("a"))
        await asyncio.sleep(0.01)
        later = [batcher.submit(order(c)) for c in "bcd"]
        await asyncio.sleep(0.01)
        assert stub.batches == [["a"]]  # one call in flight: the others wait
        stub.release.set()
        await asyncio.gather(first, *later)
        assert stub.batches == [["a"], ["b", "c", "d"]]
        assert (batcher.batches_sent, batcher.orders_sent) == (2, 4)
    asyncio.run(main())


def test_inflight_and_batch_size_limits() -> None:
    async def main() -> None:
        stub = FakeStub()
        stub.release.clear()
        batcher = OrderBatcher(Link(stub), timeout_s=1.0, max_inflight=2, max_batch=2)
        futures = [batcher.submit(order(str(i))) for i in range(7)]
        await asyncio.sleep(0.01)
        assert stub.batches == [["0", "1"], ["2", "3"]]
        stub.release.set()
        await asyncio.gather(*futures)
        assert stub.batches == [["0", "1"], ["2", "3"], ["4", "5"], ["6"]]
    asyncio.run(main())


def test_a_failed_call_fails_every_order_of_its_batch_then_the_next_batch_goes() -> None:
    async def main() -> None:
        error = grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")
        stub = FakeStub(fail=error)
        batcher = OrderBatcher(Link(stub), timeout_s=1.0)
        outcomes = await asyncio.gather(*(batcher.submit(order(str(i))) for i in range(3)), return_exceptions=True)
        assert all(o is error for o in outcomes)
        stub.fail = None
        assert (await batcher.submit(order("next"))).code == 0
    asyncio.run(main())


def test_a_short_answer_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        batcher = OrderBatcher(Link(FakeStub(short=True)), timeout_s=1.0)
        outcomes = await asyncio.gather(*(batcher.submit(order(str(i))) for i in range(3)), return_exceptions=True)
        assert all(isinstance(o, RuntimeError) for o in outcomes)
    asyncio.run(main())


def test_a_request_that_went_away_does_not_break_the_batch() -> None:
    async def main() -> None:
        stub = FakeStub()
        batcher = OrderBatcher(Link(stub), timeout_s=1.0)
        gone = batcher.submit(order("gone"))
        kept = batcher.submit(order("kept"))
        gone.cancel()
        assert (await kept).response.order.client_order_id == "kept"
        assert stub.batches == [["gone", "kept"]]  # sent anyway, like a unary call already on the wire
    asyncio.run(main())


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_inflight"):
        OrderBatcher(Link(FakeStub()), timeout_s=1.0, max_inflight=0)
