"""The studio's two short database paths (``convrec.web.db.Database``): reads compiled once
and run on a pooled driver connection, and group-committed writes, on SQLite and (where
DATABASE_URL names one) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, bindparam, event, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from convrec.web.db import Database, check_database
from convrec.web.models import Rating, User

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)",
)
RATINGS_OF = select(Rating.movie_id, Rating.rating).where(Rating.user_id == bindparam("user_id"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path / 'studio.db'}" if request.param == "sqlite"
           else POSTGRES_URL)
    db = Database(url, check_database(url))
    yield db
    db.dispose()


def a_user(db: Database) -> int:
    with db.writing() as connection:
        return int(connection.execute(insert(User).values(
            username=f"u-{uuid.uuid4().hex[:10]}", username_key=uuid.uuid4().hex,
            password_hash="x", created_at=int(time.time())).returning(User.id)).scalar_one())


def rate(user_id: int, movie_id: int, rating: float) -> Callable[[Connection], int]:
    def upsert(connection: Connection) -> int:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(insert(Rating).values(
            user_id=user_id, movie_id=movie_id, rating=rating, updated_at=1,
        ).on_conflict_do_update(index_elements=["user_id", "movie_id"],
                                set_={"rating": rating}))
        return movie_id
    return upsert


def test_a_read_is_the_orm_s_answer_and_compiled_once(database: Database) -> None:
    user = a_user(database)
    with database.writing() as connection:
        for movie in (3, 1, 2):
            rate(user, movie, movie + 0.5)(connection)
    with database.sessions() as session:
        expected = sorted(session.execute(RATINGS_OF, {"user_id": user}).all())
    assert sorted(database.read(RATINGS_OF, user_id=user)) == expected == [
        (1, 1.5), (2, 2.5), (3, 3.5)]
    compiles: list[object] = []
    event.listen(database.read_engine, "before_cursor_execute",
                 lambda *args: compiles.append(args))  # only SQLAlchemy's path fires this
    assert database.read(RATINGS_OF, user_id=user + 1) == []
    assert compiles == [] and len(database._compiled) == 1


def test_a_driver_error_is_sqlalchemy_s_error_without_the_parameters(database: Database) -> None:
    broken = select(text("no_such_column")).where(Rating.user_id == bindparam("secret"))
    with pytest.raises(DBAPIError) as raised:
        database.read(broken, secret="hash-that-must-not-show")
    assert "hash-that-must-not-show" not in str(raised.value)
    user = a_user(database)
    assert database.read(RATINGS_OF, user_id=user) == []  # the pool is still usable


@needs_postgres
def test_a_postgresql_read_survives_a_killed_connection() -> None:
    database = Database(POSTGRES_URL, check_database(POSTGRES_URL))
    try:
        backend = select(func.pg_backend_pid())
        first = database.read(backend)[0][0]
        with database.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(0.2)
        second = database.read(backend)[0][0]  # the dead connection is replaced, read retried
        assert second != first
        assert database.read_engine.dialect.name == "postgresql"
        assert database.read_engine is not database.engine
    finally:
        database.dispose()


def test_writes_arriving_together_share_one_commit_and_all_land(database: Database) -> None:
    user = a_user(database)
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _conn: commits.append(1))

    async def many() -> list[int]:
        return await asyncio.gather(*(database.write(rate(user, m, 4.0))
                                      for m in range(1, 21)))

    assert asyncio.run(many()) == list(range(1, 21))
    assert len(commits) == 1  # one transaction, one flush, for the 20 writers
    assert sorted(database.read(RATINGS_OF, user_id=user)) == [(m, 4.0) for m in range(1, 21)]


def test_a_failing_write_in_a_group_fails_only_its_own_request(database: Database) -> None:
    user = a_user(database)

    async def group() -> list[object]:
        writes = [database.write(rate(user, m, 3.0)) for m in range(1, 10)]
        writes.insert(4, database.write(rate(10**9, 5, 3.0)))  # no such user
        return await asyncio.gather(*writes, return_exceptions=True)

    outcomes = asyncio.run(group())
    assert isinstance(outcomes[4], IntegrityError)  # the foreign key: its own error
    assert [o for i, o in enumerate(outcomes) if i != 4] == list(range(1, 10))
    assert sorted(database.read(RATINGS_OF, user_id=user)) == [(m, 3.0) for m in range(1, 10)]
