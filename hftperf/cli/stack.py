"""``hftperf stack``: bring the bundled reference stack up, inspect it, read its logs, take it down."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hftperf.cli.console import stderr, stdout
from hftperf.cli.options import PORT_MAX, check_positive_number
from hftperf.defaults import DEFAULT_BASE_IMAGE
from hftperf.errors import ExitCode, UsageError
from hftperf.redact import redact_text
from hftperf.reference_engine.backends import (
    DEFAULT_ENGINE_PORT,
    DEFAULT_GATEWAY_PORT,
    StackConfig,
    attach_stack,
    create_stack,
)
from hftperf.reference_engine.bind import DEFAULT_HOST, exposure_warning

__all__ = ["app"]

app = typer.Typer(help="Run the bundled reference trading stack (engine + gateway).", no_args_is_help=True)

NameOpt = Annotated[str, typer.Option("--name", help="Stack name (one state file per name).")]


class Backend(StrEnum):
    """Available stack backends."""

    local = "local"
    docker = "docker"
    compose = "compose"


class Network(StrEnum):
    """Docker network modes."""

    host = "host"
    bridge = "bridge"


@app.command()
def up(
    backend: Annotated[Backend, typer.Option(help="Where to run the stack.")] = Backend.local,
    host: Annotated[str, typer.Option(help="Listen address of both processes (default: loopback only).")] = (
        DEFAULT_HOST
    ),
    gateway_port: Annotated[int, typer.Option(min=1, max=PORT_MAX, help="HTTP port of the gateway.")] = (
        DEFAULT_GATEWAY_PORT
    ),
    engine_port: Annotated[int, typer.Option(min=1, max=PORT_MAX, help="gRPC port of the engine.")] = (
        DEFAULT_ENGINE_PORT
    ),
    workers: Annotated[int, typer.Option(min=1, help="Gateway worker processes.")] = 1,
    data_dir: Annotated[Path | None, typer.Option(help="Database and logs (default: STATE_DIR/NAME).")] = None,
    db: Annotated[
        str | None, typer.Option(help="postgresql:// DSN, or 'postgres' (docker: start a container); default SQLite.")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols (default: the engine's).")] = None,
    timeout: Annotated[
        float, typer.Option(callback=check_positive_number, help="Seconds to wait for each process to be healthy.")
    ] = 30.0,
    network: Annotated[Network, typer.Option(help="docker: host, or bridge (ports on 127.0.0.1).")] = Network.host,
    base_image: Annotated[
        str, typer.Option(envvar="HFTPERF_DOCKER_BASE_IMAGE", help="docker: base of the stack image.")
    ] = DEFAULT_BASE_IMAGE,
    postgres_image: Annotated[str, typer.Option(help="docker --db postgres: the PostgreSQL image.")] = (
        "postgres:16-bookworm"
    ),
    compose_file: Annotated[Path | None, typer.Option(help="compose: your compose file.")] = None,
    service: Annotated[str | None, typer.Option(help="compose: the HTTP target service.")] = None,
    grpc_service: Annotated[str | None, typer.Option(help="compose: the gRPC target service.")] = None,
    build_arg: Annotated[list[str] | None, typer.Option(help="compose: KEY=VALUE for every image build.")] = None,
    name: NameOpt = "default",
) -> None:
    """Start engine then gateway (on 127.0.0.1 unless --host), wait until healthy, print the URLs."""
    if backend is Backend.compose:
        extra = [f"BASE_IMAGE={base_image}"] if base_image != DEFAULT_BASE_IMAGE else []  # given: FROM that
        _up_compose(name, host, compose_file, service, grpc_service, [*extra, *(build_arg or [])], timeout)
        return
    if compose_file is not None or service is not None:
        raise UsageError("--compose-file and --service are for --backend compose")
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


def _up_compose(name: str, host: str, compose_file: Path | None, service: str | None, grpc_service: str | None,
                build_args: list[str], timeout: float) -> None:
    """``stack up --backend compose``: build and start the compose file's services, print the target."""
    if compose_file is None:
        raise UsageError("--backend compose needs --compose-file F (and --service S, the HTTP target)")
    pairs = []
    for item in build_args:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg {item!r}: expected KEY=VALUE")
        pairs.append((key, value))
    config = StackConfig(name=name, backend="compose", host=host, compose_file=compose_file, service=service,
                         grpc_service=grpc_service, build_args=tuple(pairs), startup_timeout_s=timeout)
    stack = create_stack(config)
    with stderr.status("reading the compose file…") if stderr.is_terminal else contextlib.nullcontext() as view:
        if view is not None:
            stack.progress = lambda line: view.update(line[:120])
        endpoints = stack.start()
    stdout.print(f"stack [bold]{name}[/] is up (compose, {len(stack.services())} services)")
    stdout.print(f"  {service:<8} {endpoints.gateway_url}")
    if endpoints.engine_target:
        stdout.print(f"  {grpc_service:<8} grpc://{endpoints.engine_target}")


@app.command()
def status(
    name: NameOpt = "default",
    backend: Annotated[Backend | None, typer.Option(help="Ignored: the stack's labels say which it is.")] = None,
) -> None:
    """Show the processes of a stack; exit status 1 when it is not running and healthy."""
    del backend
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
    component: Annotated[str | None, typer.Argument(
        help="engine or gateway (compose: a service; default: all).")] = None,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Lines from the end.")] = 50,
    name: NameOpt = "default",
    backend: Annotated[Backend | None, typer.Option(help="Ignored: the stack's labels say which it is.")] = None,
) -> None:
    """Print the end of the engine and/or gateway log (compose: of each service)."""
    del backend
    stack = attach_stack(name)
    names = stack.components()
    if component is not None and component not in names:
        raise UsageError(f"COMPONENT {component!r}: expected one of {', '.join(names)}")
    chosen = [component] if component else names
    for comp in chosen:
        if len(chosen) > 1:
            stdout.print(f"[bold]==> {comp} ({stack.log_source(comp)}) <==[/]")
        stdout.out(redact_text(stack.logs(comp, lines)), highlight=False)  # a log may quote a DSN or a request's token


@app.command()
def down(
    name: NameOpt = "default",
    volumes: Annotated[bool, typer.Option("--volumes", help="docker: also remove the stack's volumes.")] = False,
    backend: Annotated[Backend | None, typer.Option(help="Ignored: the stack's labels say which it is.")] = None,
) -> None:
    """Stop gateway then engine (graceful, then forced) and free their ports (docker: remove the containers)."""
    del backend
    stack = attach_stack(name)
    stack.stop(volumes=volumes)
    stdout.print(f"stack [bold]{name}[/] is down" + (" (volumes removed)" if volumes else ""))


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"
