"""Each worker trusts a session it read from the database for one second: fewer reads on the
hot path, and a revoked or expired token still refused (at once by the worker that logged
out, within the second by the others)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from convrec.web import security
from convrec.web.models import AuthToken
from convrec.web.security import SESSION_TRUST_S, LogoutCounter, SessionMemory, SessionUser


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock_and_reads(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                    ) -> tuple[ManualClock, list[int]]:
    """The app's session memory on a manual clock, and a count of session reads."""
    clock = ManualClock()
    client.app.state.session_memory = SessionMemory(clock=clock)  # type: ignore[attr-defined]
    reads: list[int] = []
    database = client.app.state.db  # type: ignore[attr-defined]
    real = database.read

    def counting(statement: Any, **params: Any) -> list[tuple[Any, ...]]:
        if statement is security.SESSION_USER:
            reads.append(1)
        return real(statement, **params)

    monkeypatch.setattr(database, "read", counting)
    return clock, reads


def _me(client: TestClient, token: str) -> int:
    return client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_session_is_read_once_a_second_per_worker(
    client: TestClient, signup: Callable[..., dict[str, Any]],
    clock_and_reads: tuple[ManualClock, list[int]],
) -> None:
    clock, reads = clock_and_reads
    token = signup(client, "reader")["token"]
    client.cookies.clear()
    assert [_me(client, token) for _ in range(5)] == [200] * 5
    assert len(reads) == 1
    clock.now += SESSION_TRUST_S
    assert _me(client, token) == 200
    assert len(reads) == 2


def test_a_token_deleted_elsewhere_is_refused_after_the_second_of_trust(
    client: TestClient, signup: Callable[..., dict[str, Any]],
    clock_and_reads: tuple[ManualClock, list[int]],
) -> None:
    clock, _ = clock_and_reads
    token = signup(client, "revoked")["token"]
    client.cookies.clear()
    assert _me(client, token) == 200
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        session.execute(delete(AuthToken))  # another worker's log-out, or an operator's
        session.commit()
    assert _me(client, token) == 200  # trusted for at most the second
    clock.now += SESSION_TRUST_S
    assert _me(client, token) == 401


def test_a_log_out_on_this_worker_refuses_the_token_at_once(
    client: TestClient, signup: Callable[..., dict[str, Any]],
    clock_and_reads: tuple[ManualClock, list[int]],
) -> None:
    token = signup(client, "leaver")["token"]
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    assert _me(client, token) == 200
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert _me(client, token) == 401


def test_an_expired_token_is_not_trusted_past_its_expiry(
    client: TestClient, signup: Callable[..., dict[str, Any]],
    clock_and_reads: tuple[ManualClock, list[int]],
) -> None:
    _, reads = clock_and_reads
    token = signup(client, "expiring")["token"]
    client.cookies.clear()
    with client.app.state.db.sessions() as session:  # type: ignore[attr-defined]
        session.execute(update(AuthToken).values(expires_at=AuthToken.created_at - 1))
        session.commit()
    assert [_me(client, token) for _ in range(2)] == [401, 401]
    assert len(reads) == 2  # an unknown or expired token is never remembered


def test_the_memory_is_bounded_and_never_trusts_past_expiry() -> None:
    clock = ManualClock()
    memory = SessionMemory(clock=clock)
    user = SessionUser(id=1, username="u")
    memory.remember("gone", user, expires_at=0)  # expired in 1970
    assert memory.get("gone") is None
    for i in range(memory.max_entries + 1):
        memory.remember(f"h{i}", user, expires_at=2**40)
    assert len(memory._users) <= memory.max_entries
    assert memory.get(f"h{memory.max_entries}") == user


def test_a_log_out_on_one_worker_is_obeyed_by_the_others_at_once() -> None:
    """Two workers' memories share the studio's log-out count: B's log-out drops what A
    trusted, without waiting out A's second of trust (and a read that raced the log-out is
    not remembered)."""
    clock = ManualClock()
    logouts = LogoutCounter()
    a, b = SessionMemory(clock=clock, logouts=logouts), SessionMemory(clock=clock,
                                                                       logouts=logouts)
    user = SessionUser(id=1, username="u")
    a.remember("tok", user, expires_at=2**40)
    b.remember("tok", user, expires_at=2**40)
    assert a.get("tok") == user
    b.forget("tok")
    assert a.get("tok") is None and b.get("tok") is None
    assert a.get("other") is None  # A read the database while B logged someone out:
    b.forget("other")
    a.remember("other", user, expires_at=2**40)  # what A read may be stale: not kept
    assert a.get("other") is None
    # one process, no shared count: as before, the others obey within the second
    lone = SessionMemory(clock=clock)
    lone.remember("tok", user, expires_at=2**40)
    assert lone.get("tok") == user


def test_the_log_out_count_is_shared_by_forked_workers() -> None:
    """As ``convrec studio --workers N`` forks: a child's log-out reaches the parent's memory
    through the shared count, with no file or database read."""
    import multiprocessing

    logouts = LogoutCounter()
    parent = SessionMemory(logouts=logouts)
    parent.remember("tok", SessionUser(id=1, username="u"), expires_at=2**40)
    child = multiprocessing.get_context("fork").Process(
        target=lambda: SessionMemory(logouts=logouts).forget("tok"))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert logouts.value == 1 and parent.get("tok") is None
