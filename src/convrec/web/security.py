"""Passwords, usernames, login tokens and the log-in throttle.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106's
recommended parameters: 64 MiB per hash). A login creates a random 256-bit token; the client
keeps it (as an HttpOnly, SameSite=Lax cookie, or as a bearer token for API clients) and the
database keeps only its sha256, so a copy of the table cannot be used to log in.

What the trusted systems do, done here:

- **Password policy** (NIST SP 800-63B): at least :data:`MIN_PASSWORD_LENGTH` characters,
  not one of the 19,640 most common passwords (Django's list, shipped as package data, see
  ``data/NOTICE.txt``), not the username, not one character repeated.
- **Usernames** are compared by their NFKC case fold (:func:`username_key`): ``alice``,
  ``ALICE`` and fullwidth ``ａｌｉｃｅ`` are one account.
- **Throttling** (:func:`login_blocked_until`): after :data:`FREE_FAILURES` failed log-ins on
  an account, or from a client address, each further try waits twice as long as the last
  (1 s, 2 s, 4 s, ... up to :data:`MAX_BACKOFF_S`): 429 with ``Retry-After``. Counts live in
  the database, so every worker and machine sees them; each worker answers the tries it
  knows to be blocked before FastAPI (:mod:`convrec.web.login_gate`).
- **A bound on concurrent hashes** (:class:`HashLimiter`): at most a few argon2 hashes at
  once, the rest queue in the event loop (not in worker threads) up to a bound, then 503.
  A log-in flood can exhaust neither the memory nor the threads that other routes use.
- **Expired sessions** are deleted (:func:`purge_expired_tokens`), at start-up and at most
  every :data:`PURGE_EVERY_S` seconds on log-in.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import multiprocessing
import os
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, TypeVarTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.orm import Session

from convrec.web.db import Database
from convrec.web.models import AuthToken, LoginFailure, User

__all__ = [
    "COOKIE_NAME",
    "FREE_FAILURES",
    "HASH_NICE",
    "MAX_BACKOFF_S",
    "MIN_PASSWORD_LENGTH",
    "SESSION_TRUST_S",
    "TOKEN_LIFETIME_S",
    "HashLimiter",
    "HashQueueFullError",
    "LogoutCounter",
    "SessionMemory",
    "SessionUser",
    "common_passwords",
    "create_token",
    "dummy_hash",
    "hash_password",
    "login_blocked_until",
    "password_problem",
    "purge_expired_tokens",
    "record_login_failure",
    "record_login_success",
    "revoke_token",
    "throttle_clock",
    "throttle_keys",
    "token_hash",
    "user_for_token",
    "username_key",
    "verify_password",
]

COOKIE_NAME = "convrec_session"
TOKEN_LIFETIME_S = 14 * 24 * 3600  # two weeks, then log in again
MIN_PASSWORD_LENGTH = 10
FREE_FAILURES = 5  # failed log-ins allowed before the back-off starts
MAX_BACKOFF_S = 15 * 60
FORGET_FAILURES_AFTER_S = 24 * 3600  # a failure count this old starts again from zero
PURGE_EVERY_S = 600

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """The hash that a log-in of an unknown username is verified against: it keeps log-in time
    the same for known and unknown usernames (no user enumeration by timing). Made on first
    use, not at import (an argon2 hash: 0.2 s of every worker's start); a serving worker makes
    it in its warm-up, after it serves."""
    return _hasher.hash("convrec-dummy-password")


# ---------------------------------------------------------------- usernames and passwords
def username_key(username: str) -> str:
    """The NFKC case fold under which a username is unique (``"ＡＬＩＣＥ"`` -> ``"alice"``)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lowercased (read once)."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why ``password`` is refused for a new account, or ``None`` when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (f"must be at least {MIN_PASSWORD_LENGTH} characters (got {len(password)}); "
                "a few words in a row make a good one")
    folded = password.strip().lower()
    if len(set(password)) == 1:
        return "must not be one character repeated; a few words in a row make a good one"
    if folded in common_passwords():
        return (f"is one of the {len(common_passwords()):,} most common passwords, the first "
                "ones an attacker tries; choose another")
    if username is not None and username_key(username) in username_key(password):
        return "must not contain your username"
    return None


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; a new salt every call)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (``None``: compare with a dummy)."""
    try:
        return _hasher.verify(stored_hash or dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class HashQueueFullError(RuntimeError):
    """Too many password hashes are waiting: the client should retry in a moment (503)."""


#: The hashing threads' nice value (Linux: per thread, and inherited by the threads argon2
#: starts for its 4 lanes). A hash takes both cores of a 2-core machine for ~175 ms; at the
#: default priority a log-in flood's hashes stalled every other route (their p99 2.2× the
#: quiet one, benchmarks/RESULTS.md); at 10 they yield to them and take longer only when the
#: cores are busy.
HASH_NICE = 10


def _lower_this_threads_priority() -> None:
    """Raise this thread's nice value to :data:`HASH_NICE` (where the OS allows it; a
    process started at a lower priority than that keeps its own)."""
    try:
        me = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, me, max(HASH_NICE, os.getpriority(os.PRIO_PROCESS, me)))
    except (AttributeError, OSError):  # not Linux, or not allowed: the default priority
        pass


class HashLimiter:
    """At most ``concurrent`` password hashes at once; at most ``queue`` more waiting.

    Each argon2 hash takes 64 MiB and ~0.28 s of CPU over its 4 lanes (175 ms on 2 cores,
    measured here). The waiting happens in the event
    loop, so waiting log-ins hold no worker thread that other routes need; past ``queue``
    waiters the answer is 503 at once. The hashes run in ``concurrent`` threads of their own,
    at a lower priority (:data:`HASH_NICE`), so that the other routes go first when the
    cores are busy.
    """

    def __init__(self, concurrent: int = 2, queue: int = 64) -> None:
        self.concurrent = concurrent
        self.queue = queue
        self.waiting = 0
        self._executor: ThreadPoolExecutor | None = None  # made on first use

    async def run(self, function: Callable[[*Ts], T], *args: *Ts) -> T:
        """``function(*args)`` in a hashing thread, under the bound (raises
        HashQueueFullError)."""
        import asyncio

        if self.waiting >= self.concurrent + self.queue:
            raise HashQueueFullError(
                f"{self.waiting} log-ins are being checked right now; retry in a second"
            )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.concurrent, thread_name_prefix="convrec-hash",
                initializer=_lower_this_threads_priority)
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, functools.partial(function, *args))
        finally:
            self.waiting -= 1


# ---------------------------------------------------------------- the log-in throttle
def throttle_clock() -> float:
    """Epoch seconds by which failures are counted (read at each call: tests freeze it)."""
    return time.time()


def throttle_keys(account: str, address: str | None) -> list[str]:
    """The keys a log-in try is counted under: its account (``username_key``) and address."""
    keys = [f"account:{username_key(account)[:180]}"]
    if address:
        keys.append(f"address:{address[:180]}")
    return keys


def _backoff_s(failures: int) -> int:
    """Seconds to wait after ``failures`` failed log-ins: 0 up to FREE_FAILURES, then
    1, 2, 4, ... capped at MAX_BACKOFF_S."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** min(failures - FREE_FAILURES, 20), MAX_BACKOFF_S))


def login_blocked_until(
    session: Session, account: str, address: str | None, now: float | None = None
) -> dict[str, int]:
    """``{throttle key: epoch second its back-off ends}`` for the keys of this try that are
    blocked now (empty: go ahead). One read, no write."""
    now_s = int(time.time() if now is None else now)
    rows = session.execute(
        select(LoginFailure.key, LoginFailure.failures, LoginFailure.last_failure_at)
        .where(LoginFailure.key.in_(throttle_keys(account, address)))
    ).all()
    return {key: last + _backoff_s(failures) for key, failures, last in rows
            if now_s - last <= FORGET_FAILURES_AFTER_S and last + _backoff_s(failures) > now_s}


def record_login_failure(session: Session, account: str, address: str | None) -> None:
    """Count one failed log-in against the account and the address (committed).

    One atomic upsert per key: concurrent failures (several workers, a flood) all count,
    and two first failures at once cannot collide on the key.
    """
    from sqlalchemy import case
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    now = int(time.time())
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for key in throttle_keys(account, address):
        statement = insert(LoginFailure).values(key=key, failures=1, last_failure_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case(
                    (LoginFailure.last_failure_at < now - FORGET_FAILURES_AFTER_S, 1),
                    else_=LoginFailure.failures + 1,
                ),
                "last_failure_at": now,
            },
        )
        session.execute(statement)
    session.commit()


def record_login_success(session: Session, account: str) -> None:
    """Forget the account's failures (the address keeps its count: one good password
    must not reset the count of an address that is trying many accounts)."""
    session.execute(delete(LoginFailure).where(
        LoginFailure.key == throttle_keys(account, None)[0]))


# ---------------------------------------------------------------- tokens
def token_hash(token: str) -> str:
    """The sha256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_last_purge = float("-inf")
_purge_lock = threading.Lock()


def purge_expired_tokens(session: Session, force: bool = False) -> int:
    """Delete expired login tokens (at most every PURGE_EVERY_S unless ``force``); returns
    how many were deleted. Not committed here: the caller's commit includes it."""
    global _last_purge
    with _purge_lock:
        if not force and time.monotonic() - _last_purge < PURGE_EVERY_S:
            return 0
        _last_purge = time.monotonic()
    result = session.execute(delete(AuthToken).where(AuthToken.expires_at < int(time.time())))
    return int(getattr(result, "rowcount", 0) or 0)


def create_token(session: Session, user: User) -> str:
    """Store a new login token for ``user`` and return it (the only time it is seen)."""
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    purge_expired_tokens(session)
    session.add(
        AuthToken(
            user_id=user.id, token_hash=token_hash(token), created_at=now,
            expires_at=now + TOKEN_LIFETIME_S,
        )
    )
    session.commit()
    return token


@dataclasses.dataclass(frozen=True)
class SessionUser:
    """The logged-in user as a request sees it: id and name (no password hash, no ORM
    state), read by one Core query because every authenticated request checks it."""

    id: int
    username: str


#: The session check of every authenticated request: (id, username, token expiry) of a live
#: token's user.
SESSION_USER = (
    select(User.id, User.username, AuthToken.expires_at)
    .join(AuthToken, AuthToken.user_id == User.id)
    .where(AuthToken.token_hash == bindparam("token_hash"),
           AuthToken.expires_at >= bindparam("now"))
)


#: Seconds a worker trusts a session it read from the database before reading it again.
SESSION_TRUST_S = 1.0


class LogoutCounter:
    """A count of log-outs in memory that the studio's worker processes share (made before
    they are forked, as ``convrec studio --workers N`` does): every worker's
    :class:`SessionMemory` drops what it trusted when the count moves, so that a log-out on
    one worker holds on all of them at once. Reading it is one shared int64, no I/O."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._count = context.RawValue("q", 0)
        self._lock = context.Lock()  # two log-outs at once both move the count

    @property
    def value(self) -> int:
        return int(self._count.value)

    def bump(self) -> int:
        """Count one log-out; the new count."""
        with self._lock:
            self._count.value += 1
            return int(self._count.value)


#: The count the workers of this studio share; set by the launcher before it forks them
#: (:func:`convrec.cli.serve.serve`), ``None`` in a single process.
SHARED_LOGOUTS: LogoutCounter | None = None


class SessionMemory:
    """One worker's recent session checks: token hash -> (user, trusted until, monotonic s).

    Every authenticated request checks its token; on PostgreSQL that read was half of a
    worker's event-loop time under load (a round trip, and the loopback's kernel work,
    ``benchmarks/RESULTS.md``). A live session read from the database is trusted for
    :data:`SESSION_TRUST_S`: a log-out on this worker forgets it at once, and so does one on
    another worker of the same studio (``logouts``, default :data:`SHARED_LOGOUTS`); a token
    deleted by hand, or a log-out on another machine, is obeyed within that second. Unknown
    tokens are never remembered, and a token is never trusted past its expiry.
    """

    #: entries at most (a client cycling tokens must not grow it without end)
    max_entries = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 logouts: LogoutCounter | None = None) -> None:
        self.clock = clock  # seconds, for the second of trust (tests move it)
        self._users: dict[str, tuple[SessionUser, float]] = {}
        self._logouts = logouts if logouts is not None else SHARED_LOGOUTS
        self._seen = self._logouts.value if self._logouts is not None else 0

    def _logged_out_elsewhere(self) -> bool:
        """Whether a worker logged someone out since this one last looked (then everything
        trusted is dropped: it may have been that session)."""
        if self._logouts is None:
            return False
        now = self._logouts.value
        if now == self._seen:
            return False
        self._seen = now
        self._users.clear()
        return True

    def get(self, hashed: str) -> SessionUser | None:
        """The user of this token hash if it was read live less than a second ago."""
        if self._logged_out_elsewhere():
            return None
        found = self._users.get(hashed)
        if found is None:
            return None
        if found[1] <= self.clock():
            self._users.pop(hashed, None)
            return None
        return found[0]

    def remember(self, hashed: str, user: SessionUser, expires_at: int) -> None:
        """Trust ``user`` for this token hash for a second (never past ``expires_at``)."""
        if self._logged_out_elsewhere():  # during the read: it may be stale already
            return
        if len(self._users) >= self.max_entries:
            self._users.clear()
        trust = min(SESSION_TRUST_S, expires_at - time.time())
        if trust > 0:
            self._users[hashed] = (user, self.clock() + trust)

    def forget(self, hashed: str | None = None) -> None:
        """Drop one token hash (a log-out: the other workers drop theirs too), or every
        entry of this worker only."""
        if hashed is None:
            self._users.clear()
            return
        self._users.pop(hashed, None)
        if self._logouts is not None:
            after = self._logouts.bump()
            if after != self._seen + 1:  # another worker's log-out came in between
                self._users.clear()
            self._seen = after


def user_for_token(
    database: Database | Session | Connection, token: str, memory: SessionMemory | None = None
) -> SessionUser | None:
    """The user a live token belongs to, or ``None`` (unknown or expired). One read: on a
    :class:`~convrec.web.db.Database`, its compiled-once path (the request's hot path); none
    when ``memory`` read it live within the last second."""
    if not token or len(token) > 128:
        return None
    hashed = token_hash(token)
    if memory is not None:
        known = memory.get(hashed)
        if known is not None:
            return known
    params = {"token_hash": hashed, "now": int(time.time())}
    if isinstance(database, Database):
        rows = database.read(SESSION_USER, **params)
        row = rows[0] if rows else None
    else:
        row = database.execute(SESSION_USER, params).first()  # type: ignore[assignment]
    if row is None:
        return None
    user = SessionUser(id=row[0], username=row[1])
    if memory is not None:
        memory.remember(hashed, user, row[2])
    return user


def revoke_token(session: Session, token: str, memory: SessionMemory | None = None) -> None:
    """Delete a token (log out); unknown tokens are ignored. ``memory``: this worker's
    :class:`SessionMemory`, which forgets it at once."""
    session.execute(delete(AuthToken).where(AuthToken.token_hash == token_hash(token)))
    session.commit()
    if memory is not None:
        memory.forget(token_hash(token))
