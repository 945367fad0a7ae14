"""docs/shapes.md shows real output: every ``$ convrec shapes ...`` block is re-run and compared.

Each example in the page is a ``name.py`` code block followed by a console block; the test
writes the files into a temporary folder, runs the command there (the real entry point,
in-process, 100 columns) and compares the output with the page. To refresh the page after a
deliberate change of the output: ``python -m tests.shapes.test_docs_shapes --write``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "shapes.md"
_FILE = re.compile(r"^`([\w.]+\.py)`:\n\n```python\n(.*?)```\n", re.S | re.M)
_CONSOLE = re.compile(r"^```console\n(\$ convrec shapes [^\n]*)\n(.*?)```\n", re.S | re.M)


def _run(command: str, folder: Path) -> str:
    from convrec.cli.common import console, run_app
    from convrec.cli.main import app

    args = shlex.split(command)[1:]
    out = io.StringIO()  # the console writes to whatever sys.stdout is at print time
    old_argv, old_cwd, old_width = sys.argv, os.getcwd(), console.width
    sys.argv = ["convrec", *args]
    console.width = 100
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            run_app(app)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        console.width = old_width
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def render(text: str) -> str:
    """``text`` with every console block's output replaced by a real run of its command."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, code in _FILE.findall(text):
            (folder / name).write_text(code, encoding="utf-8")
        return _CONSOLE.sub(
            lambda m: f"```console\n{m.group(1)}\n{_run(m.group(1)[2:], folder)}```\n", text)


def test_every_example_in_docs_shapes_is_real_output() -> None:
    pytest.importorskip("transformers")
    text = DOC.read_text(encoding="utf-8")
    assert len(_CONSOLE.findall(text)) >= 4
    rendered = render(text)
    for (cmd, want), (_, got) in zip(_CONSOLE.findall(text), _CONSOLE.findall(rendered),
                                     strict=True):
        assert got == want, f"docs/shapes.md is stale for: {cmd}"


if __name__ == "__main__" and "--write" in sys.argv:
    DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
