"""``hftperf api check``: dry-run an API profile against a service (one submit, one cancel), step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hftperf.cli.console import stdout
from hftperf.config import read_toml
from hftperf.errors import UsageError
from hftperf.targets import compile_profile, load_profile
from hftperf.targets.dryrun import dry_run
from hftperf.targets.profile import CompiledProfile

__all__ = ["app"]

app = typer.Typer(help="Order-entry API profiles: check one against a service before a run.", no_args_is_help=True)


@app.command()
def check(
    target: Annotated[str, typer.Option("--target", help="The service's base URL, e.g. http://127.0.0.1:8080 "
                                                         "(a protocol = \"grpc\" profile: HOST:PORT)")],
    config: Annotated[Path | None, typer.Option("--config", "-f", help="Suite config with [api] or api = ...")] = None,
    api: Annotated[str | None, typer.Option("--api", help="A built-in profile name or a profile TOML file")] = None,
    symbol: Annotated[str, typer.Option("--symbol", help="Symbol of the test order")] = "BTC-USD",
    price: Annotated[int, typer.Option("--price", min=1, help="Limit price in ticks, away from the market")] = 9_000,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Seconds per request")] = 5.0,
) -> None:
    """Submit one resting limit order and cancel it, showing each request and answer (credentials redacted)."""
    spec: object = api
    where, base = "--api", Path.cwd()
    if spec is None and config is not None:
        document, _ = read_toml(config)
        spec, where, base = document.get("api"), f"{config}: api", config.parent
    if spec is None:
        spec = "reference"
    if not isinstance(spec, str | dict):
        raise UsageError(f"{where}: expected a profile name, a file or an [api] table")
    profile = compile_profile(load_profile(spec, where, base), where)  # type: ignore[arg-type]
    if profile.profile.protocol == "grpc":
        _check_grpc(profile, target, symbol, price, timeout)
        return
    steps = dry_run(profile, target.rstrip("/"), symbol, price, timeout)
    for step in steps:
        stdout.print(f"[bold]{step.operation}[/] {step.method} {step.url} -> {step.status}", highlight=False)
        if step.request_body:
            stdout.out(f"  sent:     {step.request_body}", highlight=False)
        stdout.out(f"  answered: {step.response_body[:400]}", highlight=False)
        if step.extracted.get("rests") is False:
            stdout.out("  note:     the order did not rest (not in api.submit.resting): no cancel was tried; the "
                       "load's cancel turns will find no resting order", highlight=False)
        found = {k: v for k, v in step.extracted.items() if k not in ("headers", "rests") and v is not None}
        if found:
            stdout.out(f"  found:    {found}", highlight=False)
    stdout.print(f"profile {profile.profile.name!r}: OK ({len(steps)} requests)", highlight=False)


def _check_grpc(profile: CompiledProfile, target: str, symbol: str, price: int, timeout: float) -> None:
    """The dry run of a ``protocol = "grpc"`` profile: ``--target`` is the service's HOST:PORT."""
    from hftperf.addresses import parse_grpc_target
    from hftperf.targets.grpc_flow import grpc_dry_run, grpc_schemas

    address = target.removeprefix("grpc://")
    try:
        parse_grpc_target(address)
    except ValueError as exc:
        raise UsageError(f"--target: a gRPC profile needs the service's HOST:PORT: {exc}") from None
    steps = grpc_dry_run(profile, grpc_schemas(profile, address), address, symbol, price, timeout)
    for operation, method, sent, answer in steps:
        stdout.print(f"[bold]{operation}[/] {method} at {address} -> OK", highlight=False)
        stdout.out(f"  sent:     {sent}", highlight=False)
        stdout.out(f"  answered: {answer[:400].decode(errors='replace')}", highlight=False)
    stdout.print(f"profile {profile.profile.name!r}: OK ({len(steps)} calls)", highlight=False)
