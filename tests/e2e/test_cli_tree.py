"""Every command and subcommand: an unknown flag, a missing argument and a bad value each exit 2 with one line.

The tree is walked from the Typer app itself, so a new command is covered without editing this file.
Runs in process (the same ``run_command`` boundary the console script uses) for speed; a few cases
also go through the real console script to prove the entry point maps them the same way.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from hftperf.cli import app
from hftperf.cli.console import run_command


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    commands = getattr(command, "commands", None)
    if commands:
        yield path, command
        for name, sub in sorted(commands.items()):
            yield from _walk(sub, (*path, name))
    else:
        yield path, command


TREE = list(_walk(typer.main.get_command(app)))
LEAVES = [(path, cmd) for path, cmd in TREE if not getattr(cmd, "commands", None)]
GROUPS = [(path, cmd) for path, cmd in TREE if getattr(cmd, "commands", None)]


def _run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = run_command(app, args)
    out, err = capfd.readouterr()
    return code, out, err


def _assert_one_usage_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("hftperf: error: "), err
    assert "internal error" not in lines[0], err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_tree_holds_every_command() -> None:
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"run", "load", "report", "compare", "ab", "scenarios", "stack up", "stack down"} <= names


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=lambda p: " ".join(p))
def test_unknown_flag_names_the_flag(path: tuple[str, ...], capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([*path, "--no-such-flag"], capfd)
    _assert_one_usage_line(code, err, "--no-such-flag", " ".join(path))


@pytest.mark.parametrize("path", [p for p, _ in GROUPS if p], ids=lambda p: " ".join(p))
def test_unknown_subcommand_of_a_group(path: tuple[str, ...], capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([*path, "no-such-command"], capfd)
    _assert_one_usage_line(code, err, "no-such-command")


REQUIRED = [(p, c) for p, c in LEAVES if any(getattr(x, "required", False) for x in c.params)]


@pytest.mark.parametrize("path", [p for p, _ in REQUIRED], ids=lambda p: " ".join(p))
def test_missing_argument_names_it(path: tuple[str, ...], capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(list(path), capfd)
    _assert_one_usage_line(code, err, "Missing")


def _typed_options(command: Any) -> Iterator[tuple[str, str]]:
    """(flag, a value its type rejects) for every int/float option, read from the command function's hints
    (Click's and typer's parameter objects differ between versions; the annotations do not)."""
    hints = typing.get_type_hints(command.callback) if command.callback else {}
    for param in command.params:
        flags = [o for o in getattr(param, "opts", []) if o.startswith("--")]
        hint = hints.get(param.name)
        if not flags or hint is None:
            continue
        if {int, float} & ({hint} | set(typing.get_args(hint))) and bool not in typing.get_args(hint):
            yield flags[0], "not-a-number"


TYPED = [(p, flag, bad) for p, c in LEAVES for flag, bad in _typed_options(c)]


@pytest.mark.parametrize(("path", "flag", "bad"), TYPED, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_number_option_rejects_text(path: tuple[str, ...], flag: str, bad: str,
                                      capfd: pytest.CaptureFixture[str]) -> None:
    args = [*path, flag, bad]
    if path in {p for p, _ in REQUIRED}:
        args += ["http://127.0.0.1:9/"] * sum(1 for x in dict(LEAVES)[path].params if getattr(x, "required", False))
    code, _, err = _run(args, capfd)
    _assert_one_usage_line(code, err, flag)


def test_no_arguments_shows_help_and_exits_2(capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run([], capfd)
    assert code == 2 and "Traceback" not in err + out
    assert "run" in err + out and "load" in err + out


def test_close_match_is_suggested(capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["load", "--conections", "4", "http://127.0.0.1:1/"], capfd)
    _assert_one_usage_line(code, err, "--conections", "--connections")


def test_bracketed_help_text_survives_rich_markup(capfd: pytest.CaptureFixture[str]) -> None:
    for command in ("compare", "ab"):
        code, out, _ = _run([command, "--help"], capfd)
        assert code == 0 and "[compare]" in out, out


@pytest.mark.parametrize(
    "args",
    [["run", "--bogus"], ["load"], ["stack", "down", "--bogus"], [], ["load", "-m", "FOO", "http://127.0.0.1:1/"]],
    ids=lambda a: " ".join(a) or "(none)",
)
def test_the_console_script_maps_usage_errors_to_2(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "hftperf", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
