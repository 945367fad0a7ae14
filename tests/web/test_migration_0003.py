"""Migration 0003: ratings become floats (half stars) without losing the integer ones, the
database keeps refusing what no release allows, and the way back rounds half stars up.
On SQLite always; on PostgreSQL where DATABASE_URL names one (.ci/run starts one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from convrec.web.db import MIGRATIONS_DIR, make_engine, migrate

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
TABLES = ("ratings", "auth_tokens", "login_failures", "users", "alembic_version")


def _to(engine: Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _ratings(engine: Engine) -> list[tuple[int, float]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT movie_id, rating FROM ratings ORDER BY movie_id"))
        return [(int(m), float(r)) for m, r in rows]


def _insert(engine: Engine, movie_id: int, rating: float) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO ratings (user_id, movie_id, rating, updated_at) "
                                "VALUES (1, :m, :r, 0)"), {"m": movie_id, "r": rating})


def _drop_all(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL.startswith("postgresql"):
        pytest.skip("set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)")
    engine = make_engine(POSTGRES_URL)
    _drop_all(engine)  # from an empty schema, and left empty for the next test
    yield engine
    _drop_all(engine)
    engine.dispose()


def test_integer_ratings_survive_and_half_stars_fit(engine: Engine) -> None:
    _to(engine, "0002")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO users (id, username, username_key, password_hash, "
                                "created_at) VALUES (1, 'old', 'old', 'x', 0)"))
    _insert(engine, 1, 4)
    migrate(engine)
    assert _ratings(engine) == [(1, 4.0)]
    _insert(engine, 2, 3.5)
    _insert(engine, 3, 0.5)
    for refused in (0.4, 5.5):
        with pytest.raises(Exception, match=r"(?i)check"):
            _insert(engine, 9, refused)
    assert _ratings(engine) == [(1, 4.0), (2, 3.5), (3, 0.5)]
    _to(engine, "0002", down=True)  # back to integers: half stars round up
    assert _ratings(engine) == [(1, 4.0), (2, 4.0), (3, 1.0)]
