"""Micro-batching of ``POST /orders`` at the gateway: many orders, one engine call.

A gRPC unary call costs ~240 µs of CPU on each side on the reference machine, more than
everything else an order costs. The batcher sends the orders of concurrent requests as ONE
``SubmitOrderBatch`` call, group-commit style: an order that finds a free call slot goes out
on the next event-loop turn (together with whatever the same turn parsed), and orders that
arrive while every slot is busy wait and leave together when one frees up. There is no timer,
so a lone order at low load is not delayed; under load the batch grows by itself.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple, Protocol

import grpc

from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc

__all__ = ["BatchResult", "OrderBatcher", "StubHolder"]


class BatchResult(NamedTuple):
    """One order's answer from a batch: its response, gRPC code (0 = OK) and batch timing."""

    response: pb.SubmitOrderResponse
    code: int
    engine_us: int
    store_us: int


class StubHolder(Protocol):
    """What the batcher needs of the gateway's engine link: its current stub."""

    stub: pb_grpc.MatchingEngineStub


_Waiter = tuple[pb.OrderRequest, "asyncio.Future[BatchResult]"]


class OrderBatcher:
    """Collects orders of one gateway worker into ``SubmitOrderBatch`` calls.

    ``stub`` is looked up on every call (the link may swap channels); ``max_inflight``
    bounds concurrent batch calls, ``max_batch`` the orders in one call. A failed call fails
    every order of its batch with the call's ``grpc.aio.AioRpcError``.
    """

    def __init__(self, link: StubHolder, timeout_s: float, max_inflight: int = 1,
                 max_batch: int = 256) -> None:
        """Prepare an empty queue; nothing is sent until :meth:`submit`."""
        if max_inflight < 1 or max_batch < 1:
            raise ValueError("max_inflight and max_batch must be >= 1")
        self._link = link
        self._timeout_s = timeout_s
        self._max_inflight = max_inflight
        self._max_batch = max_batch
        self._queue: list[_Waiter] = []
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while in flight
        self.batches_sent = 0
        self.orders_sent = 0

    def submit(self, order: pb.OrderRequest) -> asyncio.Future[BatchResult]:
        """Queue one order; the future resolves with its result (or the call's error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[BatchResult] = loop.create_future()
        self._queue.append((order, future))
        if not self._scheduled and self._inflight < self._max_inflight:
            # call_soon, not now: the other requests parsed in this loop turn join the batch.
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        loop = asyncio.get_running_loop()
        while self._queue and self._inflight < self._max_inflight:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self._inflight += 1
            task = loop.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[_Waiter]) -> None:
        try:
            request = pb.OrderBatch(orders=[order for order, _ in batch])
            self.batches_sent += 1
            self.orders_sent += len(batch)
            try:
                reply = await self._link.stub.SubmitOrderBatch(request, timeout=self._timeout_s)
            except grpc.aio.AioRpcError as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            except BaseException as exc:  # cancelled at shutdown, or a bug: never hang a request
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                raise
            engine_us, store_us = reply.timing.engine_us, reply.timing.store_us
            results, codes = reply.results, reply.codes
            if len(results) != len(batch) or len(codes) != len(batch):
                error = RuntimeError(f"engine answered {len(results)} results for {len(batch)} orders")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                return
            for (_, future), result, code in zip(batch, results, codes, strict=True):
                if not future.done():  # the request may have gone away
                    future.set_result(BatchResult(result, code, engine_us, store_us))
        finally:
            self._inflight -= 1
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
