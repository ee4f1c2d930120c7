"""Rich consoles and the one place where errors become a line on stderr and an exit code."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Self

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from hftperf.errors import DataError, ExitCode, HftperfError
from hftperf.redact import redact_text

__all__ = ["append_step_summary", "debug_enabled", "fail", "run_command", "stderr", "stdout"]

def _console(stderr: bool = False) -> Console:
    """A console; when output is not a terminal (CI logs, pipes) tables get room to breathe."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


stdout = _console()
stderr = _console(stderr=True)


def debug_enabled() -> bool:
    """True when HFTPERF_DEBUG is set: errors then show their traceback."""
    return bool(os.environ.get("HFTPERF_DEBUG"))


def append_step_summary(markdown: str) -> None:
    """GitHub Actions: append ``markdown`` to $GITHUB_STEP_SUMMARY when it is set."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(markdown + "\n")
        except OSError as exc:
            raise DataError(f"cannot append to GITHUB_STEP_SUMMARY {path}: {exc.strerror or exc}") from None


def fail(message: str) -> None:
    """Print one error line on stderr (no markup interpretation; a foreign multi-line message is joined)."""
    line = redact_text(" ".join(message.split()) if "\n" in message else message)  # the last gate for secrets
    stderr.file.write(f"hftperf: error: {line}\n")
    stderr.file.flush()


def _kind(exc: BaseException) -> str | None:
    """Which Click exception ``exc`` is ("Exit", "Abort", "NoArgsIsHelpError", "UsageError", "ClickException").

    Matched by class name along the MRO, restricted to classes from a ``click`` or ``typer`` module:
    typer ≤ 0.25 raises ``click.exceptions.*``, typer ≥ 0.26 its own copy (``typer._click``) and
    ``typer.exceptions``. Catching one module's classes silently misses the other's (that turned every
    usage error into a traceback with exit 1 once), so the boundary depends on no particular copy.
    """
    for cls in type(exc).__mro__:
        module = cls.__module__.split(".", 1)[0]
        if module in ("click", "typer") and cls.__name__ in _KINDS:
            return cls.__name__
    return None


_KINDS = ("Exit", "Abort", "NoArgsIsHelpError", "UsageError", "ClickException")


def usage_line(exc: Any) -> str:
    """One line for a Click usage error: the command, the message (with Click's close match), the help hint."""
    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", "") or "hftperf"
    return f"{path}: {message} (see '{path} --help')"


def run_command(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the Typer app in standalone=False mode and map every outcome to an exit code."""
    try:
        result = app(args=args, standalone_mode=False)
    except HftperfError as exc:
        if debug_enabled():
            raise
        fail(str(exc))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        kind = _kind(exc)
        if debug_enabled():
            raise
        if kind is None:  # a bug: still one line and not exit 1, which CI reads as "a threshold failed"
            fail(f"internal error: {type(exc).__name__}: {exc} "
                 "(a bug in hftperf; HFTPERF_DEBUG=1 shows the traceback)")
            return int(ExitCode.ERROR)
        if kind == "Exit":
            return int(getattr(exc, "exit_code", 0))
        if kind == "Abort":
            fail("interrupted")
            return int(ExitCode.INTERRUPTED)
        if kind == "NoArgsIsHelpError":
            stderr.file.write(str(exc.format_message()).rstrip() + "\n")  # type: ignore[attr-defined]
            return int(ExitCode.ERROR)
        fail(usage_line(exc))
        return int(ExitCode.ERROR)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


class LiveLine:
    """A transient one-line live display (rich Live), shown only when ``enabled``."""

    def __init__(self, console: Console, enabled: bool, initial: str = "starting…") -> None:
        self.console = console
        self.enabled = enabled
        self._initial = initial
        self._live: Live | None = None

    @property
    def active(self) -> bool:
        """True while the line is on screen."""
        return self._live is not None

    def show(self, line: str) -> None:
        """Replace the line's text."""
        if self._live is not None:
            self._live.update(Text(line))

    def __enter__(self) -> Self:
        if self.enabled:
            self._live = Live(Text(self._initial), console=self.console, transient=True, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
