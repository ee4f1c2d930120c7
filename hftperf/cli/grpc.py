"""``hftperf grpc list|describe``: what a gRPC server's reflection exposes (like grpcurl), to write a config."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hftperf.addresses import parse_grpc_target
from hftperf.cli.console import stdout
from hftperf.errors import UsageError
from hftperf.targets.grpc_schema import from_reflection, list_services, message_classes

__all__ = ["app"]

app = typer.Typer(help="Look at a gRPC service through its server reflection.", no_args_is_help=True)

TargetArg = Annotated[str, typer.Argument(help="HOST:PORT of the gRPC server")]


def _target(target: str) -> str:
    try:
        parse_grpc_target(target)
    except ValueError as exc:
        raise UsageError(f"TARGET: {exc}") from None
    return target


@app.command("list")
def list_methods(target: TargetArg) -> None:
    """Every service and method the server reflects, with its streaming kind and message types."""
    for service, methods in list_services(_target(target)).items():
        stdout.out(service, highlight=False)
        for name, kind, request, response in methods:
            stdout.out(f"  {name}  ({kind})  {request} -> {response}", highlight=False)


@app.command()
def describe(target: TargetArg,
             method: Annotated[str, typer.Argument(help="package.Service/Method (or package.Service.Method)")]) -> None:
    """A method's request and response messages, with a JSON skeleton of the request to start a template."""
    from google.protobuf import json_format
    from google.protobuf.descriptor import FieldDescriptor

    scalar = {getattr(FieldDescriptor, n): n[5:].lower() for n in dir(FieldDescriptor) if n.startswith("TYPE_")}
    schema = from_reflection(_target(target), method)
    request_cls, response_cls = message_classes(schema)
    stdout.out(f"{schema.path}  ({schema.streaming})", highlight=False)
    for label, cls in (("request", request_cls), ("response", response_cls)):
        descriptor = cls.DESCRIPTOR  # type: ignore[attr-defined]
        stdout.out(f"{label} {descriptor.full_name}:", highlight=False)
        for f in descriptor.fields:
            kind = f.message_type.full_name if f.message_type else (f.enum_type.full_name if f.enum_type else
                                                                     scalar.get(f.type, str(f.type)))
            repeated = "repeated " if f.is_repeated else ""
            oneof = f" (oneof {f.containing_oneof.name})" if f.containing_oneof else ""
            stdout.out(f"  {f.json_name}: {repeated}{kind}{oneof}", highlight=False)
    skeleton = json_format.MessageToDict(request_cls(), always_print_fields_with_no_presence=True)
    stdout.out("request skeleton: " + json.dumps(skeleton), highlight=False)
