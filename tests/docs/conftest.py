"""Helpers for the docs tests: the repository root, the notebooks, the CLI reference script."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TUTORIALS = DOCS / "tutorials"


def load_cli_reference_script() -> ModuleType:
    """``scripts/gen_cli_reference.py`` as a module (``scripts/`` is not a package)."""
    path = ROOT / "scripts" / "gen_cli_reference.py"
    spec = importlib.util.spec_from_file_location("gen_cli_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cli_reference() -> ModuleType:
    return load_cli_reference_script()
