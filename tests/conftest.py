"""Shared fixtures. Real datasets come only through ``shared_data`` (``CONVREC_DATA``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


# Read once at import: the autouse fixture below removes the variable so that library code
# under test never finds the real data by accident, only through this fixture.
_ENV_DATA = os.environ.pop("CONVREC_DATA", None)
# Session-scoped fixtures run before the function-scoped monkeypatch below, so the process
# environment itself must already be offline and point at a throwaway cache.
os.environ["CONVREC_OFFLINE"] = "1"
os.environ["CONVREC_CACHE"] = tempfile.mkdtemp(prefix="convrec-test-cache-")


def _shared_data_dir() -> Path | None:
    if _ENV_DATA:
        return Path(_ENV_DATA)
    return _DEFAULT if _DEFAULT.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets (``mnist/``, ``ml-100k/``); skips when absent."""
    folder = _shared_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip(
            "real datasets not available: set CONVREC_DATA to a folder with mnist/, ml-100k/"
        )
    return folder


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never write to the user's real cache from a test; never download from a test."""
    monkeypatch.setenv("CONVREC_CACHE", str(tmp_path_factory.getbasetemp() / "convrec-cache"))
    monkeypatch.setenv("CONVREC_OFFLINE", "1")
    monkeypatch.delenv("CONVREC_DATA", raising=False)
    monkeypatch.delenv("CONVREC_DEBUG", raising=False)  # tests see the user's one-line errors
