"""Run the real ``convrec`` entry point in-process, as a user would from a shell."""

from __future__ import annotations

import sys

import pytest

from convrec.cli.main import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Returns (exit code, stdout, stderr) of ``convrec *args``."""
    old = sys.argv
    sys.argv = ["convrec", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def run_app_for_test(
    app: object, args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Like :func:`run_cli` for any typer app, through the same ``run_app`` wrapper."""
    from convrec.cli.common import run_app

    old = sys.argv
    sys.argv = ["convrec", *args]
    code = 0
    try:
        run_app(app)  # type: ignore[arg-type]
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err
