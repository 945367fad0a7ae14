"""Migrations and the database engines: SQLite (WAL, synchronous FULL) and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from convrec.web.db import make_engine, migrate


def test_migrations_create_the_tables_and_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'studio.sqlite3'}"
    migrate(url)
    migrate(url)  # a second start changes nothing
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    assert {"users", "auth_tokens", "ratings", "alembic_version"} <= names
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
            == "0003"
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    engine.dispose()


def test_rating_range_is_also_checked_by_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (id, username, password_hash, created_at) VALUES (1, 'a', 'x', 0)"
        ))
    with pytest.raises(Exception, match="CHECK constraint failed"), engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO ratings (user_id, movie_id, rating, updated_at) VALUES (1, 1, 9, 0)"
        ))
    engine.dispose()


POSTGRES_URL = os.environ.get("DATABASE_URL", "")


@pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)",
)
def test_postgresql_end_to_end(signup) -> None:
    from fastapi.testclient import TestClient

    from convrec.settings import Settings
    from convrec.web import Services, create_app

    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:  # start from an empty schema
        for table in ("ratings", "auth_tokens", "login_failures", "users", "alembic_version"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    settings = Settings(database_url=POSTGRES_URL, offline=True)
    app = create_app(settings, Services(settings, movie_titles={50: "Star Wars (1977)"}.get))
    with TestClient(app) as client:
        me = signup(client, "pguser")["user"]["id"]
        assert client.put(f"/api/users/{me}/ratings/50", json={"rating": 4}).status_code == 200
        assert client.put(f"/api/users/{me}/ratings/50", json={"rating": 5}).status_code == 200
        assert client.get(f"/api/users/{me}/ratings").json()["data"][0]["rating"] == 5
        again = client.post("/api/auth/signup", json={"username": "PGUser",
                                                      "password": "another long one"})
        assert again.status_code == 409  # unique whatever the case, on PostgreSQL too
        for _ in range(2):  # the failure counter's upsert, in PostgreSQL's dialect
            wrong = client.post("/api/auth/login", json={"username": "pguser",
                                                         "password": "not the password"})
            assert wrong.status_code == 401, wrong.text
    assert app.state.db.engine.dialect.name == "postgresql"


def test_migration_0002_keeps_accounts_that_differ_only_in_case(tmp_path: Path) -> None:
    """Two old accounts ``bob`` and ``BOB`` (allowed before 0002) both keep working."""
    from alembic import command
    from alembic.config import Config
    from fastapi.testclient import TestClient

    from convrec.settings import Settings
    from convrec.web import Services, create_app
    from convrec.web.db import MIGRATIONS_DIR
    from convrec.web.security import hash_password

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for i, name in enumerate(("bob", "BOB"), start=1):
            connection.execute(text(
                "INSERT INTO users (id, username, password_hash, created_at) "
                "VALUES (:id, :name, :hash, 0)"
            ), {"id": i, "name": name, "hash": hash_password(f"{name} old password")})
    engine.dispose()
    settings = Settings(cache_dir=tmp_path, offline=True)
    with TestClient(create_app(settings, Services(settings), database_url=url)) as client:
        for name in ("bob", "BOB"):
            login = client.post("/api/auth/login",
                                json={"username": name, "password": f"{name} old password"})
            assert login.status_code == 200 and login.json()["user"]["username"] == name
        again = client.post("/api/auth/signup", json={"username": "Bob",
                                                      "password": "a new long password"})
        assert again.status_code == 409


def test_concurrent_failed_logins_all_count(tmp_path: Path) -> None:
    """Failures recorded at once by many threads (workers) collide on no key, lose no count."""
    import threading

    from sqlalchemy.orm import sessionmaker

    from convrec.web.models import LoginFailure
    from convrec.web.security import record_login_failure

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    errors: list[BaseException] = []

    def fail_once() -> None:
        try:
            with sessions() as session:
                record_login_failure(session, "target", "10.1.2.3")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fail_once) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with sessions() as session:
        counts = dict(session.query(LoginFailure.key, LoginFailure.failures).all())
    assert counts == {"account:target": 12, "address:10.1.2.3": 12}
    engine.dispose()
