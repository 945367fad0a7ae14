"""Every command's help shows an example, and the top-level help stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from convrec.cli.common import walk_commands


def test_every_command_help_has_an_example() -> None:
    leaves = list(walk_commands())
    assert len(leaves) > 20
    missing = [" ".join(path) for path, cmd in leaves if "Example" not in (cmd.help or "")]
    assert missing == []


HEAVY = ("torch", "matplotlib", "pyspark", "fastapi", "numba", "sklearn", "pandas")


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["movies", "--help"], ["mnist", "train", "--help"], ["studio", "--help"]],
    ids=lambda args: " ".join(args) or "import convrec",
)
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    """``import convrec`` and ``convrec ... --help`` answer without the heavy libraries."""
    code = (
        "import sys\n"
        "import convrec\n"
        f"sys.argv = ['convrec', *{args!r}]\n"
        "if len(sys.argv) > 1:\n"
        "    from convrec.cli.main import main\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def test_help_paragraphs_are_not_broken_at_the_source_lines() -> None:
    """typer's rich mode keeps a docstring's line breaks: a paragraph wrapped at 100 columns
    in the source came out as ragged half-lines on an 80-column terminal."""
    broken = []
    for path, cmd in walk_commands():
        for paragraph in (cmd.help or "").split("\n\n")[1:]:
            lines = paragraph.splitlines()
            if any(not line.startswith("Example:") for line in lines[1:]):
                broken.append((" ".join(path), paragraph))
    assert broken == []
