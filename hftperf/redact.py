"""Keep credentials out of everything hftperf writes: results, reports, interval logs, messages.

Header values whose names look like credentials (``Authorization``, ``Cookie``, ``X-Api-Key``,
any name containing ``token``, ``secret``, ``password``, ...) and the names a user adds with
``[run] redact_headers`` become ``[redacted]``; so do a URL's user:password part and query
parameters with such names. The request on the wire is untouched: only descriptions of it are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SENSITIVE_HEADERS", "describe_request", "is_sensitive", "redact_headers", "redact_url"]

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


def redact_url(url: str, extra: Iterable[str] = ()) -> str:
    """The URL without a user:password part and with credential-like query values redacted."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url.split("@", 1)[1] if "@" in url else url  # unparsable: at least drop a userinfo prefix
    netloc = parts.netloc
    if "@" in netloc:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{REDACTED}@{host}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        extra = tuple(extra)
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_sensitive(name, extra) for name, _ in pairs):
            query = urlencode([(n, REDACTED if is_sensitive(n, extra) else v) for n, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe_request(
    method: str, url: str, headers: Iterable[tuple[str, str]], extra: Iterable[str] = ()
) -> dict[str, Any]:
    """What was sent, for result files and JSON output: method, URL and headers, all redacted."""
    extra = tuple(extra)
    return {"method": method, "url": redact_url(url, extra), "headers": redact_headers(headers, extra)}
