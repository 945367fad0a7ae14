"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only after the write
ahead log is flushed to disk, so a rating acknowledged to the client survives a crash of the
server process (and of the machine). ``busy_timeout`` lets concurrent writers queue instead
of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "DatabaseStartupError", "check_database", "make_engine", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Connections per engine: more than the 40 worker threads that run sync routes (anyio's
#: default), so a burst of requests queues on the database, never on an empty pool.
#: ``hide_parameters``: an error message never carries a statement's values (password and
#: token hashes) into a log line or an answer.
POOL: dict[str, Any] = {
    "pool_size": 20, "max_overflow": 30, "pool_timeout": 60, "hide_parameters": True,
}


class DatabaseStartupError(RuntimeError):
    """The database URL cannot be used: one line naming the URL (password hidden), the
    reason and the fix; raised at start-up, before any model loads."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    """An engine for ``database_url``; SQLite gets its folder created and the pragmas above.

    PostgreSQL URLs written ``postgresql://`` use psycopg 3 (``postgresql+psycopg://``)
    behind SQLAlchemy's connection pool (pre-pinged: a restarted server is reconnected to).
    """
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.query.get("uri"):
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
        if connection.dialect.name == "postgresql":
            # several studios starting at once on one server: one migrates, the others wait
            from sqlalchemy import text

            connection.execute(text("SELECT pg_advisory_xact_lock(7301946)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    if isinstance(database_url, str):
        engine.dispose()


def _shown(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return repr(database_url[:80])


def check_database(database_url: str) -> Engine:
    """Open ``database_url``, migrate it and prove that it takes a write; return its engine.

    Raises:
        DatabaseStartupError: one line (URL with its password hidden, the reason, the fix)
            for a URL that does not parse, a driver that is not installed, a server that
            does not answer, an unusable SQLite path, or a read-only database.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from convrec.web.errors import database_fault_reason

    shown = _shown(database_url)
    try:
        engine = make_engine(database_url)
    except (NoSuchModuleError, ImportError) as exc:  # before ArgumentError: a subclass
        raise DatabaseStartupError(
            f"database URL {shown}: no driver for it ({exc}); SQLite and PostgreSQL "
            "(postgresql://, psycopg 3) are supported"
        ) from None
    except ArgumentError as exc:
        raise DatabaseStartupError(
            f"database URL {shown} is not a URL ({exc}); use e.g. sqlite:///path/studio.db or "
            "postgresql://user:password@host:5432/name"
        ) from None
    except OSError as exc:  # the SQLite folder cannot be created
        raise DatabaseStartupError(
            f"database URL {shown}: its folder cannot be created ({exc.strerror or exc}: "
            f"{exc.filename or ''}); choose a writable path with DATABASE_URL or --database-url"
        ) from None
    try:
        migrate(engine)
        with engine.connect() as connection:  # a write that is rolled back: read-only?
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            connection.rollback()
    except (SQLAlchemyError, OSError) as exc:
        engine.dispose()
        raise DatabaseStartupError(
            f"database URL {shown} cannot be used: {database_fault_reason(exc)}"
        ) from None
    return engine


class Database:
    """One engine and its session factory, shared by every request of an app."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.url = database_url
        self.engine = engine if engine is not None else make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        url = self.engine.url
        on_file = (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
                   and not url.query.get("uri"))
        self._write_lock_path = Path(f"{url.database}.write-lock") if on_file else None

    def session(self) -> Iterator[Session]:
        """A session per request (a FastAPI dependency): closed when the request ends."""
        with self.sessions() as session:
            yield session

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection in a transaction, committed on leaving (rolled back on an error).

        On a SQLite file, writers of every worker process first queue on one ``flock`` beside
        the database: SQLite's own busy handler polls with sleeps of up to 100 ms, so under
        50 concurrent writers an unlucky one waited over a second (RESULTS, "Studio"); the
        kernel's lock wakes the next writer as soon as the last one committed. PostgreSQL
        queues its writers itself.
        """
        lock = None
        if self._write_lock_path is not None:
            import fcntl

            try:
                lock = self._write_lock_path.open("a")
            except OSError:  # a read-only folder: SQLite's own locking still holds
                lock = None
            else:
                fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with self.engine.begin() as connection:
                yield connection
        finally:
            if lock is not None:
                lock.close()  # releases the flock

    def dispose(self) -> None:
        self.engine.dispose()
