"""Typed parameters from TOML tables: ``param()`` fields and the ``load_params`` validator.

TOML keys name the quantity, Python fields carry the unit: ``rate = "1000/s"`` fills
``rate_per_s: float = param(key="rate", unit="rate_per_s")``. ``load_params`` builds any frozen
dataclass declared this way (config sections and each scenario's own keys), raising
``ConfigError`` that names the file, the key path and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
from collections.abc import Callable, Collection, Mapping
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from hftperf.errors import ConfigError
from hftperf.redact import REDACTED, is_sensitive
from hftperf.units import parse_duration_s, parse_duration_us, parse_percent, parse_rate_per_s, parse_size_bytes

__all__ = ["UNITS", "apply_value", "describe_value", "fields_by_key", "load_params", "param", "unknown_key_error"]

T = TypeVar("T")

# unit name -> (parser, expectation); parsers accept a string with a unit or a bare number.
UNITS: dict[str, tuple[Callable[[Any], float], str]] = {
    "duration_s": (parse_duration_s, "a duration such as '10s' or '500ms'"),
    "duration_us": (parse_duration_us, "a duration such as '250us' or '50ms'"),
    "rate_per_s": (parse_rate_per_s, "a rate such as '1000/s'"),
    "percent": (parse_percent, "a percentage such as '0.1%'"),
    "size_bytes": (parse_size_bytes, "a size such as '64KiB' or '10MB'"),
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def param(*, key: str | None = None, unit: str | None = None, default: Any = dataclasses.MISSING,
          default_factory: Any = dataclasses.MISSING, min: float | None = None, max: float | None = None,
          check: Callable[[Any], None] | None = None, scaled: bool = False) -> Any:
    """A dataclass field with config metadata: TOML ``key``, ``unit`` (see UNITS), bounds, a
    ``check`` that raises ValueError, and ``scaled`` (multiplied by the run's duration scale)."""
    if unit is not None and unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNITS)}")
    metadata = {"key": key, "unit": unit, "min": min, "max": max, "check": check, "scaled": scaled or None}
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={k: v for k, v in metadata.items() if v is not None})


# -- generic validation ---------------------------------------------------------------------


def _child(where: str, key: str) -> str:
    return f"{where} {key}" if where.endswith(":") or not where else f"{where}.{key}"


def describe_value(value: Any, path: str = "") -> str:
    """The value for a message: its repr (cut at 60 characters), a table as 'a table', and only its type
    when the key at the end of ``path`` names a credential (``client_secret``) or is a header (whose
    name may be one of ``[run] redact_headers``, unknown here)."""
    if isinstance(value, Mapping):
        return "a table"
    keys = re.split(r"[\s.:]+", re.sub(r"(\[\d+\])+$", "", path)) if path else [""]
    if is_sensitive(keys[-1]) or (len(keys) > 1 and keys[-2] == "headers"):  # any header: a custom secret name
        kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
        return f"{kinds.get(type(value), 'a value')} ({REDACTED})"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _strip_optional(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        rest = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _expectation(hint: Any, meta: Mapping[str, Any]) -> str:
    """What a value of this type looks like, for messages."""
    hint = _strip_optional(hint)
    origin, args = get_origin(hint), get_args(hint)
    if meta.get("unit"):
        return UNITS[meta["unit"]][1]
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        item = _expectation(args[0], {})
        plural = item.startswith(("a ", "an ")) and " " not in item.split(" ", 1)[1]
        return f"a list of {item.split(' ', 1)[1]}s" if plural else f"a list of values, each {item}"
    if origin in (dict, Mapping) or dataclasses.is_dataclass(hint):
        return "a table"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return "a path"
    return names.get(hint, "a value")


def _from_text(value: str, hint: Any) -> Any:
    """Read an environment or command-line string as ``hint`` (left unchanged when unclear)."""
    try:
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
    except ValueError:
        return value
    if hint is bool and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return value


def _convert(value: Any, hint: Any, path: str, meta: Mapping[str, Any], text: bool, scale: float) -> Any:
    """Validate and convert one value; raise ConfigError naming ``path`` and the expectation."""
    hint = _strip_optional(hint)
    origin, args = get_origin(hint), get_args(hint)
    if text and isinstance(value, str):
        value = _from_text(value, hint)
    wrong = ConfigError(f"{path}: expected {_expectation(hint, meta)}, got {describe_value(value, path)}")
    if meta.get("unit"):
        parser = UNITS[meta["unit"]][0]
        allowed = (str, int) if meta["unit"] == "size_bytes" else (str, int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise wrong
        try:
            result: Any = parser(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if meta.get("scaled"):
            result *= scale
    elif hint is Any:
        result = value
    elif hint is bool or hint is str:
        if not isinstance(value, hint):
            raise wrong
        result = value
    elif hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong
        result = value
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong
        result = float(value)
    elif isinstance(hint, type) and issubclass(hint, PurePath):
        if not isinstance(value, (str, PurePath)) or not str(value):
            raise wrong
        result = hint(value)
    elif origin is Literal:
        if value not in args or isinstance(value, bool):
            raise wrong
        result = value
    elif origin is tuple:
        if not isinstance(value, (list, tuple)) or (len(args) != 2 or args[1] is not Ellipsis):
            raise wrong
        result = tuple(_convert(item, args[0], f"{path}[{i}]", {}, text, scale) for i, item in enumerate(value))
    elif origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise wrong
        result = {str(k): _convert(v, args[1] if args else Any, _child(path, str(k)), {}, text, scale)
                  for k, v in value.items()}
    elif dataclasses.is_dataclass(hint) and isinstance(hint, type):
        result = load_params(hint, value, path, duration_scale=scale)
    else:
        raise TypeError(f"load_params cannot validate fields of type {hint!r} ({path})")
    _check_bounds(result, path, meta)
    return result


def _check_bounds(value: Any, path: str, meta: Mapping[str, Any]) -> None:
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{path}: expected at least {meta['min']}, got {describe_value(value, path)}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{path}: expected at most {meta['max']}, got {describe_value(value, path)}")
    if meta.get("check") is not None and value is not None:
        try:
            meta["check"](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def fields_by_key(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.metadata.get("key", f.name): f for f in dataclasses.fields(cast(Any, cls)) if f.init}


def unknown_key_error(path: str, key: str, known: Mapping[str, str] | Collection[str],
                      also_known: Collection[str] = ()) -> ConfigError:
    """Unknown ``key`` at ``path``; ``known`` maps field names to keys, so 'rate_per_s' suggests 'rate'.

    ``also_known`` are keys valid in the same table but read elsewhere (a scenario's name, duration, ...);
    every valid key is listed once.
    """
    by_name = known if isinstance(known, Mapping) else {}
    keys = list(dict.fromkeys([*also_known, *(by_name.values() if by_name else known)]))
    close = [by_name[key]] if key in by_name else difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{path}: unknown key{hint}; expected one of: {', '.join(keys)}")


def _key_names(by_key: Mapping[str, dataclasses.Field[Any]]) -> dict[str, str]:
    return {f.name: key for key, f in by_key.items()} | {key: key for key in by_key}


def load_params(cls: type[T], mapping: Any, where: str, *, duration_scale: float = 1.0,
                also_known: Collection[str] = ()) -> T:
    """Build frozen dataclass ``cls`` from ``mapping`` (a TOML table); ``where`` prefixes messages.

    Unknown keys, missing required keys, wrong types and bad units raise ConfigError naming
    ``where`` plus the key path; a ValueError from ``cls.__post_init__`` is reported at ``where``.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"load_params needs a dataclass, got {cls!r}")
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a table, got {describe_value(mapping)}")
    by_key = fields_by_key(cls)
    hints = get_type_hints(cls)
    for key in mapping:
        if key not in by_key:
            raise unknown_key_error(_child(where, str(key)), str(key), _key_names(by_key), also_known)
    kwargs: dict[str, Any] = {}
    for key, f in by_key.items():
        if key in mapping:
            kwargs[f.name] = _convert(mapping[key], hints[f.name], _child(where, key), f.metadata, False,
                                      duration_scale)
        elif f.metadata.get("scaled") and f.default is not dataclasses.MISSING:
            kwargs[f.name] = f.default * duration_scale  # defaults are scaled like written values
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            expected = _expectation(hints[f.name], f.metadata)
            raise ConfigError(f"{_child(where, key)}: missing required key; expected {expected}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def apply_value(obj: T, key: str, value: Any, where: str) -> T:
    """``obj`` with the field whose TOML key is ``key`` set from an environment/CLI value."""
    by_key = fields_by_key(type(obj))
    if key not in by_key:
        raise unknown_key_error(where, key, _key_names(by_key))
    f = by_key[key]
    converted = _convert(value, get_type_hints(type(obj))[f.name], where, f.metadata, True, 1.0)
    try:
        return cast(T, dataclasses.replace(cast(Any, obj), **{f.name: converted}))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
