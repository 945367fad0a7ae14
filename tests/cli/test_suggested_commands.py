"""Every ``convrec ...`` command that a message, a help text or the documentation suggests
exists: it parses, with its subcommands and options, and its ``--help`` exits 0.

The commands are collected by regular expressions over the sources (``src/**/*.py``,
``README.md``, ``docs/**/*.md`` and the notebooks' cells), never listed by hand, so a message
that names a command nobody wrote (``convrec data download ml-100k``) fails here.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from convrec.cli.common import walk_commands
from tests.cli.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = sorted({path[0] for path, _ in walk_commands()})

_TAIL = r"(?:(?!\[/)[^`\n])*"  # up to a closing backtick, rich's closing [/] or the line's end
# a command quoted as code: `convrec ...`, [bold]convrec ...[/], "$ convrec ...", "Example: ..."
QUOTED = re.compile(rf"(?:`|\[bold\]|\$ |Example: )convrec((?: {_TAIL})?)")
# a command at the start of a line (code blocks) or named in prose by a real top-level command
LINE = re.compile(r"^\s*(?:[A-Z_]+=\S+ )*convrec((?: [^\n]*)?)$", re.MULTILINE)
_NAMES = "|".join(map(re.escape, TOP_LEVEL))
PROSE = re.compile(rf"\bconvrec((?: (?:{_NAMES})\b{_TAIL}))")
# in Python sources a plain mention ends with its string literal
PROSE_PY = re.compile(rf"\bconvrec((?: (?:{_NAMES})\b(?:(?!\[/)[^`\n\"'])*))")
# where a command ends and the prose (or the shell) goes on, outside quotes
STOP_CHARS = ";)|#>"  # "u1|folds" lists choices; "# ..." is a comment
STOP_WORDS = {"or", "and", "then", "to", "for", "while", "on", "with", "in", "prints", "..."}
PLACEHOLDER = re.compile(r"\{[^}]*\}")  # f-string fields in messages: {name}, {path}


def _cut(tail: str) -> str:
    """``tail`` up to the first unquoted stop character or prose word."""
    quote = ""
    for i, char in enumerate(tail):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        else:
            opens_prose = char == "(" and tail[i - 1 : i] == " "
            next_word = tail[i + 1 :].split(" ", 1)[0] if char == " " else ""
            if char in STOP_CHARS or opens_prose or next_word in STOP_WORDS:
                return tail[:i]
    return tail


def _sources() -> list[tuple[Path, str]]:
    files = [*sorted((ROOT / "src").rglob("*.py")), ROOT / "README.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    texts = [(path, path.read_text(encoding="utf-8")) for path in files]
    for notebook in sorted((ROOT / "docs").rglob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts.append((notebook, "\n".join("".join(cell["source"]) for cell in cells)))
    return texts


def _command(tail: str) -> list[str]:
    """The argument list of one quoted command (what follows ``convrec``)."""
    tail = _cut(PLACEHOLDER.sub("X", tail)).rstrip(" .,:")  # a full stop ends a sentence
    try:
        return shlex.split(tail)
    except ValueError:  # an unbalanced quote in prose: the words still name the command
        return tail.replace('"', " ").replace("'", " ").split()


def suggested_commands() -> dict[tuple[str, ...], list[str]]:
    """Each distinct suggested command, with the places (``file:line``) that suggest it."""
    found: dict[tuple[str, ...], list[str]] = {}
    for path, text in _sources():
        text = re.sub(r"\\\n\s*", " ", text)  # a shell line continued with a backslash
        patterns = (QUOTED, PROSE_PY) if path.suffix == ".py" else (QUOTED, LINE, PROSE)
        for pattern in patterns:
            for match in pattern.finditer(text):
                args = tuple(_command(match.group(1)))
                line = text.count("\n", 0, match.start()) + 1
                found.setdefault(args, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


SUGGESTED = suggested_commands()
LEAVES = dict(walk_commands())


def _with_help(args: tuple[str, ...]) -> list[str]:
    """``args`` + ``--help``, so that the command parses but never runs.

    Optional syntax (``[--preset fast]``) loses its brackets, and a trailing option whose
    value the prose gives later (``--figure`` at a line's end) is dropped where it exists,
    since ``--help`` would be read as its value.
    """
    words = [w[1:-1] if w.startswith("[") and w.endswith("]") else w.lstrip("[") for w in args]
    leaf = next((LEAVES[tuple(words[:n])] for n in range(len(words), 0, -1)
                 if tuple(words[:n]) in LEAVES), None)
    if leaf is not None and words and words[-1].startswith("-"):
        takes_value = {o for p in leaf.params if not getattr(p, "is_flag", False) for o in p.opts}
        if words[-1] in takes_value:
            words = words[:-1]
    return [*words, "--help"]


def test_the_collection_finds_the_documented_commands() -> None:
    assert len(SUGGESTED) > 40
    assert ("conv", "shape", "28", "-k", "3", "-s", "2", "-p", "1") in SUGGESTED  # the README
    places = [place for places in SUGGESTED.values() for place in places]
    for kind in ("src/convrec/cli/", "src/convrec/data/", "docs/", ".ipynb:"):
        assert any(kind in place for place in places), f"nothing collected from {kind}"
    assert _command(' movies similar "toy story" -n 5   # five neighbours') == [
        "movies",
        "similar",
        "toy story",
        "-n",
        "5",
    ]
    assert _command(" data download {name} while online.") == ["data", "download", "X"]
    assert _command(' conv matmul --kernel "1,0;0,-1" | less') == [
        "conv",
        "matmul",
        "--kernel",
        "1,0;0,-1",
    ]
    assert _command(' movies similar "Toy Story (1995)" (the title)') == [
        "movies",
        "similar",
        "Toy Story (1995)",
    ]


@pytest.mark.parametrize(
    "args", sorted(SUGGESTED), ids=lambda args: " ".join(("convrec", *args))[:80]
)
def test_every_suggested_command_exists(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(_with_help(args), capsys)
    where = ", ".join(SUGGESTED[args][:3])
    assert code == 0, f"`convrec {' '.join(args)}` (suggested in {where}) fails: {err.strip()}"
