"""``${VAR}``, ``${VAR:-default}`` interpolation as the Compose Specification defines it, and ``.env`` files.

Supported forms: ``$VAR``, ``${VAR}``, ``${VAR:-default}`` (unset or empty), ``${VAR-default}``
(unset), ``${VAR:?message}`` / ``${VAR?message}`` (required), ``$$`` (a literal ``$``).
The default may itself contain ``${...}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from hftperf.errors import ConfigError

__all__ = ["interpolate", "read_env_file"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional ``export``, quotes stripped) of an env file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the env file: {exc.strerror or exc}") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {raw.strip()!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:  # an inline comment after an unquoted value
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    """``text`` with every variable reference replaced from ``env``; ``where`` names it in errors."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$":
            out.append(char)
            i += 1
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2, where)
            out.append(_expand(text[i + 2 : end], env, where))
            i = end + 1
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int, where: str) -> int:
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ConfigError(f"{where}: unclosed '${{' in {text!r}")


def _expand(body: str, env: Mapping[str, str], where: str) -> str:
    match = _NAME.match(body)
    if match is None:
        raise ConfigError(f"{where}: invalid interpolation '${{{body}}}' (expected ${{NAME}} or ${{NAME:-default}})")
    name, rest = match.group(), body[match.end() :]
    value = env.get(name)
    if rest == "":
        return value or ""
    for op in (":-", "-", ":?", "?", ":+", "+"):
        if rest.startswith(op):
            arg = interpolate(rest[len(op) :], env, where)
            missing = value is None or (op.startswith(":") and value == "")
            if op in (":-", "-"):
                return arg if missing else str(value)
            if op in (":+", "+"):
                return "" if missing else arg
            if missing:
                raise ConfigError(f"{where}: variable {name} is required: {arg or 'not set'}")
            return str(value)
    raise ConfigError(f"{where}: invalid interpolation '${{{body}}}' (expected ${{NAME}} or ${{NAME:-default}})")
