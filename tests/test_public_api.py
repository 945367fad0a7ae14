"""The public API: each public package's ``__all__`` is pinned, resolves and is documented,
and every ``convrec.…`` name that the README and the docs mention exists.

A deliberate change of ``__all__`` is one command away:
``CONVREC_UPDATE_PUBLIC_API=1 pytest tests/test_public_api.py`` rewrites
``tests/public_api.json``; review its diff like any other API change.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PINNED = Path(__file__).with_name("public_api.json")
# the library's packages; the CLI's public face is its command tree (tests/cli/)
PACKAGES = sorted(
    ["convrec", "convrec.settings"]
    + [
        f"convrec.{p.parent.name}"
        for p in (ROOT / "src" / "convrec").glob("*/__init__.py")
        if p.parent.name != "cli"
    ]
)


def _public_names(package: str) -> list[str]:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names is not None, f"{package} has no __all__: say what it exports"
    return list(names)


def test_packages_are_found() -> None:
    assert {"convrec.conv", "convrec.data", "convrec.recsys", "convrec.web"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_resolves_and_is_documented(package: str) -> None:
    names = _public_names(package)
    assert len(names) == len(set(names)), f"{package}.__all__ repeats a name"
    module = importlib.import_module(package)
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"
    undocumented = [
        name
        for name in names
        if (inspect.isroutine(obj := getattr(module, name)) or inspect.isclass(obj))
        and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented, f"{package}: public but without a docstring: {undocumented}"


def test_all_is_pinned() -> None:
    current = {package: sorted(_public_names(package)) for package in PACKAGES}
    if os.environ.get("CONVREC_UPDATE_PUBLIC_API") == "1":
        PINNED.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    pinned: dict[str, list[str]] = json.loads(PINNED.read_text(encoding="utf-8"))
    changes = []
    for package in sorted(set(current) | set(pinned)):
        now, then = set(current.get(package, [])), set(pinned.get(package, []))
        if now != then:
            changes.append(f"{package}: added {sorted(now - then)}, removed {sorted(then - now)}")
    assert not changes, (
        "the public API changed (if deliberate: CONVREC_UPDATE_PUBLIC_API=1 pytest "
        f"tests/test_public_api.py, and review tests/public_api.json): {changes}"
    )


# `convrec.vision.load_mnist()`, convrec.shapes.trace(model, ...): dotted names in the docs
DOTTED = re.compile(r"\bconvrec(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _resolve(dotted: str) -> Any:
    """The object a dotted name refers to, importing its longest module prefix."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)  # AttributeError: the name does not exist
        return obj
    raise ModuleNotFoundError(dotted)


def _documented_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in DOTTED.finditer(text):
            name = match.group(0).removesuffix(".py")
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


DOCUMENTED = _documented_names()


def test_documented_names_are_collected() -> None:
    assert "convrec.shapes.trace" in DOCUMENTED and len(DOCUMENTED) > 5


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_documented_name_exists(name: str) -> None:
    try:
        _resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{name} (in {', '.join(DOCUMENTED[name][:3])}) does not exist: {exc}")
