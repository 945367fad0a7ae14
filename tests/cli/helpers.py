"""Run the real ``convrec`` entry point in-process, as a user would from a shell."""

from __future__ import annotations

import sys

import pytest
import typer

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
