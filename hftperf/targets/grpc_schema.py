"""Descriptors of any gRPC service, found at run time: server reflection, ``.proto`` files, or a protoset.

Whatever the source, the result is one serialized ``FileDescriptorSet`` (bytes: it pickles to
worker processes, where :func:`message_classes` rebuilds the message types) and the method's
input and output type names. Nothing here knows the bundled engine's proto: it is found the same
way (the engine enables reflection). Errors name the method, file or target and what was expected.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hftperf.errors import ConfigError, TargetUnreachable

__all__ = ["MethodSchema", "from_proto_files", "from_protoset", "from_reflection", "list_services",
           "message_classes"]

_REFLECTION_TIMEOUT_S = 5.0
# (client streaming, server streaming) -> the kind's name
_KINDS = {(False, False): "unary", (False, True): "server", (True, False): "client", (True, True): "bidi"}


@dataclass(frozen=True)
class MethodSchema:
    """One method: its path, streaming kind, message type names and the descriptors to build them."""

    service: str  # "pkg.Service"
    method: str  # "Method"
    input_type: str  # fully qualified message names
    output_type: str
    client_streaming: bool
    server_streaming: bool
    descriptor_set: bytes  # serialized google.protobuf.FileDescriptorSet with every file needed

    @property
    def path(self) -> str:
        """The call path, ``/pkg.Service/Method``."""
        return f"/{self.service}/{self.method}"

    @property
    def streaming(self) -> str:
        """``unary``, ``server``, ``client`` or ``bidi``."""
        return _KINDS[(self.client_streaming, self.server_streaming)]


def _split(name: str) -> tuple[str, str]:
    service, sep, method = name.strip().lstrip("/").replace("/", ".").rpartition(".")
    if not sep or not service or not method:
        raise ConfigError(f"method {name!r}: expected 'package.Service/Method'")
    return service, method


def _schema(pool: Any, name: str, where: str) -> MethodSchema:
    from google.protobuf import descriptor_pb2

    service_name, method_name = _split(name)
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        raise ConfigError(f"method {name!r}: no service {service_name!r} in {where}") from None
    method = service.methods_by_name.get(method_name)
    if method is None:
        known = ", ".join(sorted(service.methods_by_name)) or "none"
        raise ConfigError(f"method {name!r}: {service_name} has no method {method_name!r} (it has: {known})")
    files: dict[str, Any] = {}

    def collect(file: Any) -> None:
        if file.name not in files:
            for dependency in file.dependencies:
                collect(dependency)
            files[file.name] = file

    collect(service.file)
    descriptor_set = descriptor_pb2.FileDescriptorSet()
    for file in files.values():
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        descriptor_set.file.append(proto)
    return MethodSchema(service_name, method_name, method.input_type.full_name, method.output_type.full_name,
                        method.client_streaming, method.server_streaming, descriptor_set.SerializeToString())


def _pool_from_set(data: bytes, where: str) -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool

    descriptor_set = descriptor_pb2.FileDescriptorSet()
    try:
        descriptor_set.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError (no common base worth importing)
        raise ConfigError(f"{where}: not a FileDescriptorSet: {exc}") from None
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        try:
            pool.Add(file)
        except Exception as exc:
            raise ConfigError(f"{where}: file {file.name}: {exc}") from None
    return pool


def from_protoset(path: Path, method: str) -> MethodSchema:
    """The method from a compiled descriptor set (``protoc --descriptor_set_out --include_imports``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"protoset {path}: cannot read: {exc.strerror or exc}") from None
    return _schema(_pool_from_set(data, f"protoset {path}"), method, f"protoset {path}")


def from_proto_files(files: Sequence[Path], import_paths: Sequence[Path], method: str) -> MethodSchema:
    """Compile ``.proto`` files now with grpcio-tools' protoc (imports resolved in ``import_paths``)."""
    from grpc_tools import protoc

    for file in files:
        if not file.is_file():
            raise ConfigError(f"proto file {file}: not found")
    include = [str(Path(protoc.__file__).parent / "_proto")]  # google/protobuf/*.proto well-known types
    paths = [*(str(p) for p in import_paths), *{str(f.parent) for f in files}]
    with tempfile.TemporaryDirectory(prefix="hftperf-protoc-") as tmp:
        out = Path(tmp) / "set.pb"
        args = ["protoc", *(f"-I{p}" for p in [*paths, *include]), f"--descriptor_set_out={out}", "--include_imports",
                *(str(f) for f in files)]
        code, messages = _protoc_quietly(protoc.main, args, Path(tmp) / "protoc.err")
        if code != 0 or not out.is_file():
            detail = " ".join(messages.split())[:300] or f"protoc exit {code}"
            raise ConfigError(f"proto files {', '.join(map(str, files))}: do not compile: {detail}")
        data = out.read_bytes()
    return _schema(_pool_from_set(data, "compiled protos"), method, "the proto files")


def _protoc_quietly(main: Any, args: list[str], err_path: Path) -> tuple[int, str]:
    """Run protoc, its messages captured: it writes them to file descriptor 2 from C++, past sys.stderr."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with err_path.open("wb") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                code = int(main(args))
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    return code, err_path.read_text(errors="replace")


def _channel(target: str, credentials: Any | None) -> Any:
    import grpc

    if credentials is not None:
        return grpc.secure_channel(target, credentials)
    return grpc.insecure_channel(target)


def _check_reachable(channel: Any, target: str) -> None:
    import grpc

    try:
        grpc.channel_ready_future(channel).result(timeout=_REFLECTION_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise TargetUnreachable(f"gRPC target {target}: not reachable within {_REFLECTION_TIMEOUT_S:g}s") from None


def from_reflection(target: str, method: str, credentials: Any | None = None) -> MethodSchema:
    """The method as the server's reflection service describes it."""
    import grpc

    with _channel(target, credentials) as channel:
        _check_reachable(channel, target)
        from google.protobuf import descriptor_pool
        from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

        pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
        try:
            return _schema(pool, method, f"the reflection of {target}")
        except grpc.RpcError as exc:
            raise ConfigError(f"gRPC target {target}: reflection failed ({exc.code().name}: {exc.details()}); "
                              "give proto files or a protoset instead") from None


def list_services(target: str, credentials: Any | None = None) -> dict[str, list[tuple[str, str, str, str]]]:
    """Every service the server reflects: name -> [(method, streaming kind, input type, output type)]."""
    import grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with _channel(target, credentials) as channel:
        _check_reachable(channel, target)
        database = ProtoReflectionDescriptorDatabase(channel)
        try:
            names = list(database.get_services())
        except grpc.RpcError as exc:
            raise ConfigError(f"gRPC target {target}: reflection failed ({exc.code().name}: {exc.details()})") from None
        from google.protobuf import descriptor_pool

        pool = descriptor_pool.DescriptorPool(database)
        listing: dict[str, list[tuple[str, str, str, str]]] = {}
        for name in names:
            try:
                service = pool.FindServiceByName(name)
            except KeyError:  # listed but not described (a server's own reflection service, often)
                listing[name] = []
                continue
            listing[name] = [(m.name, _KINDS[(m.client_streaming, m.server_streaming)], m.input_type.full_name,
                              m.output_type.full_name) for m in service.methods]
        return listing


def message_classes(schema: MethodSchema) -> tuple[type, type]:
    """(input class, output class) rebuilt from the schema's descriptors (works in any process)."""
    from google.protobuf import message_factory

    pool = _pool_from_set(schema.descriptor_set, f"method {schema.path}")
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.input_type)),
            message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.output_type)))
