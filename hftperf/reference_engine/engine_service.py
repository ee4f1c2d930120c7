"""The engine's gRPC service: each RPC validated, matched on the :class:`Exchange`, made durable, answered.

Every accepted order, state change and fill is committed (group commit) before the RPC answers;
a store failure answers UNAVAILABLE, marks the health service NOT_SERVING and starts a recovery
loop that rebuilds the books from the database once it accepts writes again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from hftperf import __version__
from hftperf.reference_engine.book import Fill
from hftperf.reference_engine.engine_books import (
    MAX_CLIENT_ORDER_ID,
    MAX_ORDER_ID,
    Exchange,
    fills_pb,
    report,
    row,
    timing,
)
from hftperf.reference_engine.grpc_guard import Undecodable
from hftperf.reference_engine.proto import matching_pb2 as pb
from hftperf.reference_engine.proto import matching_pb2_grpc as pb_grpc
from hftperf.reference_engine.store import STORE_UNAVAILABLE, LoadedState, OrderRow, Store, StoreError

__all__ = ["SERVICE_NAME", "EngineService"]

log = logging.getLogger("hftperf.engine")

SERVICE_NAME = "hftperf.matching.v1.MatchingEngine"  # also the grpc.health.v1 service name
_OrderReport: Any = pb.OrderReport
# The order's report as matched (what its write makes durable), its fills, its durable write.
_Pending = tuple[pb.OrderReport, list[Fill], "asyncio.Future[int]"]
_StreamItem = tuple[int, pb.OrderRequest, _Pending | str | None]  # t0, request, outcome


class EngineService(pb_grpc.MatchingEngineServicer):
    """RPC handlers over the exchange; all book access happens on the event loop thread."""

    def __init__(self, config: Any, store: Store, state: LoadedState,
                 health_servicer: health.aio.HealthServicer) -> None:
        self.config = config
        self.store = store
        self.health = health_servicer
        self.exchange = Exchange(config.symbols, state)
        self._recovery: asyncio.Task[None] | None = None

    @property
    def index(self) -> dict[int, Any]:
        """Resting orders by id (the exchange's)."""
        return self.exchange.index

    def _execute(self, r: pb.OrderRequest) -> _Pending:
        """Match a valid request in its book and queue its rows for the store.

        The report is taken now, not after the write: by then a later order may have filled
        this one further in memory, in a write that is not durable yet, and an acknowledgement
        must never claim more than the database holds.
        """
        rows: list[OrderRow] = []
        ex = self.exchange.match(r, rows)
        return report(ex.order), ex.fills, self.store.write(rows, ex.fills)

    def _store_failed(self, exc: StoreError) -> None:
        """Enter degraded mode once: NOT_SERVING until the store takes writes again."""
        if self._recovery is None:
            log.error("store failure, rejecting writes until it recovers: %s", exc)
            self._recovery = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        while True:
            await asyncio.sleep(self.config.recovery_interval_s)
            try:
                state = await self.store.recover()
            except StoreError as exc:
                log.warning("store still failing: %s", exc)
                continue
            self.exchange.rebuild(state)
            self._recovery = None
            log.warning("store recovered; books rebuilt from the database")
            await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
            await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
            return

    async def stop_recovery(self) -> None:
        """Cancel a running recovery loop (shutdown)."""
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery

    async def _unavailable(self, context: grpc.aio.ServicerContext, exc: StoreError) -> None:
        self._store_failed(exc)
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"{STORE_UNAVAILABLE}: {exc}")

    async def _acknowledge(self, context: grpc.aio.ServicerContext, t0_ns: int, outcome: Any,
                           waited_from_ns: int) -> pb.SubmitOrderResponse:
        """Wait for the order's durable write, then build its answer (UNAVAILABLE if it failed)."""
        report, fills, durable = outcome
        try:
            store_ns = await durable - waited_from_ns
        except StoreError as exc:
            await self._unavailable(context, exc)
        self.exchange.orders_total += 1
        return pb.SubmitOrderResponse(order=report, fills=fills_pb(fills), timing=timing(t0_ns, store_ns))

    # -- RPCs ------------------------------------------------------------------------------
    async def SubmitOrder(self, request: pb.OrderRequest,
                          context: grpc.aio.ServicerContext) -> pb.SubmitOrderResponse:
        t0 = time.perf_counter_ns()
        problem = self.exchange.invalid(request)
        if problem is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        outcome = self._execute(request)
        return await self._acknowledge(context, t0, outcome, time.perf_counter_ns())

    async def SubmitOrderBatch(self, request: pb.OrderBatch,
                               context: grpc.aio.ServicerContext) -> pb.OrderBatchResponse:
        # One call, one durable write for many orders: the per-call gRPC cost (~240 us CPU
        # on each side) and the store hand-off are paid once per batch, not per order.
        t0 = time.perf_counter_ns()
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        rows: list[OrderRow] = []
        fills: list[Fill] = []
        outcomes: list[pb.SubmitOrderResponse | str] = []
        for r in request.orders:
            problem = self.exchange.invalid(r)
            if problem is not None:
                outcomes.append(problem)
                continue
            ex = self.exchange.match(r, rows)
            if ex.fills:
                fills.extend(ex.fills)
            # Reported as matched, not as it is after the write (see _execute).
            outcomes.append(pb.SubmitOrderResponse(order=report(ex.order), fills=fills_pb(ex.fills)))
        store_ns = 0
        if rows:
            t1 = time.perf_counter_ns()
            try:
                store_ns = await self.store.write(rows, fills) - t1
            except StoreError as exc:
                await self._unavailable(context, exc)
        results: list[pb.SubmitOrderResponse] = []
        codes: list[int] = []
        invalid = grpc.StatusCode.INVALID_ARGUMENT.value[0]
        for r, outcome in zip(request.orders, outcomes, strict=True):
            if isinstance(outcome, str):
                results.append(pb.SubmitOrderResponse(order=_OrderReport(
                    status=pb.REJECTED, reject_reason=outcome, symbol=r.symbol,
                    client_order_id=r.client_order_id[:MAX_CLIENT_ORDER_ID])))
                codes.append(invalid)
            else:
                self.exchange.orders_total += 1
                results.append(outcome)
                codes.append(0)
        return pb.OrderBatchResponse(results=results, codes=codes, timing=timing(t0, store_ns))

    async def SubmitOrders(self, request_iterator: AsyncIterator[pb.OrderRequest],
                           context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[pb.SubmitOrderResponse]:
        # Orders are matched as they arrive and their writes queued at once, so a stream
        # fills whole group-commit batches; responses are sent in order as batches commit.
        # Invalid requests get a REJECTED report instead of ending the stream. A deque and
        # two events, not an asyncio.Queue: this is the engine's highest-rate path.
        pending: collections.deque[_StreamItem] = collections.deque()
        wake, room = asyncio.Event(), asyncio.Event()
        room.set()
        window = self.config.stream_window
        input_done = False

        async def pump() -> None:
            nonlocal input_done
            try:
                async for request in request_iterator:
                    t0 = time.perf_counter_ns()
                    problem = self.exchange.invalid(request) if type(request) is not Undecodable else request.reason
                    if problem is None and self.store.failed is None:
                        pending.append((t0, request, self._execute(request)))
                    else:
                        pending.append((t0, request, problem))
                    wake.set()
                    if len(pending) >= window:
                        room.clear()
                        await room.wait()
            finally:
                input_done = True
                wake.set()

        task = asyncio.create_task(pump())
        try:
            while True:
                if not pending:
                    if input_done:
                        break
                    wake.clear()
                    await wake.wait()
                    continue
                t0, request, outcome = pending.popleft()
                room.set()
                if outcome is None:  # the store failed before this order was matched
                    await self._unavailable(context, self.store.failed or StoreError("failed"))
                    return
                if isinstance(outcome, str):
                    yield pb.SubmitOrderResponse(order=pb.OrderReport(
                        status=pb.REJECTED, reject_reason=outcome, symbol=request.symbol,
                        client_order_id=request.client_order_id[:MAX_CLIENT_ORDER_ID]),
                        timing=timing(t0, 0))
                    continue
                yield await self._acknowledge(context, t0, outcome, t0)
            await task  # surfaces a failed read of the request stream
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def CancelOrder(self, request: pb.CancelOrderRequest,
                          context: grpc.aio.ServicerContext) -> pb.CancelOrderResponse:
        t0 = time.perf_counter_ns()
        if self.store.failed is not None:
            await self._unavailable(context, self.store.failed)
        live = self.exchange.index.get(request.order_id)
        if live is None:  # unknown, or already filled/cancelled: ask the database
            found = await self._lookup(request.order_id, context)
            return pb.CancelOrderResponse(order=report(found[0]), cancelled=False,
                                          timing=timing(t0, 0))
        self.exchange.books[live.symbol].cancel(live.order_id)
        t1 = time.perf_counter_ns()
        try:
            store_ns = await self.store.write([row(live)]) - t1
        except StoreError as exc:
            await self._unavailable(context, exc)
        return pb.CancelOrderResponse(order=report(live), cancelled=True,
                                      timing=timing(t0, store_ns))

    async def _lookup(self, order_id: int, context: grpc.aio.ServicerContext
                      ) -> tuple[OrderRow, list[Fill]]:
        found = None
        try:
            if order_id <= MAX_ORDER_ID:  # beyond int64 no database row can exist (nor be queried)
                found = await self.store.get_order(order_id)
        except StoreError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{STORE_UNAVAILABLE}: {exc}")
            raise  # unreachable: abort raises
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"order_id: no order {order_id}")
            raise AssertionError("unreachable")
        return found

    async def GetOrder(self, request: pb.GetOrderRequest,
                       context: grpc.aio.ServicerContext) -> pb.GetOrderResponse:
        # The database is the source of truth: it holds exactly what was acknowledged.
        row, fills = await self._lookup(request.order_id, context)
        return pb.GetOrderResponse(order=report(row), fills=fills_pb(fills))

    async def GetBook(self, request: pb.GetBookRequest,
                      context: grpc.aio.ServicerContext) -> pb.BookSnapshot:
        book = self.exchange.books.get(request.symbol)
        if book is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"symbol: unknown symbol {request.symbol!r}")
            raise AssertionError("unreachable")
        depth = book.depth(min(request.depth or self.config.default_depth, self.config.max_depth))
        return pb.BookSnapshot(
            symbol=book.symbol, sequence=depth.sequence,
            bids=[pb.PriceLevel(price_ticks=p, quantity=q, order_count=n) for p, q, n in depth.bids],
            asks=[pb.PriceLevel(price_ticks=p, quantity=q, order_count=n) for p, q, n in depth.asks])

    async def Health(self, request: pb.HealthRequest,
                     context: grpc.aio.ServicerContext) -> pb.HealthResponse:
        return pb.HealthResponse(ok=self.store.failed is None, version=__version__,
                                 orders_total=self.exchange.orders_total, symbols=self.config.symbols)
