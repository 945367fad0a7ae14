"""The floors of ``architecture.md`` hold: no import points up or sideways.

Every module under ``src/convrec`` is parsed (``ast``, nothing is imported) and each of its
imports, at module level or inside a function, is checked against the table:

| floor | rooms | may import |
|---|---|---|
| 4 | ``cli/`` (and ``__main__``) | anything below |
| 3 | ``web/`` | floors 2 to 0 |
| 2 | ``vision/``, ``recsys/`` | floors 1 and 0; never each other |
| 1 | ``shapes/``, ``data/`` | floor 0 |
| 0 | ``conv/``, ``settings.py`` | third-party numerics only |

The package root (``convrec/__init__.py``: the version) is below every floor. A room may
import itself freely. Third-party libraries have floors too: the terminal and the web stack
live on the faces only.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "convrec"

FLOOR = {
    "cli": 4,
    "web": 3,
    "vision": 2,
    "recsys": 2,
    "shapes": 1,
    "data": 1,
    "conv": 0,
    "settings": 0,
    "": -1,  # `from convrec import __version__`: the package root holds no code
}
# third-party packages that belong to a face (floor): a lower room importing them is a layering
# mistake (parsing, printing and serving happen on floors 3 and 4)
FACE_LIBRARIES = {
    "typer": 4,
    "click": 4,
    "uvicorn": 4,
    "fastapi": 3,
    "starlette": 3,
    "sqlalchemy": 3,
    "alembic": 3,
    "argon2": 3,
}
# the core's own dependencies (numba compiles the stencil engine; lazy_loader, itself stdlib
# only, resolves each package's public names on first use)
CORE_LIBRARIES = {"numpy", "scipy", "torch", "numba", "lazy_loader"}


@dataclass(frozen=True)
class Import:
    """One import statement: who imports what, and where."""

    module: str  # the importing module, e.g. "convrec.data.mnist"
    target: str  # the imported module, absolute, e.g. "convrec.conv.shapes"
    line: int

    @property
    def where(self) -> str:
        return f"{self.module.replace('.', '/')}.py:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = "." * node.level + (node.module or "")
            target = importlib.util.resolve_name(name, package) if node.level else name
            found.append(Import(module, target, node.lineno))
    return found


@functools.cache
def all_imports() -> list[Import]:
    """Every import statement of the package (parsed when a test asks, not at collection)."""
    return [imp for path in sorted(PACKAGE.rglob("*.py")) for imp in _imports(path)]


def room(module: str) -> str:
    """``convrec.data.mnist`` → ``data``; ``convrec`` → ``""``; ``python -m convrec`` is the CLI."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    return "cli" if name == "__main__" else name


def forbidden(imp: Import) -> str | None:
    """Why ``imp`` breaks the floors, or ``None`` when it is allowed."""
    top = imp.target.split(".")[0]
    here = room(imp.module)
    if top == "convrec":
        there = room(imp.target)
        if there == here:
            return None
        if there not in FLOOR:
            return f"{there!r} is a room the architecture does not know"
        if FLOOR[there] >= FLOOR[here]:
            side = "sideways" if FLOOR[there] == FLOOR[here] else "up"
            return f"{here} (floor {FLOOR[here]}) imports {there} (floor {FLOOR[there]}): {side}"
        return None
    if top in FACE_LIBRARIES and FACE_LIBRARIES[top] > FLOOR[here]:
        return f"{here} (floor {FLOOR[here]}) imports {top}, a floor-{FACE_LIBRARIES[top]} library"
    if FLOOR[here] == 0 and top not in CORE_LIBRARIES | set(sys.stdlib_module_names):
        return f"{here} is the core: it imports {top}, not one of {sorted(CORE_LIBRARIES)}"
    return None


def test_every_room_is_known() -> None:
    rooms = {room(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert rooms <= set(FLOOR), rooms - set(FLOOR)
    assert {"cli", "web", "vision", "recsys", "shapes", "data", "conv", "settings"} <= rooms


def test_the_parser_sees_lazy_and_relative_imports() -> None:
    targets = {imp.target for imp in all_imports() if imp.module == "convrec.cli.common"}
    assert "convrec.data.registry" in targets  # imported inside a function
    assert len(all_imports()) > 300


def test_no_import_points_up_or_sideways() -> None:
    broken = [f"{imp.where}: {why}" for imp in all_imports() if (why := forbidden(imp))]
    assert broken == []


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("convrec.cli.movies", "convrec.web.app", True),
        ("convrec.web.app", "convrec.cli.common", False),  # up
        ("convrec.vision.models", "convrec.recsys.base", False),  # sideways on floor 2
        ("convrec.recsys.base", "convrec.shapes", True),
        ("convrec.shapes._trace", "convrec.data.registry", False),  # sideways on floor 1
        ("convrec.conv.functional", "convrec.settings", False),  # sideways on floor 0
        ("convrec.data.mnist", "convrec.settings", True),
        ("convrec.web.app", "convrec", True),  # the version
        ("convrec.conv.functional", "pandas", False),  # the core's dependencies
        ("convrec.conv.stencil", "numba", True),
        ("convrec.recsys.catalog", "typer", False),  # the terminal belongs to the CLI
        ("convrec.shapes._render", "fastapi", False),
        ("convrec.web.routers.conv", "fastapi", True),
    ],
)
def test_the_rule_itself(module: str, target: str, allowed: bool) -> None:
    assert (forbidden(Import(module, target, 1)) is None) is allowed
