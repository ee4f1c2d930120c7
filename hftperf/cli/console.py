"""Rich consoles and the one place where errors become a line on stderr and an exit code."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import click
import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from hftperf.errors import DataError, ExitCode, HftperfError

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
    """Print one error line on stderr (no markup interpretation of the message)."""
    stderr.file.write(f"hftperf: error: {message}\n")
    stderr.file.flush()


def run_command(app: typer.Typer) -> int:
    """Run the Typer app in standalone=False mode and map every outcome to an exit code."""
    try:
        result = app(standalone_mode=False)
    except HftperfError as exc:
        if debug_enabled():
            raise
        fail(str(exc))
        return int(exc.exit_code)
    except click.exceptions.Abort:
        fail("interrupted")
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        fail("interrupted")
        return int(ExitCode.INTERRUPTED)
    except click.exceptions.ClickException as exc:
        exc.show()
        return int(ExitCode.ERROR)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
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
