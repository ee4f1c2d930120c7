"""``grpc``: any method of any gRPC service, unary or streaming, requests from a JSON template (like ghz).

Descriptors come from the server's reflection (default), ``.proto`` files or a protoset (see
:mod:`hftperf.targets.grpc_schema`); the JSON request is converted with protobuf's ``json_format``.
Conversion is paid once per distinct request, not per call: a template without ``${seq}`` or feed
columns is rendered and serialized before the run (up to 65,536 distinct seeded requests, cycled),
so the hot path only indexes a tuple of bytes. With ``${seq}`` or a feed, each request is built
when it is due, in the worker (see :mod:`hftperf.scenarios.grpc_requests`). Open loop with
``rate``, closed loop without. The streaming kind is the method's: server streaming measures the
first and last message (``op.first_message`` / ``op.last_message``) and messages/s; client streaming
sends ``messages`` per call; bidi sends each request message on one of ``streams`` long-lived
streams, its latency up to its own answer (matched by ``correlate``, else in order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hftperf.config import ScenarioConfig, StageConfig, param, stages_param
from hftperf.errors import ConfigError
from hftperf.loadgen import GrpcRequestSpec, LoadResult, RequestCycle, grpc_plan, run_load
from hftperf.loadgen.grpc_spec import GrpcTls
from hftperf.scenarios.base import RunContext, ScenarioOutcome, plan_stages, stage_figures
from hftperf.scenarios.grpc_requests import CorrelatedRequests, TemplateRequests, correlation
from hftperf.targets.grpc_schema import MethodSchema, from_proto_files, from_protoset, from_reflection
from hftperf.targets.http_flow import read_feed
from hftperf.targets.template import GENERATED, compile_template

__all__ = ["GrpcCall", "GrpcCallParams", "TemplateRequests"]

_MAX_DISTINCT = 1 << 16


@dataclass(frozen=True)
class GrpcCallParams:
    """``grpc`` keys."""

    method: str = ""  # "package.Service/Method"
    request: str = "{}"  # JSON template of the request message
    metadata: Mapping[str, str] = field(default_factory=dict)  # ${env:NAME} allowed
    rate_per_s: float | None = param(key="rate", unit="rate_per_s", default=None)  # None: closed loop
    stages: tuple[StageConfig, ...] = stages_param()  # open loop in stages, instead of rate and duration
    concurrency: int = param(default=16, min=1)  # calls (bidi: request messages) in flight at most
    channels: int = param(default=1, min=1)
    timeout_s: float = param(key="timeout", unit="duration_s", default=5.0, min=0.001)  # deadline (bidi: per message)
    streams: int = param(default=1, min=1)  # bidi: long-lived streams the messages are spread over
    messages: int = param(default=10, min=1)  # client streaming: request messages per call
    correlate: str | None = None  # bidi: request field whose value the answer echoes
    correlate_response: str | None = None  # bidi: its path in the answer ("order.client_order_id"), if not found
    protos: tuple[str, ...] = ()  # .proto files (else reflection)
    import_paths: tuple[str, ...] = ()
    protoset: str | None = None
    feed: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    max_message_size: int = param(default=4 * 1024 * 1024, min=1024)  # bytes, both directions

    def __post_init__(self) -> None:
        if self.stages and self.rate_per_s is not None:
            raise ValueError("stages: not together with rate (the stages give the rates)")
        if not self.method:
            raise ValueError("method: expected 'package.Service/Method'")
        if self.protos and self.protoset:
            raise ValueError("protos and protoset: give one of them (or neither, for reflection)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file: mutual TLS needs both")
        if (self.ca_file or self.cert_file or self.server_name) and not self.tls:
            raise ValueError("ca_file, cert_file and server_name need tls = true")


def _schema(params: GrpcCallParams, target: str, credentials: Any | None) -> MethodSchema:
    if params.protoset:
        return from_protoset(Path(params.protoset), params.method)
    if params.protos:
        return from_proto_files([Path(p) for p in params.protos], [Path(p) for p in params.import_paths],
                                params.method)
    return from_reflection(target, params.method, credentials)


def _read(path: str | None, key: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key} {path}: cannot read: {exc.strerror or exc}") from None


def _tls(params: GrpcCallParams) -> GrpcTls | None:
    if not params.tls:
        return None
    return GrpcTls(_read(params.ca_file, "ca_file"), _read(params.key_file, "key_file"),
                   _read(params.cert_file, "cert_file"), params.server_name)


class GrpcCall:
    """Calls (or stream messages) of one method of any gRPC service."""

    kind = "grpc"
    summary = ("any method of any gRPC service, unary or streaming (reflection, .proto or protoset), "
               "JSON request templates")
    params_type = GrpcCallParams
    protocols = frozenset({"grpc"})

    def run(self, config: ScenarioConfig, params: GrpcCallParams, context: RunContext) -> ScenarioOutcome:
        """Call the method for the scenario's duration."""
        if context.grpc_target is None:
            raise ConfigError(f"{config.name}: needs a gRPC target (--grpc-target HOST:PORT)")
        import grpc

        tls = _tls(params)
        credentials = (grpc.ssl_channel_credentials(tls.root_certificates, tls.private_key, tls.certificate_chain)
                       if tls is not None else None)
        schema = _schema(params, context.grpc_target, credentials)
        if params.correlate and schema.streaming != "bidi":
            raise ConfigError(f"{config.name}.correlate: method {schema.path} is {schema.streaming}, "
                              "correlate matches answers on bidi streams")
        bidi = schema.streaming == "bidi"
        correlate = None
        if bidi and params.correlate:  # checked before the template: the method's shape first
            number, delimited, correlate = correlation(schema, params.correlate, params.correlate_response,
                                                       config.name)
        request = _requests(config, params, schema)
        if correlate is not None:
            request = CorrelatedRequests(request, number, delimited)
        size = params.max_message_size
        options = (*context.grpc_channel_options, ("grpc.max_receive_message_length", size),
                   ("grpc.max_send_message_length", size))
        workers = min(context.workers or 1, params.concurrency, params.streams if bidi else params.concurrency)
        spec = GrpcRequestSpec(target=context.grpc_target, method=schema.path, request=request,
                               channel_options=options, channels=params.channels, metadata=metadata_of(config, params),
                               tls=tls, streaming=schema.streaming, messages=params.messages,
                               streams=max(1, params.streams // workers), correlate=correlate,
                               deadline_s=None if bidi else params.timeout_s)
        # The gRPC deadline ends a call; the plan's timeout is the backstop a little later (bidi: per message).
        plan_timeout_s = params.timeout_s if bidi else params.timeout_s + max(0.05, params.timeout_s / 5)
        plan = grpc_plan(spec, connections=params.concurrency, rate_per_s=params.rate_per_s,
                         stages=plan_stages(params.stages),
                         warmup_s=config.warmup_s, duration_s=config.duration_s, timeout_s=plan_timeout_s,
                         workers=workers)
        result = run_load(plan, context.on_interval, executor=context.executor)
        kind = "open-loop" if plan.open_loop else "closed-loop"
        figures = {"method": schema.path, "streaming": schema.streaming, **_message_rates(result),
                   **stage_figures(result)}
        return ScenarioOutcome(kind=kind, load=result, interrupted=result.interrupted, figures=figures)


def metadata_of(config: ScenarioConfig, params: GrpcCallParams) -> tuple[tuple[str, str], ...]:
    """The metadata pairs, ``${env:NAME}`` resolved (lower-case keys, as gRPC requires)."""
    try:
        return tuple((k.lower(), compile_template(v, (), f"{config.name}.metadata.{k}", secrets=set())
                      .render({}).decode()) for k, v in params.metadata.items())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _requests(config: ScenarioConfig, params: GrpcCallParams, schema: MethodSchema) -> Any:
    """Request bytes, a seeded cycle of them, or a per-request builder (see the module docstring)."""
    from google.protobuf import json_format

    feed = read_feed(Path(params.feed)) if params.feed else ()
    try:
        template = compile_template(params.request, {"seq", *(feed[0] if feed else ())}, f"{config.name}.request",
                                    secrets=set())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    requests = TemplateRequests(schema, template, feed, config.seed)
    try:
        first = requests(0)  # a template that does not fit the message fails now, naming the field
    except json_format.ParseError as exc:
        raise ConfigError(f"{config.name}.request: does not fit {schema.input_type}: {exc}") from None
    if "seq" in template.names or feed:
        return requests
    if not any(n.startswith(GENERATED) for n in template.names):
        return first
    per_call = params.messages if schema.streaming == "client" else 1
    peak_rate = max([s.rate_per_s for s in params.stages], default=params.rate_per_s or 1000.0)
    expected = int(peak_rate * per_call * (config.warmup_s + config.duration_s)) + 1
    return RequestCycle(tuple(requests(i) for i in range(min(expected, _MAX_DISTINCT))))


def _message_rates(result: LoadResult) -> dict[str, float]:
    """Streams: messages per second each way over the measured period (from the transport's counts)."""
    span_s = result.duration_s or 1.0
    return {f"{name}_per_s": round(count / span_s, 1) for name, count in result.counts.items()
            if name.startswith("messages_")}
