"""``hftperf stack``: bring the bundled reference stack up, inspect it, read its logs, take it down."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hftperf.cli.console import stderr, stdout
from hftperf.errors import ExitCode, UsageError
from hftperf.reference_engine.backends import (
    DEFAULT_ENGINE_PORT,
    DEFAULT_GATEWAY_PORT,
    StackConfig,
    attach_stack,
    create_stack,
)
from hftperf.reference_engine.backends.local import COMPONENTS, LocalStack, read_log_tail
from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning

__all__ = ["app"]

app = typer.Typer(help="Run the bundled reference trading stack (engine + gateway).", no_args_is_help=True)

NameOpt = Annotated[str, typer.Option("--name", help="Stack name (one state file per name).")]


class Backend(StrEnum):
    """Available stack backends."""

    local = "local"
    docker = "docker"


class Network(StrEnum):
    """Docker network modes."""

    host = "host"
    bridge = "bridge"


class Component(StrEnum):
    """Processes of the stack."""

    engine = "engine"
    gateway = "gateway"


@app.command()
def up(
    backend: Annotated[Backend, typer.Option(help="Where to run the stack.")] = Backend.local,
    host: Annotated[str, typer.Option(help="Listen address of both processes (default: loopback only).")] = (
        DEFAULT_HOST
    ),
    gateway_port: Annotated[int, typer.Option(help="HTTP port of the gateway.")] = DEFAULT_GATEWAY_PORT,
    engine_port: Annotated[int, typer.Option(help="gRPC port of the engine.")] = DEFAULT_ENGINE_PORT,
    workers: Annotated[int, typer.Option(min=1, help="Gateway worker processes.")] = 1,
    data_dir: Annotated[Path | None, typer.Option(help="Database and logs (default: STATE_DIR/NAME).")] = None,
    db: Annotated[
        str | None, typer.Option(help="postgresql:// DSN, or 'postgres' (docker: start a container); default SQLite.")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: the engine's).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each process to be healthy.")] = 30.0,
    network: Annotated[Network, typer.Option(help="docker: host, or bridge (ports on 127.0.0.1).")] = Network.host,
    base_image: Annotated[
        str, typer.Option(envvar="HFTPERF_DOCKER_BASE_IMAGE", help="docker: base of the stack image.")
    ] = "python:3.11-slim",
    postgres_image: Annotated[str, typer.Option(help="docker --db postgres: the PostgreSQL image.")] = (
        "postgres:16-bookworm"
    ),
    name: NameOpt = "default",
) -> None:
    """Start engine then gateway (on 127.0.0.1 unless --host), wait until healthy, print the URLs."""
    if db == "postgres" and backend is not Backend.docker:
        raise UsageError(
            "--db postgres starts a PostgreSQL container: it needs --backend docker "
            "(with --backend local give a postgresql:// DSN)"
        )
    if (warning := exposure_warning(host, "stack (engine and gateway)")) is not None:
        stderr.out(f"hftperf: warning: {warning}", highlight=False)
    config = StackConfig(
        name=name,
        backend=backend.value,
        host=host,
        gateway_port=gateway_port,
        engine_port=engine_port,
        workers=workers,
        data_dir=data_dir,
        db=db,
        symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()) if symbols else (),
        startup_timeout_s=timeout,
        network=network.value,
        base_image=base_image,
        postgres_image=postgres_image,
    )
    stack = create_stack(config)
    waiting = "building the stack image if needed (once per source), starting containers…"
    with stderr.status(waiting) if backend is Backend.docker and stderr.is_terminal else contextlib.nullcontext():
        endpoints = stack.start()
    mode = "local" if backend is Backend.local else f"docker, {network.value} network"
    stdout.print(f"stack [bold]{name}[/] is up ({mode}, {workers} gateway worker(s))")
    stdout.print(f"  gateway  {endpoints.gateway_url}")
    stdout.print(f"  engine   grpc://{endpoints.engine_target}")
    stdout.print(f"  data     {stack.data_dir if backend is Backend.local else 'volume ' + stack.data_volume}")


@app.command()
def status(name: NameOpt = "default") -> None:
    """Show the processes of a stack; exit status 1 when it is not running and healthy."""
    st = attach_stack(name).status()
    table = Table(title=f"stack {st.name} ({st.backend})", title_justify="left")
    for column in ("component", "pid", "port", "alive", "healthy", "log"):
        table.add_column(column)
    for p in st.processes:
        where = str(p.log_path) if p.log_path is not None else f"container {p.container}"
        table.add_row(p.component, str(p.pid), str(p.port), _yes(p.alive), _yes(p.healthy), where)
    stdout.print(table)
    state = "[green]running[/]" if st.running else "[red]not running[/]"
    stdout.print(f"{state}  gateway {st.endpoints.gateway_url}  engine {st.endpoints.engine_target}")
    stdout.print(f"started {st.started_at}" + (f", stopped {st.stopped_at}" if st.stopped_at else ""))
    if not st.running:
        raise typer.Exit(int(ExitCode.FAILED))


@app.command()
def logs(
    component: Annotated[Component | None, typer.Argument(help="engine or gateway (default: both).")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines from the end.")] = 50,
    name: NameOpt = "default",
) -> None:
    """Print the end of the engine and/or gateway log."""
    stack = attach_stack(name)
    chosen = [component.value] if component else list(COMPONENTS)
    for comp in chosen:
        local = isinstance(stack, LocalStack)
        if len(chosen) > 1:
            where = stack.log_path(comp) if local else f"container hftperf-{name}-{comp}"
            stdout.print(f"[bold]==> {comp} ({where}) <==[/]")
        text = read_log_tail(stack.log_path(comp), lines) if local else stack.logs(comp, lines)
        stdout.out(text, highlight=False)


@app.command()
def down(
    name: NameOpt = "default",
    volumes: Annotated[bool, typer.Option("--volumes", help="docker: also remove the stack's volumes.")] = False,
) -> None:
    """Stop gateway then engine (graceful, then forced) and free their ports (docker: remove the containers)."""
    stack = attach_stack(name)
    if isinstance(stack, LocalStack):
        if volumes:
            raise UsageError(f"--volumes is for Docker stacks; the local stack keeps its data in {stack.data_dir}")
        stack.stop()
    else:
        stack.stop(volumes=volumes)
    stdout.print(f"stack [bold]{name}[/] is down" + (" (volumes removed)" if volumes else ""))


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"
