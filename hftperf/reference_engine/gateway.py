"""HTTP gateway of the reference stack: FastAPI on uvicorn in front of the gRPC matching engine.

Each worker holds ONE long-lived ``grpc.aio`` channel to the engine (keepalive configurable)
and a background health probe, so ``GET /health`` never calls the engine. Every response
carries ``Server-Timing: gateway;dur=..., engine;dur=..., db;dur=...`` (milliseconds).

Routes are plain Starlette routes on the FastAPI app with hand-written validation and
``json``: FastAPI's pydantic request/response models cost more than the whole rest of the
handler at these rates (see benchmarks/reference_stack.py). ``POST /orders`` and
``GET /health`` are served by a hand-written ASGI fast path in front of the app, with the same
functions (:mod:`.gateway_orders`), and concurrent orders share ``SubmitOrderBatch`` calls
(:mod:`.gateway_batch`): a unary call per order cost more CPU than everything else it needs.

Run: ``python -m hftperf.reference_engine.gateway --port 8080 --engine 127.0.0.1:50051``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import os
import sys
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning
from hftperf.reference_engine.gateway_link import EngineLink, GatewayConfig
from hftperf.reference_engine.gateway_orders import MAX_BODY_BYTES, FastPath
from hftperf.reference_engine.gateway_routes import GatewayRoutes

__all__ = ["MAX_BODY_BYTES", "GatewayConfig", "app_from_env", "create_app", "main", "serve"]

_ENV_KEY = "HFTPERF_GATEWAY_CONFIG"


def create_app(config: GatewayConfig) -> ASGIApp:
    """Build the gateway app; its lifespan opens and closes the engine channel.

    The FastAPI app serves every route; unless ``config.starlette_only``, :class:`FastPath`
    in front of it serves ``POST /orders`` and ``GET /health`` with the same functions.
    """
    routes = GatewayRoutes()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        routes.link = EngineLink(config)
        await routes.link.start()
        # Everything alive now (modules, app, channel) lives as long as the worker: keep it out
        # of the cyclic GC, whose full passes over it stalled every request for 15-35 ms (p99).
        gc.freeze()
        try:
            yield
        finally:
            await routes.link.close()

    app = FastAPI(title="hftperf gateway", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_route("/health", routes.health, methods=["GET"], include_in_schema=False)
    app.add_route("/orders", routes.submit_order, methods=["POST"], include_in_schema=False)
    app.add_route("/orders/{order_id}", routes.get_order, methods=["GET"], include_in_schema=False)
    app.add_route("/orders/{order_id}", routes.cancel_order, methods=["DELETE"], include_in_schema=False)
    app.add_route("/book/{symbol}", routes.get_book, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(StarletteHTTPException, routes.http_error)
    app.add_exception_handler(Exception, routes.http_error)
    if config.starlette_only:
        return app
    return FastPath(app, routes.place_order, routes.health_status)



def app_from_env() -> ASGIApp:
    """uvicorn factory for worker processes: the config travels in an environment variable."""
    return create_app(GatewayConfig.from_env(os.environ.get(_ENV_KEY)))


def serve(config: GatewayConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1) -> None:
    """Run uvicorn (uvloop, httptools, no access log) with ``workers`` processes; blocks."""
    import uvicorn

    os.environ[_ENV_KEY] = config.to_env()
    uvicorn.run(
        "hftperf.reference_engine.gateway:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        log_level="info",
        backlog=4096,
        timeout_graceful_shutdown=5,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hftperf.reference_engine.gateway", description=__doc__.splitlines()[0])
    p.add_argument("--host", default=DEFAULT_HOST, help="listen address (default: loopback only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--engine", default=GatewayConfig.engine_target, help="engine gRPC target host:port")
    p.add_argument("--workers", type=int, default=1)
    for field in dataclasses.fields(GatewayConfig):  # one flag per tuning knob, same name
        if field.name != "engine_target":
            flag = "--" + field.name.replace("_", "-")
            if field.type in ("bool", bool):
                p.add_argument(flag, action="store_true")
            else:
                p.add_argument(flag, type=int, default=field.default)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Process entry point: parse flags and serve until SIGTERM/SIGINT."""
    args = vars(_parser().parse_args(argv))
    host, port, workers, target = args.pop("host"), args.pop("port"), args.pop("workers"), args.pop("engine")
    if (warning := exposure_warning(host, "gateway")) is not None:
        print(f"gateway: warning: {warning}", file=sys.stderr, flush=True)
    serve(GatewayConfig(engine_target=target, **args), host=host, port=port, workers=workers)


if __name__ == "__main__":
    main()
