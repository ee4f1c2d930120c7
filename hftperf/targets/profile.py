"""API profiles: how an order-entry API (HTTP, or gRPC) spells submit, cancel and amend, and where the answer's id is.

A profile is TOML data (the ``[api]`` table of a suite config, a file, or a built-in name such as
``reference`` for the bundled stack). It is checked when loaded — unknown keys, placeholders that
a request cannot fill, malformed JSON pointers (RFC 6901), status lists — with ConfigError naming
the file and the key, and compiled once into byte templates for the hot path.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hftperf.config import param
from hftperf.errors import ConfigError
from hftperf.params import load_params
from hftperf.targets.template import Template, compile_template

__all__ = ["BUILTIN_PROFILES", "ApiProfile", "CompiledOperation", "CompiledProfile", "compile_profile",
           "load_profile"]

# name -> package resource holding its [api] table; the bundled stack's profile lives with the stack.
BUILTIN_PROFILES = {"reference": ("hftperf.reference_engine", "api_profile.toml")}

_ORDER_FIELDS = ("symbol", "side", "type", "price", "quantity", "client_order_id", "seq", "time_in_force")
ALLOWED = {
    "submit": frozenset(_ORDER_FIELDS),
    "cancel": frozenset({"order_id", "seq", "symbol", "side", "client_order_id"}),
    "amend": frozenset({"order_id", "seq", "symbol", "side", "price", "quantity", "client_order_id"}),
    "auth": frozenset({"seq"}),
}


def _check_pointer(pointer: str) -> None:
    import jsonpointer

    try:
        jsonpointer.JsonPointer(pointer)
    except jsonpointer.JsonPointerException as exc:
        raise ValueError(f"expected a JSON pointer such as '/order_id' (RFC 6901), got {pointer!r}: {exc}") from None


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"expected a path starting with '/', got {path!r}")


def _check_statuses(codes: tuple[int, ...]) -> None:
    if not codes or any(not 100 <= c <= 599 for c in codes):
        raise ValueError(f"expected HTTP status codes between 100 and 599, got {list(codes)!r}")


@dataclass(frozen=True)
class OperationConfig:
    """``[api.submit]``, ``[api.cancel]``, ``[api.amend]``: one request of the order flow."""

    method: str = "POST"
    path: str = param(default="/orders", check=_check_path)
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    ok_status: tuple[int, ...] = param(default=(200, 201), check=_check_statuses)
    order_id: str | None = param(default=None, check=_check_pointer)  # where the answer carries the id
    status: str | None = param(default=None, check=_check_pointer)  # where it carries the order's state
    resting: tuple[str, ...] = ()  # states meaning "rests on the book, can be cancelled"
    filled: tuple[str, ...] = ()  # states counted as filled
    rejected: tuple[str, ...] = ()  # states counted as rejected


@dataclass(frozen=True)
class ValuesConfig:
    """``[api.values]``: how the generator's values are spelled on this API."""

    side: Mapping[str, str] = field(default_factory=lambda: {"buy": "buy", "sell": "sell"})
    type: Mapping[str, str] = field(default_factory=lambda: {"limit": "limit", "market": "market"})
    time_in_force: Mapping[str, str] = field(default_factory=lambda: {"limit": "gtc", "market": "ioc"})
    price_scale: float = param(default=1.0, min=1e-12)  # generator ticks -> API price

    def __post_init__(self) -> None:
        for key, needed in (("side", {"buy", "sell"}), ("type", {"limit", "market"}),
                            ("time_in_force", {"limit", "market"})):
            missing = needed - set(getattr(self, key))
            if missing:
                raise ValueError(f"values.{key}: expected entries for {', '.join(sorted(missing))}")


@dataclass(frozen=True)
class AuthConfig:
    """``[api.auth]``: a static header from an environment variable, or a login request per connection."""

    header: str = "Authorization"
    scheme: str = ""  # e.g. "Bearer": the header is "<scheme> <token>"
    env: str | None = None  # static: the token is this environment variable's value
    method: str = "POST"
    path: str | None = param(default=None, check=_check_path)  # login: this request, once per connection
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    token: str = param(default="/access_token", check=_check_pointer)
    ok_status: tuple[int, ...] = param(default=(200, 201), check=_check_statuses)

    def __post_init__(self) -> None:
        if (self.env is None) == (self.path is None):
            raise ValueError("auth: expected exactly one of 'env' (a static token) or 'path' (a login request)")


@dataclass(frozen=True)
class ServerTimingConfig:
    """``[api.server_timing]``: the Server-Timing layers the API reports, outermost first (each nested in the
    one before), with their names in tables (``labels``) and in sentences (``subjects``)."""

    layers: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    subjects: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> list[dict[str, str]]:
        """The layers as a result records them (``figures.server_timing_layers``)."""
        return [{"name": name, "label": self.labels.get(name, name),
                 "subject": self.subjects.get(name, f"{name} time")} for name in self.layers]


@dataclass(frozen=True)
class ApiProfile:
    """``[api]``: a whole order-entry API."""

    name: str = "custom"
    protocol: str = "http"  # or "grpc": operations' ``method`` is "package.Service/Method", ``body`` its JSON request
    headers: Mapping[str, str] = field(default_factory=dict)  # gRPC: metadata
    submit: OperationConfig = field(default_factory=OperationConfig)
    cancel: OperationConfig | None = None
    amend: OperationConfig | None = None
    values: ValuesConfig = field(default_factory=ValuesConfig)
    auth: AuthConfig | None = None
    server_timing: ServerTimingConfig = field(default_factory=ServerTimingConfig)

    def __post_init__(self) -> None:
        if self.protocol not in ("http", "grpc"):
            raise ValueError(f"protocol: expected 'http' or 'grpc', got {self.protocol!r}")
        if self.protocol == "grpc":
            for key, operation in (("submit", self.submit), ("cancel", self.cancel), ("amend", self.amend)):
                if operation is not None and (operation.method.count("/") != 1 or "." not in operation.method):
                    raise ValueError(f"{key}.method: with protocol 'grpc', expected 'package.Service/Method', "
                                     f"got {operation.method!r}")
            if self.auth is not None:
                raise ValueError("auth: not with protocol 'grpc' (send a token as metadata in 'headers')")
        if self.cancel is not None and self.submit.order_id is None:
            raise ValueError("submit.order_id: cancels need the order id of the submit's answer (a JSON pointer)")
        if self.submit.resting and self.submit.status is None:
            raise ValueError("submit.status: 'resting' needs the pointer to the order's state")


@dataclass(frozen=True)
class CompiledOperation:
    """One operation with its templates compiled."""

    config: OperationConfig
    method: bytes
    path: Template
    body: Template
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CompiledProfile:
    """A profile ready for the hot path, and the secrets (``${env:...}`` values) to keep out of output."""

    profile: ApiProfile
    submit: CompiledOperation
    cancel: CompiledOperation | None
    amend: CompiledOperation | None
    auth_path: Template | None
    auth_body: Template | None
    secrets: frozenset[str] = frozenset()


def _read_builtin(name: str) -> tuple[Mapping[str, Any], str]:
    package, resource = BUILTIN_PROFILES[name]
    text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    return tomllib.loads(text)["api"], f"built-in profile {name!r}"


def load_profile(spec: str | Mapping[str, Any], where: str, base_dir: Path | None = None) -> ApiProfile:
    """The profile ``spec`` names: a built-in name, a TOML file (its ``[api]`` table), or an inline table."""
    if isinstance(spec, Mapping):
        table, origin = spec, f"{where}"
    elif spec in BUILTIN_PROFILES:
        table, origin = _read_builtin(spec)
    else:
        path = Path(spec) if base_dir is None or Path(spec).is_absolute() else base_dir / spec
        if not path.is_file():
            raise ConfigError(f"{where}: {spec!r} is neither a built-in profile ({', '.join(BUILTIN_PROFILES)}) "
                              "nor a TOML file")
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the API profile: {exc}") from None
        table, origin = document.get("api", document), f"{path}: api"
    return load_params(ApiProfile, table, origin)


def _operation(config: OperationConfig, kind: str, origin: str, secrets: set[str]) -> CompiledOperation:
    allowed = ALLOWED[kind]
    try:
        path = compile_template(config.path, allowed, f"{origin}.{kind}.path", in_path=True, secrets=secrets)
        body = compile_template(config.body, allowed, f"{origin}.{kind}.body", secrets=secrets)
        headers = tuple((name, compile_template(value, (), f"{origin}.{kind}.headers.{name}", secrets=secrets)
                         .render({}).decode()) for name, value in config.headers.items())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    method = config.method if "/" in config.method else config.method.upper()  # gRPC methods keep their case
    return CompiledOperation(config, method.encode("ascii"), path, body, headers)


def compile_profile(profile: ApiProfile, origin: str = "api") -> CompiledProfile:
    """Compile every template; ConfigError naming the key for a placeholder a request cannot fill."""
    secrets: set[str] = set()
    shared = {name: compile_template(value, (), f"{origin}.headers.{name}", secrets=secrets).render({}).decode()
              for name, value in profile.headers.items()} if profile.headers else {}
    submit = _operation(profile.submit, "submit", origin, secrets)
    cancel = _operation(profile.cancel, "cancel", origin, secrets) if profile.cancel is not None else None
    amend = _operation(profile.amend, "amend", origin, secrets) if profile.amend is not None else None
    auth_path = auth_body = None
    auth = profile.auth
    if auth is not None and auth.path is not None:
        try:
            auth_path = compile_template(auth.path, ALLOWED["auth"], f"{origin}.auth.path", in_path=True,
                                         secrets=secrets)
            auth_body = compile_template(auth.body, ALLOWED["auth"], f"{origin}.auth.body", secrets=secrets)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    elif auth is not None and auth.env is not None:
        import os

        token = os.environ.get(auth.env)
        if not token:
            raise ConfigError(f"{origin}.auth.env: environment variable {auth.env} is not set")
        secrets.add(token)
    with_shared = [dataclasses.replace(op, headers=(*shared.items(), *op.headers)) if op else None
                   for op in (submit, cancel, amend)]
    return CompiledProfile(profile, with_shared[0], with_shared[1], with_shared[2],  # type: ignore[arg-type]
                           auth_path, auth_body, frozenset(secrets))
