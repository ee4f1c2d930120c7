"""Exception hierarchy for set-up and configuration failures, and the process exit codes.

Errors on the hot path (a refused connection, a timeout) are data, not exceptions: see
``hftperf.loadgen.transport.ErrorClass``. What is raised from here is what stops a command
before or around a run; the CLI renders it as one line and maps it to an exit code.
"""

from __future__ import annotations

import enum

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
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class HftperfError(Exception):
    """Base of every error hftperf raises on purpose; the message is one line for the user."""

    exit_code: ExitCode = ExitCode.ERROR


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
