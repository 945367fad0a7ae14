"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only after the write
ahead log is flushed to disk, so a rating acknowledged to the client survives a crash of the
server process (and of the machine). ``busy_timeout`` lets concurrent writers queue instead
of failing with "database is locked".

The hot routes use two short paths (:class:`Database`): :meth:`Database.read` runs a
statement compiled once on a pooled driver connection (one round trip on PostgreSQL), and
:meth:`Database.write` commits the writes that arrive together in one transaction (a group
commit: one disk flush for all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, TypeVarTuple

from sqlalchemy import ClauseElement, Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["HEAD_REVISION", "Database", "DatabaseStartupError", "check_database",
           "make_engine", "migrate", "schema_revision"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The newest Alembic revision in ``migrations/versions`` (a test pins it to Alembic's own
#: head): a database already there is not migrated again, and Alembic is not even imported
#: (a third of a second of every later start, in the command and in each worker).
HEAD_REVISION = "0003"

#: Connections per engine: more than the 40 worker threads that run sync routes (anyio's
#: default), so a burst of requests queues on the database, never on an empty pool.
#: ``hide_parameters``: an error message never carries a statement's values (password and
#: token hashes) into a log line or an answer.
class _PoolOptions(TypedDict):
    """``create_engine``'s pool options (checked against its signature by mypy)."""

    pool_size: int
    max_overflow: int
    pool_timeout: int
    hide_parameters: bool


POOL: _PoolOptions = {
    "pool_size": 20, "max_overflow": 30, "pool_timeout": 60, "hide_parameters": True,
}


class DatabaseStartupError(RuntimeError):
    """The database URL cannot be used: one line naming the URL (password hidden), the
    reason and the fix; raised at start-up, before any model loads."""


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
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


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database says it is at; ``None`` when it has none (a new
    database, or one that was never migrated). One ``SELECT``, without Alembic."""
    from sqlalchemy import inspect, text

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None


def _shown(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:
        return repr(database_url[:80])


def check_database(database_url: str) -> Engine:
    """Open ``database_url``, migrate it unless it is at :data:`HEAD_REVISION` already, and
    prove that it takes a write; return its engine.

    Raises:
        DatabaseStartupError: one line (URL with its password hidden, the reason, the fix)
            for a URL that does not parse, a driver that is not installed, a server that
            does not answer, an unusable SQLite path, or a read-only database.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

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
        if schema_revision(engine) != HEAD_REVISION:
            migrate(engine)
        with engine.connect() as connection:  # a write that is rolled back: read-only?
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            connection.rollback()
    except (SQLAlchemyError, OSError) as exc:
        from convrec.web.errors import database_fault_reason  # FastAPI: only when it failed

        engine.dispose()
        raise DatabaseStartupError(
            f"database URL {shown} cannot be used: {database_fault_reason(exc)}"
        ) from None
    return engine


@dataclasses.dataclass
class _Compiled:
    """A statement's SQL for one dialect and the order of its parameters."""

    statement: ClauseElement  # kept, so that the id it is cached under is never reused
    sql: str
    names: Sequence[str] | None  # positional drivers (SQLite): the parameters in order


@dataclasses.dataclass
class _Write(Generic[T]):
    work: Callable[[Connection], T]
    future: asyncio.Future[T]


#: A write's outcome in a group commit: ``(True, its result)`` or ``(False, its error)``.
_Outcome = tuple[Literal[True], object] | tuple[Literal[False], Exception]


@dataclasses.dataclass
class _WriteGroup:
    """The writes of one event loop waiting for the next group commit."""

    # Any: each write has its own result type; a future gets its own work's result
    pending: list[_Write[Any]] = dataclasses.field(default_factory=list)
    task: asyncio.Task[None] | None = None


#: Read connections per worker process on PostgreSQL (reads are a fraction of a
#: millisecond each and run in the event loop, so a few connections serve many clients).
READ_POOL: _PoolOptions = {"pool_size": 4, "max_overflow": 16, "pool_timeout": 60,
                             "hide_parameters": True}


class Database:
    """One engine and its session factory, shared by every request of an app.

    On PostgreSQL the reads of :meth:`read` have an engine of their own in autocommit mode
    and without a pre-ping (a read is one round trip, not BEGIN + ping + SELECT +
    ROLLBACK); a connection found dead is replaced and the read retried once.
    """

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self.url = database_url
        self.engine = engine if engine is not None else make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        url = self.engine.url
        on_file = (url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
                   and not url.query.get("uri"))
        self._write_lock_path = Path(f"{url.database}.write-lock") if on_file else None
        self.read_engine = self.engine
        if url.get_backend_name() == "postgresql":
            self.read_engine = create_engine(url, isolation_level="AUTOCOMMIT", **READ_POOL)
        self._compiled: dict[int, _Compiled] = {}
        self._groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteGroup] = (
            weakref.WeakKeyDictionary())

    # ------------------------------------------------------------ reads
    def _compile(self, statement: ClauseElement) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is None:
            from sqlalchemy.sql.compiler import SQLCompiler

            compiled = statement.compile(dialect=self.read_engine.dialect)
            assert isinstance(compiled, SQLCompiler)  # a SELECT compiles to SQL
            names = list(compiled.positiontup or []) if compiled.positional else None
            found = self._compiled[id(statement)] = _Compiled(statement, compiled.string, names)
        return found

    def read(self, statement: Select[*Ts], **params: object) -> list[tuple[*Ts]]:
        """The rows of ``statement`` (a SELECT with ``bindparam`` placeholders, built once at
        import) with ``params``, run in the calling thread on a pooled driver connection.

        The SQL is compiled once per statement; each call skips SQLAlchemy's statement
        building, caching and result machinery (about 1 ms of a 1.8 ms ratings read went
        there: RESULTS, "2026-12-03"). Values come back as the driver gives them, so the
        statement should select plain columns (ints, floats, strings): the rows are typed
        by the columns the statement selects.

        Raises:
            sqlalchemy.exc.DBAPIError: the driver's error, wrapped as SQLAlchemy wraps it
                (the studio's handlers answer 503 with the reason; parameters hidden).
        """
        from sqlalchemy.exc import DBAPIError

        compiled = self._compile(statement)
        args: Mapping[str, object] | list[object] = (
            params if compiled.names is None else [params[n] for n in compiled.names])
        engine = self.read_engine
        dbapi = engine.dialect.loaded_dbapi
        for attempt in (1, 2):
            connection = engine.raw_connection()
            cursor = None
            try:
                cursor = connection.cursor()
                cursor.execute(compiled.sql, args)
                rows: list[tuple[*Ts]] = list(cursor.fetchall())
                cursor.close()
                return rows
            except dbapi.Error as exc:
                gone = engine.dialect.is_disconnect(exc, connection.dbapi_connection, cursor)
                if gone:
                    connection.invalidate(exc)
                if gone and attempt == 1:
                    continue  # a server restarted since: once more on a new connection
                raise DBAPIError.instance(
                    compiled.sql, None, exc, dbapi.Error, hide_parameters=True,
                    connection_invalidated=gone, dialect=engine.dialect,
                ) from exc
            finally:
                connection.close()  # back to the pool
        raise AssertionError("unreachable: the second attempt returns or raises")

    # ------------------------------------------------------------ writes
    async def write(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` committed, with every write that arrived meanwhile, in one
        transaction (a group commit); returns its result once the transaction is durable.

        While one commit waits for the disk, the writes that arrive queue here (in the
        event loop, holding no thread); the next commit takes them all: one flush for 25
        writers instead of 25 (RESULTS, "2026-12-03"). If the group fails, each of its
        writes is tried again alone, so that only a failing one fails: ``work`` may run
        twice (the first run rolled back), so it must be a statement that gives the same
        result when repeated, as an upsert does.

        Raises:
            Whatever ``work`` or the commit raised for this write (SQLAlchemy errors).
        """
        loop = asyncio.get_running_loop()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = _WriteGroup()
        item: _Write[T] = _Write(work, loop.create_future())
        group.pending.append(item)
        if group.task is None:
            group.task = loop.create_task(self._commit_groups(group))
        return await item.future

    async def _commit_groups(self, group: _WriteGroup) -> None:
        import anyio.to_thread

        try:
            while group.pending:
                batch, group.pending = group.pending, []
                try:
                    outcomes = await anyio.to_thread.run_sync(
                        self._commit, [w.work for w in batch])
                except BaseException as exc:  # cancelled at shut-down: nobody is told "done"
                    for write in batch:
                        if not write.future.done():
                            write.future.set_exception(exc if isinstance(exc, Exception)
                                                       else RuntimeError("shutting down"))
                    raise
                for write, outcome in zip(batch, outcomes, strict=True):
                    if write.future.done():  # the client left; the write stands
                        continue
                    if outcome[0]:
                        write.future.set_result(outcome[1])
                    else:
                        write.future.set_exception(outcome[1])
        finally:
            group.task = None

    def _commit(self, works: list[Callable[[Connection], object]]) -> list[_Outcome]:
        """In a worker thread: all ``works`` in one transaction, else each alone."""
        if len(works) > 1:
            try:
                with self.writing() as connection:
                    results = [work(connection) for work in works]
                return [(True, result) for result in results]
            except Exception:  # each is tried alone below, and fails with its own error
                pass
        outcomes: list[_Outcome] = []
        for work in works:
            try:
                with self.writing() as connection:
                    outcomes.append((True, work(connection)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

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
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
