"""Every command's help shows an example, and the top-level help stays light."""

from __future__ import annotations

import subprocess
import sys

import click
import typer.main

from convrec.cli.main import app


def _leaf_commands(command: click.Command, path: list[str]) -> list[tuple[str, click.Command]]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [(" ".join(path), command)]
    leaves: list[tuple[str, click.Command]] = []
    for name, sub in subs.items():
        leaves.extend(_leaf_commands(sub, [*path, name]))
    return leaves


def test_every_command_help_has_an_example() -> None:
    leaves = _leaf_commands(typer.main.get_command(app), ["convrec"])
    assert len(leaves) > 20
    missing = [path for path, cmd in leaves if "Example" not in (cmd.help or "")]
    assert missing == []


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, convrec.cli.main\n"
        "heavy = [m for m in ('torch', 'matplotlib', 'pyspark', 'fastapi', 'numba') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
