"""Loading a run configuration: the TOML file, then the environment, then the CLI overrides.

Precedence, written once in ``load_config``: defaults < TOML file < environment (``HFTPERF_*``)
< CLI overrides. Every message names where a value came from and what was expected, e.g.
``configs/x.toml: scenario[2].rate: expected a rate such as '1000/s' or '60000/m', got 'fast'``
(array indices count from 0, as in TOML and JSON paths).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from hftperf.config.run import RunConfig, RunSection
from hftperf.config.scenario import parse_scenarios
from hftperf.config.sections import GrpcChannelOptions, HistoryOptions, StackOptions
from hftperf.errors import ConfigError, UsageError
from hftperf.params import apply_value, load_params, unknown_key_error

__all__ = ["ENV_VARS", "load_config", "read_toml"]

ENV_VARS = {  # environment variable -> [run] key
    "HFTPERF_TARGET": "target",
    "HFTPERF_GRPC_TARGET": "grpc_target",
    "HFTPERF_STACK": "stack",
    "HFTPERF_DURATION_SCALE": "duration_scale",
    "HFTPERF_CLUSTER": "cluster",
    "HFTPERF_OUT": "out",
    "HFTPERF_DOCKER_BASE_IMAGE": "stack.base_image",  # dotted: a key of another section
    "HFTPERF_HISTORY": "history.url",
}
# [compare]: compare/options; [api]: targets; [ab]: cli/ab_revs
_TOP_LEVEL = ("run", "stack", "grpc", "scenario", "compare", "history", "api", "ab")


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed document and the SHA-256 of the file's bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror or exc}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: expected UTF-8 text, got an invalid byte at offset {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return document, hashlib.sha256(data).hexdigest()


def _override_where(key: str) -> str:
    return f"--{key.replace('_', '-')}" if "." not in key else f"override {key}"


def _resolve_stack(run: RunSection, layer: Mapping[str, int], where: Mapping[str, str]) -> RunSection:
    """A target set at a higher precedence than ``stack`` means 'use that service, start nothing'."""
    target_keys = [key for key in ("target", "grpc_target") if getattr(run, key) is not None]
    if not target_keys:  # stack 'none' without one: the suite asks for it if a scenario sends (not in process)
        return run
    if run.stack == "none":
        return run
    top = max(target_keys, key=lambda key: layer[key])
    if layer[top] > layer["stack"]:
        return dataclasses.replace(run, stack="none")
    raise ConfigError(f"{where['stack']}: stack {run.stack!r} starts its own service, but a target is "
                      f"also set ({where[top]}); use stack 'none' to benchmark an existing service")


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None,
                known_kinds: Collection[str] | Mapping[str, type | None] | None = None) -> RunConfig:
    """Load a run configuration: defaults < TOML file < environment < ``overrides``.

    ``known_kinds`` lists the scenario kinds; when it maps each kind to its params dataclass,
    every scenario's own keys are validated here too, so that bad params fail before a run.
    ``overrides`` uses [run] keys (``target``, ``out``, ``duration_scale``, ...) and dotted keys
    for the other sections (``stack.workers``, ``grpc.keepalive_time``); None values are
    skipped. ``environ`` defaults to no environment (pass ``os.environ`` from the CLI).
    Invalid files and environment raise ConfigError, invalid overrides UsageError.
    """
    document: dict[str, Any] = {}
    digest: str | None = None
    file = str(path) if path is not None else "defaults"
    if path is not None:
        document, digest = read_toml(path)
        for key in document:
            if key not in _TOP_LEVEL:
                raise unknown_key_error(f"{file}: {key}", key, _TOP_LEVEL)
    run_table = document.get("run", {})
    run = load_params(RunSection, run_table, f"{file}: run")
    if path is not None and "label" not in run_table:
        run = dataclasses.replace(run, label=re.sub(r"[^A-Za-z0-9._-]", "-", path.stem) or "default")
    sections: dict[str, Any] = {
        "stack": load_params(StackOptions, document.get("stack", {}), f"{file}: stack"),
        "grpc": load_params(GrpcChannelOptions, document.get("grpc", {}), f"{file}: grpc"),
        "history": load_params(HistoryOptions, document.get("history", {}), f"{file}: history"),
    }
    layer = {key: 1 if isinstance(run_table, Mapping) and key in run_table else 0
             for key in ("stack", "target", "grpc_target")}
    where = {key: f"{file}: run.{key}" if layer[key] else "the default" for key in layer}
    if sections["stack"].backend is not None and not layer["stack"]:  # [stack] backend = "compose"
        run = dataclasses.replace(run, stack=sections["stack"].backend)
        layer["stack"], where["stack"] = 1, f"{file}: stack.backend"
    for variable, key in ENV_VARS.items():
        value = (environ or {}).get(variable, "")
        if value.strip() and "." in key:
            section, sub = key.split(".", 1)
            sections[section] = apply_value(sections[section], sub, value.strip(), f"environment variable {variable}")
        elif value.strip():
            run = apply_value(run, key, value.strip(), f"environment variable {variable}")
            layer[key], where[key] = 2, f"environment variable {variable}"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        try:
            if "." in key and key.split(".", 1)[0] in sections:
                section, sub = key.split(".", 1)
                sections[section] = apply_value(sections[section], sub, value, _override_where(key))
            else:
                run = apply_value(run, key, value, _override_where(key))
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if key in layer:
            layer[key], where[key] = 3, _override_where(key)
    run = _resolve_stack(run, layer, where)
    scenarios = (parse_scenarios(document.get("scenario"), file, run.duration_scale, known_kinds,
                                 document.get("api"))
                 if path is not None else ())
    return RunConfig(
        label=run.label, stack=run.stack, target=run.target, grpc_target=run.grpc_target,
        out_dir=run.out_dir, duration_scale=run.duration_scale, repeat=run.repeat,
        deadline_s=run.deadline_s, redact_headers=run.redact_headers, cluster=run.cluster,
        max_pacer_lag_us=run.max_pacer_lag_us, max_steal_share=run.max_steal_share,
        retry_inconclusive=run.retry_inconclusive,
        stack_options=sections["stack"], grpc=sections["grpc"], history=sections["history"], scenarios=scenarios,
        source_path=path, source_sha256=digest, stack_source=where["stack"],
    )
