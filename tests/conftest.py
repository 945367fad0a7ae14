"""Shared fixtures. Real datasets come only through ``shared_data`` (``CONVREC_DATA``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# how pytest-xdist deals the suite to its workers (longest first), and `--record-durations`
from tests.scheduling import (  # noqa: F401
    pytest_addoption,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_xdist_make_scheduler,
)

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


# Read once at import: the autouse fixture below removes the variable so that library code
# under test never finds the real data by accident, only through this fixture.
_ENV_DATA = os.environ.pop("CONVREC_DATA", None)
# Session-scoped fixtures run before the function-scoped monkeypatch below, so the process
# environment itself must already be offline and point at a throwaway cache.
os.environ["CONVREC_OFFLINE"] = "1"
os.environ["CONVREC_CACHE"] = tempfile.mkdtemp(prefix="convrec-test-cache-")

# Under pytest-xdist (`make test`), N workers share the cores: each one's BLAS, OpenMP, numba
# and torch pools get cores // N threads, or N spinning pools oversubscribe the machine (a
# notebook took 12x its time). Set before any of them is imported (the kernels and processes
# that tests start inherit it); a test that sets a variable itself still wins.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _THREADS = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMBA_NUM_THREADS", "CONVREC_THREADS"):
        os.environ.setdefault(_name, _THREADS)


def _worker_postgresql_database(url: str, worker: str, run: str) -> str:
    """``url`` with a database of this pytest-xdist worker's own, created empty.

    The PostgreSQL tests drop and create the studio's tables; two workers (or two runs) doing
    that in one database would break each other, so each worker of each run gets
    ``<database>_<worker>_<run>``, dropped again when the worker ends.
    """
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database or 'postgres'}_{worker}_{run}"
    with psycopg.connect(_admin_dsn(url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


def _admin_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# Test modules read DATABASE_URL when they are imported, after this file: set it here.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_GIVEN_DATABASE_URL = os.environ.get("DATABASE_URL", "")
if _WORKER and _GIVEN_DATABASE_URL.startswith("postgresql"):
    _RUN = "".join(c for c in os.environ.get("PYTEST_XDIST_TESTRUNUID", "") if c.isalnum())[:8]
    os.environ["DATABASE_URL"] = _worker_postgresql_database(
        _GIVEN_DATABASE_URL, _WORKER, _RUN or str(os.getppid()))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this worker's own PostgreSQL database (see above)."""
    own = os.environ.get("DATABASE_URL", "")
    if not (_WORKER and own.startswith("postgresql") and own != _GIVEN_DATABASE_URL):
        return
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    with psycopg.connect(_admin_dsn(_GIVEN_DATABASE_URL), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(make_url(own).database)))


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
