"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only after the write
ahead log is flushed to disk, so a rating acknowledged to the client survives a crash of the
server process (and of the machine). ``busy_timeout`` lets concurrent writers queue instead
of failing with "database is locked".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "make_engine", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Connections per engine: more than the 40 worker threads that run sync routes (anyio's
#: default), so a burst of requests queues on the database, never on an empty pool.
POOL: dict[str, Any] = {"pool_size": 20, "max_overflow": 30, "pool_timeout": 60}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets its folder created and the pragmas above.

    PostgreSQL URLs written ``postgresql://`` use psycopg 3 (``postgresql+psycopg://``).
    """
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **POOL
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **POOL)


def migrate(database_url: str | Engine) -> None:
    """Upgrade the database to the newest Alembic revision (creates the tables on first run)."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(database_url) if isinstance(database_url, str) else database_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    if isinstance(database_url, str):
        engine.dispose()


class Database:
    """One engine and its session factory, shared by every request of an app."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Iterator[Session]:
        """A session per request (a FastAPI dependency): closed when the request ends."""
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
