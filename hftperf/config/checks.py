"""Value checks that more than one configuration section runs: names, positive numbers, addresses.

Each is a ``param(check=...)`` callable: it raises ValueError saying what was expected, and
``load_params`` puts the file and key path in front.
"""

from __future__ import annotations

import re

from hftperf.addresses import parse_grpc_target, parse_http_url

__all__ = ["check_cluster", "check_grpc_target", "check_http_url", "check_name", "check_positive"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_http_url(url: str) -> None:
    """An http(s) base URL, as ``hftperf.addresses`` parses it."""
    parse_http_url(url)


def check_grpc_target(target: str) -> None:
    """A gRPC ``HOST:PORT``, as ``hftperf.addresses`` parses it."""
    parse_grpc_target(target)


def check_cluster(address: str) -> None:
    """A Dask scheduler address or ``local:N``."""
    from hftperf.loadgen.executors import check_cluster_address  # the one place the forms are defined

    check_cluster_address(address)


def check_name(name: str) -> None:
    """A name that is safe in file names: letters, digits, '.', '_' or '-'."""
    if not _NAME_RE.match(name):
        raise ValueError(f"expected letters, digits, '.', '_' or '-' (it names files), got {name!r}")


def check_positive(value: float) -> None:
    """A number above zero."""
    if not value > 0:
        raise ValueError(f"expected a positive number, got {value!r}")
