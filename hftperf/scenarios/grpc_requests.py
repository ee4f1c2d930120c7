"""Request bytes for the ``grpc`` scenario: JSON templates converted once where they allow, per request
where they must, and the correlation of bidi answers to their requests.

- A template without placeholders is converted (``json_format``) and serialized once, before the run.
- One with only ``${rand:..}``/``${choice:..}`` is converted into a seeded cycle of distinct requests.
- One with ``${seq}`` or feed columns is converted when each request is due (:class:`TemplateRequests`).
- With ``correlate``, the correlation field is appended to the request bytes as one encoded field
  (protobuf merges a repeated scalar field: the last value wins), so a static template stays
  precompiled and each message costs a few bytes of varint encoding (:class:`CorrelatedRequests`);
  :class:`ResponseKey` reads the field back from each answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hftperf.errors import ConfigError
from hftperf.targets.grpc_schema import MethodSchema, message_classes
from hftperf.targets.template import GENERATED, Template, generated_value

__all__ = ["CorrelatedRequests", "ResponseKey", "TemplateRequests", "correlation"]

# protobuf field types (FieldDescriptor.TYPE_*) by wire encoding of the correlation value
_VARINT_TYPES = {3: "int64", 4: "uint64", 5: "int32", 13: "uint32"}
_LENGTH_TYPES = {9: "string", 12: "bytes"}


class _Lazy:
    """Picklable dataclasses whose per-process state (message classes) is rebuilt on first use."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True)
class TemplateRequests(_Lazy):
    """Per-request builder: the JSON template rendered and converted when a request is due."""

    schema: MethodSchema
    template: Template
    feed: tuple[dict[str, str], ...]
    seed: int

    def __call__(self, sequence: int) -> bytes:
        """The serialized request with global sequence number ``sequence``."""
        builder = self.__dict__.get("_builder")
        if builder is None:  # first call in this process: rebuild the message class from descriptors
            builder = _Builder(self)
            object.__setattr__(self, "_builder", builder)
        return builder.build(sequence)


class _Builder:
    def __init__(self, requests: TemplateRequests) -> None:
        from google.protobuf import json_format

        self.parse = json_format.Parse
        self.cls = message_classes(requests.schema)[0]
        self.template = requests.template
        self.feed = requests.feed
        self.rng = random.Random(requests.seed)

    def build(self, sequence: int) -> bytes:
        values = {"seq": str(sequence)}
        if self.feed:
            values.update(self.feed[sequence % len(self.feed)])
        for name in self.template.names:
            if name.startswith(GENERATED):
                values[name] = generated_value(name, self.rng)
        return self.parse(self.template.render(values).decode(), self.cls()).SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


@dataclass(frozen=True)
class CorrelatedRequests:
    """The base request (bytes or a builder) with the correlation field set to ``str(sequence)``."""

    base: bytes | Callable[[int], bytes]
    field_number: int
    length_delimited: bool  # string/bytes field (else an unsigned varint)

    def __call__(self, sequence: int) -> bytes:
        """The request message of global sequence ``sequence`` carrying its key."""
        base = self.base if isinstance(self.base, bytes) else self.base(sequence)
        if self.length_delimited:
            key = str(sequence).encode()
            return b"%s%s%s%s" % (base, _varint(self.field_number << 3 | 2), _varint(len(key)), key)
        return b"%s%s%s" % (base, _varint(self.field_number << 3), _varint(sequence))


@dataclass(frozen=True)
class ResponseKey(_Lazy):
    """Reads the correlation key (as text) from an answer's bytes, along a field path."""

    schema: MethodSchema
    path: tuple[str, ...]

    def __call__(self, data: bytes) -> str:
        """The key the answer ``data`` carries."""
        parse = self.__dict__.get("_parse")
        if parse is None:
            parse = message_classes(self.schema)[1].FromString  # type: ignore[attr-defined]
            object.__setattr__(self, "_parse", parse)
        value: Any = parse(data)
        for name in self.path:
            value = getattr(value, name)
        return value.decode() if isinstance(value, bytes) else str(value)


def _repeated(field: Any) -> bool:
    """Whether a field is repeated (protobuf 6 has ``is_repeated``; older ones only ``label``)."""
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == field.LABEL_REPEATED


def _find(descriptor: Any, name: str, depth: int = 3) -> list[tuple[str, ...]]:
    """Paths to fields called ``name`` in a message type, nearest first (top level, then nested)."""
    if name in descriptor.fields_by_name:
        return [(name,)]
    if depth == 0:
        return []
    found: list[tuple[str, ...]] = []
    for field in descriptor.fields:
        if field.message_type is not None and not _repeated(field):
            found += [(field.name, *rest) for rest in _find(field.message_type, name, depth - 1)]
    return found


def correlation(schema: MethodSchema, field: str, response_path: str | None,
                where: str) -> tuple[int, bool, ResponseKey]:
    """Check ``correlate`` against the method's messages: (field number, length-delimited, response key).

    The request field must be a top-level string, bytes or integer field; in the response the
    same name is found at the top level or in a nested message, unless ``response_path`` names it.
    """
    request_cls, response_cls = message_classes(schema)
    request_type: Any = request_cls.DESCRIPTOR  # type: ignore[attr-defined]
    response_type: Any = response_cls.DESCRIPTOR  # type: ignore[attr-defined]
    request_field = request_type.fields_by_name.get(field)
    if request_field is None:
        raise ConfigError(f"{where}.correlate: {schema.input_type} has no field {field!r}")
    if _repeated(request_field) or (
            request_field.type not in _VARINT_TYPES and request_field.type not in _LENGTH_TYPES):
        raise ConfigError(f"{where}.correlate: field {field!r} of {schema.input_type} must be a single string, "
                          "bytes or integer field")
    if response_path:
        path = tuple(response_path.split("."))
        descriptor = response_type
        for name in path:
            found = descriptor.fields_by_name.get(name) if descriptor is not None else None
            if found is None:
                raise ConfigError(f"{where}.correlate_response: {schema.output_type} has no field {response_path!r}")
            descriptor = found.message_type
    else:
        paths = _find(response_type, field)
        if not paths:
            raise ConfigError(f"{where}.correlate: {schema.output_type} has no field {field!r} "
                              "(name it with correlate_response = \"a.b\")")
        path = paths[0]
    return request_field.number, request_field.type in _LENGTH_TYPES, ResponseKey(schema, path)
