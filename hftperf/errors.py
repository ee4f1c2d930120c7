"""Exception hierarchy for set-up and configuration failures, and the process exit codes.

Errors on the hot path (a refused connection, a timeout) are data, not exceptions: see
``hftperf.loadgen.transport.ErrorClass``. What is raised from here is what stops a command
before or around a run; the CLI renders it as one line and maps it to an exit code.
"""

from __future__ import annotations

import enum
from typing import Any

from hftperf.redact import redact_text

__all__ = [
    "ConfigError",
    "DataError",
    "ExitCode",
    "HftperfError",
    "InfrastructureError",
    "TargetUnreachable",
    "UsageError",
]


class ExitCode(enum.IntEnum):
    """Process exit statuses shared by every command."""

    OK = 0
    FAILED = 1  # a threshold failed or a regression was found
    ERROR = 2  # usage, configuration, input or infrastructure error
    INCONCLUSIVE = 3  # the instrument could not measure (load generator fell behind): machine too busy
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class HftperfError(Exception):
    """Base of every error hftperf raises on purpose; the message is one line for the user.

    The message is redacted here, once for every raiser: a validation message that quotes a
    URL, a DSN or a header (``got 'http://u:pw@h/?token=x'``) never carries the secret on.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))


class UsageError(HftperfError):
    """A command-line argument is malformed or inconsistent."""


class ConfigError(HftperfError):
    """A configuration file or value is invalid (message names file, key and expectation)."""


class TargetUnreachable(HftperfError):
    """The target service cannot be reached at the given address."""


class InfrastructureError(HftperfError):
    """Something hftperf depends on (a stack, a process, a port, Docker) failed."""


class DataError(HftperfError):
    """A results file, histogram or interval log cannot be read or is incompatible."""
