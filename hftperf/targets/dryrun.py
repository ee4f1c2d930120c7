"""The dry run of an API profile: one submit and one cancel of the order it created, shown step by step.

It runs before any load (and alone as ``hftperf api check``), so a wrong pointer or status fails in a
second with the service's answer quoted, instead of after a 30 s run that silently sent another
workload. Requests go through httpx (off the hot path: clarity over speed). What is shown is
redacted: credential headers, URL passwords and every ``${env:...}`` value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hftperf.addresses import join_url
from hftperf.errors import ConfigError, TargetUnreachable
from hftperf.redact import REDACTED, redact_headers, redact_url
from hftperf.targets.profile import CompiledOperation, CompiledProfile

__all__ = ["DryRunStep", "auth_header", "dry_run", "extract", "format_price", "order_values"]

_QUOTED = 300  # characters of a response body quoted in an error


@dataclass(frozen=True)
class DryRunStep:
    """One request of the dry run and what came back (all redacted)."""

    operation: str
    method: str
    url: str
    request_body: str
    status: int
    response_body: str
    extracted: dict[str, Any]


def format_price(ticks: int, scale: float) -> str:
    """Generator ticks as the API's price text: ``101`` for scale 1, ``1.01`` for 0.01."""
    if scale == 1:
        return str(ticks)
    text = f"{ticks * scale:.10f}".rstrip("0").rstrip(".")
    return text or "0"


def order_values(profile: CompiledProfile, symbol: str, side: str, order_type: str, price_ticks: int,
                 quantity: int, sequence: int) -> dict[str, str]:
    """The placeholder values of one order, spelled the API's way."""
    values = profile.profile.values
    return {
        "symbol": symbol, "side": values.side[side], "type": values.type[order_type],
        "time_in_force": values.time_in_force[order_type], "price": format_price(price_ticks, values.price_scale),
        "quantity": str(quantity), "client_order_id": f"hftperf-check-{sequence}", "seq": str(sequence),
    }


def extract(body: bytes, pointer: str | None) -> Any:
    """The value at ``pointer`` in a JSON body; None when there is no pointer, no JSON or no such value."""
    if pointer is None:
        return None
    import jsonpointer

    try:
        return jsonpointer.resolve_pointer(json.loads(body), pointer, None)
    except (ValueError, TypeError):
        return None


def _scrub(text: str, secrets: frozenset[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _send(client: Any, base_url: str, op: CompiledOperation, values: dict[str, str], auth: dict[str, str],
          secrets: frozenset[str], name: str) -> tuple[DryRunStep, bytes]:
    import httpx

    path = op.path.render(values).decode("utf-8")
    body = op.body.render(values)
    url = join_url(base_url, path)
    headers = {**dict(op.headers), **auth}
    if body and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    try:
        response = client.request(op.method.decode(), url, content=body or None, headers=headers)
    except httpx.HTTPError as exc:
        raise TargetUnreachable(f"api check: {name} {redact_url(url)}: {type(exc).__name__}: {exc}") from None
    shown_headers = redact_headers(headers.items())
    step = DryRunStep(name, op.method.decode(), redact_url(url), _scrub(body.decode("utf-8", "replace"), secrets),
                      response.status_code, _scrub(response.text[:2000], secrets), {"headers": shown_headers})
    return step, response.content


def _fail(step: DryRunStep, problem: str) -> ConfigError:
    quoted = step.response_body[:_QUOTED] + ("…" if len(step.response_body) > _QUOTED else "")
    return ConfigError(f"api check: {step.operation} {step.method} {step.url} -> {step.status}: {problem}; "
                       f"response body: {quoted!r}")


def dry_run(profile: CompiledProfile, base_url: str, symbol: str, price_ticks: int,
            timeout_s: float = 5.0) -> list[DryRunStep]:
    """Submit one resting limit order and cancel it; ConfigError quoting the answer when the profile is wrong."""
    import httpx

    steps: list[DryRunStep] = []
    auth: dict[str, str] = {}
    with httpx.Client(timeout=timeout_s) as client:
        config = profile.profile.auth
        if config is not None:
            auth = _authenticate(client, base_url, profile, steps)
        values = order_values(profile, symbol, "buy", "limit", price_ticks, 1, 1)
        step, body = _send(client, base_url, profile.submit, values, auth, profile.secrets, "submit")
        steps.append(step)
        submit = profile.submit.config
        if step.status not in submit.ok_status:
            raise _fail(step, f"expected status {', '.join(map(str, submit.ok_status))} (api.submit.ok_status)")
        order_id, state = extract(body, submit.order_id), extract(body, submit.status)
        steps[-1].extracted.update(order_id=order_id, status=state)
        if submit.order_id is not None and order_id is None:
            raise _fail(step, f"api.submit.order_id {submit.order_id!r} matches nothing in the answer")
        if submit.status is not None and state is None:
            raise _fail(step, f"api.submit.status {submit.status!r} matches nothing in the answer")
        rests = not submit.resting or state in submit.resting
        # A service may fill everything (a simulator, a fake): not an error of the profile, but nothing to
        # cancel; the load's cancel turns then find no resting order, and the report says so.
        steps[-1].extracted["rests"] = rests
        if profile.cancel is not None and rests:
            values["order_id"] = str(order_id)
            step, _ = _send(client, base_url, profile.cancel, values, auth, profile.secrets, "cancel")
            steps.append(step)
            if step.status not in profile.cancel.config.ok_status:
                raise _fail(step, f"expected status {', '.join(map(str, profile.cancel.config.ok_status))} "
                                  "(api.cancel.ok_status)")
    return steps


def _authenticate(client: Any, base_url: str, profile: CompiledProfile, steps: list[DryRunStep]) -> dict[str, str]:
    """The auth header: the static token, or the one the login request returns."""
    import os

    import httpx

    config = profile.profile.auth
    assert config is not None
    if config.env is not None:
        token = os.environ.get(config.env, "")
    else:
        assert profile.auth_path is not None and profile.auth_body is not None
        url = join_url(base_url, profile.auth_path.render({"seq": "0"}).decode())
        body = profile.auth_body.render({"seq": "0"})
        headers = dict(config.headers) | ({"Content-Type": "application/json"} if body else {})
        try:
            response = client.request(config.method.upper(), url, content=body or None, headers=headers)
        except httpx.HTTPError as exc:
            raise TargetUnreachable(f"api check: login {redact_url(url)}: {type(exc).__name__}: {exc}") from None
        token_value = extract(response.content, config.token)
        step = DryRunStep("login", config.method.upper(), redact_url(url), REDACTED if body else "",
                          response.status_code, REDACTED if token_value else response.text[:2000], {})
        steps.append(step)
        if response.status_code not in config.ok_status or not isinstance(token_value, str):
            raise _fail(step, f"no token at api.auth.token {config.token!r}")
        token = token_value
    return {config.header: f"{config.scheme} {token}".strip()}


def auth_header(profile: CompiledProfile, base_url: str, timeout_s: float = 5.0) -> tuple[str, str] | None:
    """The header the load's requests carry (a login made now, once per run), or None without auth."""
    if profile.profile.auth is None:
        return None
    import httpx

    with httpx.Client(timeout=timeout_s) as client:
        ((name, value),) = _authenticate(client, base_url, profile, []).items()
    return name, value
