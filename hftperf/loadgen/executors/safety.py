"""Remote load workers send only to loopback targets unless the run explicitly allows others.

Distributed load against a production host by accident is the failure to prevent: a cluster
worker refuses a target whose name resolves to anything outside 127.0.0.0/8 and ::1 (checked on
the coordinator before the run, and again on each worker, where the name is resolved there).
"""

from __future__ import annotations

import ipaddress
import socket

from hftperf.errors import UsageError
from hftperf.loadgen.plan import LoadPlan

__all__ = ["REMOTE_TARGET_FLAG", "check_loopback_target", "is_loopback_host", "plan_host_port"]

REMOTE_TARGET_FLAG = "--allow-remote-target"


def plan_host_port(plan: LoadPlan) -> tuple[str, int]:
    """The host and port a plan sends to (HTTP or gRPC)."""
    return plan.request.host_port


def is_loopback_host(host: str) -> bool:
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_loopback_target(plan: LoadPlan, allow_remote_target: bool) -> None:
    """Raise UsageError unless the plan's target is loopback or remote targets are allowed."""
    if allow_remote_target:
        return
    host, port = plan_host_port(plan)
    if not is_loopback_host(host):
        raise UsageError(f"target {host}:{port} is not a loopback address: cluster load workers send only to "
                         f"127.0.0.0/8 or ::1 unless the run is started with {REMOTE_TARGET_FLAG}")
