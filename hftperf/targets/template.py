"""Request templates of an API profile, compiled once into byte segments.

``${name}`` placeholders are split out at load time, so building a request on the hot path is one
``bytes.join`` of constant segments and the few values of that request; no parsing, no dict of the
whole body. ``${env:NAME}`` is resolved once when the profile is loaded and becomes a constant
segment (its value is a secret: it is registered for redaction and never echoed).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["GENERATED", "Template", "compile_template", "generated_value", "is_safe"]

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_.-]*|rand:-?\d+:-?\d+|choice:[^}]+)$")
# Generated per request by the caller (seeded), like the body templates of `hftperf load --template`.
GENERATED = ("rand:", "choice:")


@dataclass(frozen=True)
class Template:
    """Constant segments and the placeholder that goes between each pair; ``render`` fills them."""

    text: str  # as written (for messages; may contain ${env:...} but never its value)
    segments: tuple[bytes, ...]  # len(names) + 1 constant pieces
    names: tuple[str, ...]
    in_path: bool  # values are URL-quoted (a path) instead of JSON-escaped (a body)

    def render(self, values: Mapping[str, str]) -> bytes:
        """The template with ``values`` (text) put in, each escaped for where it goes (path or JSON body)."""
        if not self.names:
            return self.segments[0]
        escape = _path_value if self.in_path else _json_value
        parts = [self.segments[0]]
        for name, segment in zip(self.names, self.segments[1:], strict=True):
            parts.append(escape(values[name]))
            parts.append(segment)
        return b"".join(parts)

    def render_safe(self, values: Mapping[str, bytes]) -> bytes:
        """The hot path: ``values`` are bytes that need no escaping anywhere (see :func:`is_safe`)."""
        segments, names = self.segments, self.names
        if not names:
            return segments[0]
        if len(names) == 1:
            return segments[0] + values[names[0]] + segments[1]
        parts = [segments[0]]
        for name, segment in zip(names, segments[1:], strict=True):
            parts.append(values[name])
            parts.append(segment)
        return b"".join(parts)


_SAFE = re.compile(r"^[A-Za-z0-9._~-]*$")


def is_safe(value: str) -> bool:
    """True when ``value`` reads the same in a URL path and inside a JSON string (digits, UUIDs, symbols)."""
    return bool(_SAFE.match(value))


def _json_value(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8")  # escaped as inside a JSON string


def _path_value(value: str) -> bytes:
    return quote(value, safe="").encode("ascii")


def compile_template(text: str, allowed: Collection[str], where: str, *, in_path: bool = False,
                     secrets: set[str] | None = None) -> Template:
    """Compile ``text``; ValueError naming ``where`` and the placeholder when it is not in ``allowed``.

    ``${env:NAME}`` is always allowed: it is read now (a missing variable is an error) and its value
    added to ``secrets``.
    """
    segments: list[bytes] = []
    names: list[str] = []
    position = 0
    pending = ""
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1).strip()
        if not _NAME.match(name):
            raise ValueError(f"{where}: malformed placeholder ${{{match.group(1)}}}")
        pending += text[position:match.start()]
        position = match.end()
        if name.startswith("env:"):
            variable = name[4:]
            value = os.environ.get(variable)
            if value is None:
                raise ValueError(f"{where}: environment variable {variable} (in ${{env:{variable}}}) is not set")
            if secrets is not None and value:
                secrets.add(value)
            pending += value
            continue
        if name.startswith("rand:"):
            low, high = (int(v) for v in name[5:].split(":"))
            if low > high:
                raise ValueError(f"{where}: ${{{name}}}: expected LO <= HI")
        if name not in allowed and not name.startswith(GENERATED):
            raise ValueError(f"{where}: placeholder ${{{name}}} is not available here; expected one of "
                             f"{', '.join('${' + a + '}' for a in sorted(allowed))} or ${{env:NAME}}")
        segments.append(pending.encode("utf-8"))
        names.append(name)
        pending = ""
    segments.append((pending + text[position:]).encode("utf-8"))
    return Template(text, tuple(segments), tuple(names), in_path)


def generated_value(name: str, rng: random.Random) -> str:
    """The value of a ``rand:LO:HI`` or ``choice:a|b`` placeholder, drawn from ``rng``."""
    if name.startswith("rand:"):
        low, high = name[5:].split(":")
        return str(rng.randint(int(low), int(high)))
    return rng.choice(name[7:].split("|"))
