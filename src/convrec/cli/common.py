"""Shared CLI plumbing: one-line errors with exit code 2, the console, common options."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding datasets in their original layout (mnist/, ml-100k/). "
        "Default: $CONVREC_DATA, then the cache, then a verified download.",
    ),
]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2."""


def fail(message: str) -> NoReturn:
    """Print one clear line to stderr and exit with code 2 (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def run_app(app: typer.Typer) -> None:
    """Run a typer app, turning user errors (bad values, bad files) into one line + exit 2."""
    from convrec.data.registry import DatasetNotFoundError

    try:
        # with standalone_mode=False click returns the code of typer.Exit instead of exiting
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (UserError, ValueError, KeyError, FileNotFoundError, DatasetNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors and aborts
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            err_console.print("aborted")
            sys.exit(1)
        raise
