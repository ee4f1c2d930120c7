"""The order flow of a gRPC-only order-entry API (``[api] protocol = "grpc"``): the profile's submit,
cancel and amend methods called with JSON request templates, answers read through JSON pointers.

The mix, prices and resting-order bookkeeping are :class:`~hftperf.targets.order_flow.ProfileOrderSource`'s;
only the wire differs. Each request's body template is rendered and converted with ``json_format``
into the method's request message; an answer is rendered as JSON (``MessageToDict``, proto field
names, so a pointer reads ``/order/order_id``) only for the submits whose id or state the flow needs.
Descriptors come from the server's reflection, found once before the run, and the dry run submits
and cancels one order first (ConfigError quoting the answer when a pointer matches nothing).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from hftperf.errors import ConfigError
from hftperf.targets.grpc_schema import MethodSchema, from_reflection, message_classes
from hftperf.targets.order_flow import FlowShares, ProfileOrderSource
from hftperf.targets.profile import CompiledOperation, CompiledProfile

__all__ = ["GrpcOrderFactory", "GrpcOrderSource", "grpc_dry_run", "grpc_order_factory", "grpc_schemas"]

_OPERATIONS = ("submit", "cancel", "amend")


@dataclass(frozen=True)
class GrpcOrderFactory:
    """Picklable description of the flow over gRPC; each worker process creates its own source."""

    profile: CompiledProfile
    shares: FlowShares
    seed: int
    schemas: tuple[MethodSchema | None, ...]  # submit, cancel, amend (None: the profile has none)

    @property
    def methods(self) -> tuple[str, ...]:
        """Call paths by method index (0 submit, 1 cancel, 2 amend; "" where absent)."""
        return tuple(s.path if s is not None else "" for s in self.schemas)

    def create(self, spec: Any, worker_index: int, workers: int) -> GrpcOrderSource:
        """One source per worker, seeded by (seed, worker) so runs repeat."""
        return GrpcOrderSource(self, random.Random(self.seed * 1_000_003 + worker_index))


class GrpcOrderSource(ProfileOrderSource):
    """Builds (method index, request bytes) and learns resting order ids from the answers."""

    def __init__(self, factory: GrpcOrderFactory, rng: random.Random) -> None:
        super().__init__(factory, None, rng)  # type: ignore[arg-type]
        from google.protobuf import json_format

        self._parse, self._to_dict = json_format.Parse, json_format.MessageToDict
        self._classes = [message_classes(s) if s is not None else None for s in factory.schemas]

    @staticmethod
    def _head(spec: Any, operation: CompiledOperation,
              extra: tuple[tuple[str, str], ...]) -> tuple[bytes, bytes, bytes]:
        return b"", b"", b""  # no HTTP head on gRPC

    def build_call(self, index: int) -> tuple[int, bytes]:
        """Request ``index``: which method (0 submit, 1 cancel, 2 amend) and its serialized request."""
        op, values = self.next_order(index)
        method = 0 if op < 2 else op - 1
        text = self.operation(op).body.render({k: v.decode() for k, v in values.items()}).decode()
        classes = self._classes[method]
        assert classes is not None
        return method, self._parse(text, classes[0]()).SerializeToString()

    def observe_call(self, index: int, method: int, ok: bool, data: bytes | None) -> None:
        """Count the answer of request ``index``; a submit's answer is rendered as JSON for the pointers."""
        body = b""
        if ok and data is not None and method == 0 and self._parse_submit:
            classes = self._classes[0]
            assert classes is not None
            answer = classes[1].FromString(data)  # type: ignore[attr-defined]
            body = orjson.dumps(self._to_dict(answer, preserving_proto_field_name=True))
        operation = self.operation(self._ops[index % len(self._ops)])
        self.observe(index, operation.config.ok_status[0] if ok else 0, body)


def grpc_schemas(profile: CompiledProfile, target: str) -> tuple[MethodSchema | None, ...]:
    """The submit, cancel and amend methods' descriptors from the target's reflection (None: absent)."""
    schemas = []
    for name in _OPERATIONS:
        operation: CompiledOperation | None = getattr(profile, name)
        schemas.append(from_reflection(target, operation.method.decode()) if operation is not None else None)
    return tuple(schemas)


def grpc_order_factory(profile: CompiledProfile, shares: FlowShares, seed: int, target: str) -> GrpcOrderFactory:
    """The flow's factory with the methods' descriptors from the target's reflection."""
    return GrpcOrderFactory(profile, shares, seed, grpc_schemas(profile, target))


def grpc_dry_run(profile: CompiledProfile, schemas: tuple[MethodSchema | None, ...], target: str, symbol: str,
                 price_ticks: int, timeout_s: float = 5.0) -> list[tuple[str, str, str, bytes]]:
    """Submit one resting limit order and cancel it; ConfigError naming the key when the profile is wrong.

    Returns the steps: (operation, method path, request JSON sent, answer as JSON).
    """
    import grpc
    from google.protobuf import json_format

    from hftperf.targets.dryrun import extract, order_values

    steps: list[tuple[str, str, str, bytes]] = []
    values = order_values(profile, symbol, "buy", "limit", price_ticks, 1, 1)
    metadata = tuple((k.lower(), v) for k, v in profile.submit.headers) or None
    with grpc.insecure_channel(target) as channel:
        def call(index: int, name: str) -> bytes:
            operation: CompiledOperation = getattr(profile, name)
            schema = schemas[index]
            assert schema is not None
            request_cls, response_cls = message_classes(schema)
            text = operation.body.render(values).decode()
            try:
                request = json_format.Parse(text, request_cls())
            except json_format.ParseError as exc:
                raise ConfigError(f"api.{name}.body: does not fit {schema.input_type}: {exc}") from None
            method = channel.unary_unary(schema.path, request_serializer=None, response_deserializer=None)
            try:
                data: bytes = method(request.SerializeToString(), timeout=timeout_s, metadata=metadata)
            except grpc.RpcError as exc:
                raise ConfigError(f"api check: {name} {schema.path} -> {exc.code().name}: {exc.details()}") from None
            answer = response_cls.FromString(data)  # type: ignore[attr-defined]
            body = orjson.dumps(json_format.MessageToDict(answer, preserving_proto_field_name=True))
            steps.append((name, schema.path, text, body))
            return body

        body = call(0, "submit")
        submit = profile.submit.config
        order_id, state = extract(body, submit.order_id), extract(body, submit.status)
        for key, pointer, value in (("order_id", submit.order_id, order_id), ("status", submit.status, state)):
            if pointer is not None and value is None:
                raise ConfigError(f"api.submit.{key} {pointer!r} matches nothing in the answer: {body[:300]!r}")
        if profile.cancel is not None and (not submit.resting or state in submit.resting):
            values["order_id"] = str(order_id)
            call(1, "cancel")
    return steps
