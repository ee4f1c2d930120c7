"""Keep credentials out of everything hftperf writes: results, reports, interval logs, messages.

Header values whose names look like credentials (``Authorization``, ``Cookie``, ``X-Api-Key``,
any name containing ``token``, ``secret``, ``password``, ...) and the names a user adds with
``[run] redact_headers`` / ``--redact-header`` become ``[redacted]``; so do a URL's userinfo
(``user:password@``) and query or fragment parameters with such names. The request on the wire
is untouched: only descriptions of it are.

This module is the one place that knows what a secret looks like. Structured values go through
``redact_url`` / ``redact_headers`` / ``describe_request``; free text (error lines, comments,
labels, logs) through ``redact_text``; JSON-ready documents (result.json, comparisons) through
``redact_data``. hftperf has no ``${env:NAME}`` expansion in configs, so no environment value
reaches output except the ``HFTPERF_*`` variables, which are ordinary [run] values (a target URL
from ``HFTPERF_TARGET`` is redacted like one from ``--target``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "describe_request",
    "is_sensitive",
    "redact_data",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED = "[redacted]"
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
        "x-goog-api-key",
    }
)
# Any name containing one of these words is treated as a credential too (x-upstream-token, client_secret).
_SENSITIVE_WORDS = re.compile(
    r"auth|token|secret|passw(or)?d|api[-_]?key|session|signature|credential|cookie", re.IGNORECASE
)
# NAME=VALUE in a query, a fragment, a keyword DSN ("password=x") or free text; the value ends at a
# separator or a quote. "[redacted]" itself has no "=", so redacting twice changes nothing.
_PAIR = re.compile(r"(?<![\w%.-])([\w%.-]+)=([^\s&;,#'\"`<>)]*)")
# A URL anywhere in a text: scheme://, then everything up to whitespace or a quote.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"`<>]+")
# Scheme-less userinfo, as in a gRPC target "user:pw@host:port" or a message that lost the scheme.
# Bounded: an unbounded run would rescan the rest of a long word from every ":" (quadratic time).
_USERINFO = re.compile(r"(?<![\w%.+-])[^\s/@:'\"`<>()\[\]]{1,128}:[^\s/@'\"`<>]{0,256}@(?=[\w\[])")
# "Name: value" for a credential-like name (a header in a message or a log line): the rest of the
# line, up to a quote, is the value. Not after a "." - a key path such as "headers.Authorization:"
# starts a validation message, whose value part params.describe_value already redacted.
_NAME_COLON = re.compile(r"(?<![\w.-])([A-Za-z][\w-]*)([ \t]*:[ \t]*)([^\s'\"`][^\n'\"`]*)")

# '"name": "value"' as in a JSON body or a Python dict quoted in a message.
_QUOTED_PAIR = re.compile(r"""(["'])([\w.-]+)\1(\s*:\s*)(["'])((?:\\.|(?!\4).)*)\4""")


def is_sensitive(name: str, extra: Iterable[str] = ()) -> bool:
    """True when a header or query-parameter name looks like it carries a credential."""
    lowered = name.strip().lower()
    return (
        lowered in SENSITIVE_HEADERS
        or bool(_SENSITIVE_WORDS.search(lowered))
        or lowered in {e.strip().lower() for e in extra}
    )


def redact_headers(headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()) -> dict[str, str]:
    """Headers as a dict for output, credential values replaced by ``[redacted]``."""
    extra = tuple(extra)
    return {name: REDACTED if is_sensitive(name, extra) else value for name, value in headers}


def _redact_pairs(text: str, extra: tuple[str, ...]) -> str:
    """``name=value`` pairs with a credential-like name (percent-decoded) get ``[redacted]`` values."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}={REDACTED}" if is_sensitive(unquote(name), extra) else match.group(0)

    return _PAIR.sub(replace, text)


def redact_url(url: str, extra: Iterable[str] = ()) -> str:
    """The URL without its userinfo and with credential-like query and fragment values redacted.

    Works on text that does not parse as a URL too (a bad port, a missing scheme): the request
    may have failed precisely because the URL was malformed, and the message still quotes it.
    """
    extra = tuple(extra)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return redact_text(url, extra) if "://" not in url else _redact_pairs(_strip_userinfo(url), extra)
    netloc, path = parts.netloc, parts.path
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    elif "@" in path and not _port_is_numeric(netloc):  # "u:pa/ss@host": a "/" inside the password
        netloc, path = f"{REDACTED}@{path.rpartition('@')[2].split('/', 1)[0]}", _after_host(path)
    query = _redact_pairs(parts.query, extra) if parts.query else parts.query
    fragment = _redact_pairs(parts.fragment, extra) if parts.fragment else parts.fragment
    if not parts.scheme and not netloc:  # no URL at all, e.g. "127.0.0.1:99999/?token=x"
        return redact_text(url, extra)
    if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
        return url  # nothing secret: as written (urlunsplit would turn "unix:///run/x" into "unix:/run/x")
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def _port_is_numeric(netloc: str) -> bool:
    """True unless ``netloc`` ends in ":" and something other than digits (a cut-off password)."""
    _, sep, port = netloc.rpartition("]")[2].rpartition(":")
    return not sep or not port or port.isdigit()


def _after_host(path: str) -> str:
    rest = path.rpartition("@")[2]
    return "/" + rest.split("/", 1)[1] if "/" in rest else ""


def _strip_userinfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority_end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority = rest[:authority_end]
    if "@" in authority:
        rest = f"{REDACTED}@{authority.rpartition('@')[2]}{rest[authority_end:]}"
    return f"{scheme}{sep}{rest}"


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """Free text (a message, a comment, a label, a log) with every credential in it redacted.

    Embedded URLs are redacted as by ``redact_url``; scheme-less ``user:password@host`` loses its
    userinfo; ``name=value``, ``Name: value`` and ``"name": "value"`` (JSON) with a credential-like
    name lose their value.
    """
    if not text:
        return text
    extra = tuple(extra)
    text = _URL.sub(lambda m: redact_url(m.group(0), extra), text)
    if "@" in text:
        text = _USERINFO.sub(f"{REDACTED}@", text)
    text = _redact_pairs(text, extra)

    def header(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}{match.group(2)}{REDACTED}" if is_sensitive(name, extra) else match.group(0)

    def quoted(match: re.Match[str]) -> str:
        quote, name, colon, value_quote = match.group(1, 2, 3, 4)
        if not is_sensitive(name, extra):
            return match.group(0)
        return f"{quote}{name}{quote}{colon}{value_quote}{REDACTED}{value_quote}"

    return _QUOTED_PAIR.sub(quoted, _NAME_COLON.sub(header, text))


def redact_data(value: Any, extra: Iterable[str] = ()) -> Any:
    """A JSON-ready document with every string redacted and string values of credential-like keys
    replaced (a ``{"Authorization": "..."}`` map, a ``"password"`` field); numbers are kept, so
    figures whose names merely contain such a word (a Server-Timing part ``auth``) survive."""
    extra = tuple(extra)
    if isinstance(value, str):
        return redact_text(value, extra)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(item, str) and is_sensitive(str(key), extra) else redact_data(item, extra)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(item, extra) for item in value)
    return value


def describe_request(
    method: str, url: str, headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()
) -> dict[str, Any]:
    """What was sent, for result files and JSON output: method, URL and headers, all redacted."""
    extra = tuple(extra)
    return {"method": method, "url": redact_url(url, extra), "headers": redact_headers(headers, extra)}
