"""Run the real ``convrec`` entry point in-process, as a user would from a shell."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
import typer.main

from convrec.cli.common import run_app
from convrec.cli.main import app as convrec_app


def run_app_for_test(
    app: typer.Typer, args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a typer app run through ``run_app``, as the shell does."""
    old = sys.argv
    sys.argv = ["convrec", *args]
    code = 0
    try:
        run_app(app)
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``convrec *args``."""
    return run_app_for_test(convrec_app, args, capsys)


def walk_commands(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every runnable command of ``convrec`` as ``(("movies", "similar"), command)``.

    Read from the live typer/click tree, so a command added anywhere is walked without
    anyone remembering to list it.
    """
    command = command if command is not None else typer.main.get_command(convrec_app)
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in sorted(subcommands.items()):
        yield from walk_commands(sub, (*path, name))
