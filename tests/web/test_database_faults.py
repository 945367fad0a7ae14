"""Database faults: a read-only or full database answers 503 with the reason on sign-up,
log-in and every write, reads keep working, and the studio recovers by itself; an unusable
database URL is one line at start-up. No password or token hash reaches a log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from convrec.web.db import DatabaseStartupError, check_database, migrate
from convrec.web.models import User


@contextmanager
def pragma(client: Any, statement: str) -> Iterator[None]:
    """Every new connection of the app's engine runs ``statement`` (e.g. ``query_only``),
    as a read-only mount or a full disk would make SQLite answer; undone on exit."""
    engine = client.app.state.db.engine

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(statement)

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # the pool's open connections are replaced by ones that ran it
    try:
        yield
    finally:
        event.remove(engine, "connect", on_connect)
        engine.dispose()


@contextmanager
def disk_full(client: Any) -> Iterator[None]:
    """Every write fails as SQLite fails on a full disk (SQLITE_FULL): the driver's own
    error, raised where the driver would raise it."""
    import sqlite3

    engine = client.app.state.db.engine

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


#: (the fault, what the 503 must say)
FAULTS = [("read-only", "read-only"), ("full", "full")]


@pytest.mark.parametrize(("statement", "reason"), FAULTS)
def test_faults_are_503_with_the_reason_and_the_studio_recovers(
    client, signup, caplog: pytest.LogCaptureFixture, statement: str, reason: str
) -> None:
    alice = signup(client, "alice", "her long passphrase")
    me, headers = alice["user"]["id"], {"Authorization": f"Bearer {alice['token']}"}
    assert client.put(f"/api/users/{me}/ratings/1", json={"rating": 4},
                      headers=headers).status_code == 200
    client.cookies.clear()
    fault = pragma(client, "PRAGMA query_only=ON") if statement == "read-only" \
        else disk_full(client)
    with caplog.at_level(logging.DEBUG), fault:
        writes = [
            client.post("/api/auth/signup", json={"username": "bob",
                                                  "password": "a long passphrase"}),
            client.post("/api/auth/login", json={"username": "alice",
                                                 "password": "her long passphrase"}),
            client.put(f"/api/users/{me}/ratings/50", json={"rating": 5}, headers=headers),
            client.delete(f"/api/users/{me}/ratings/1", headers=headers),
        ]
        for response in writes:
            assert response.status_code == 503, response.text
            detail = response.json()["detail"][0]
            assert reason in detail["msg"] and detail["type"] == "database_unavailable"
            assert response.headers["retry-after"].isdigit()
        # reads still work while writes cannot
        listed = client.get(f"/api/users/{me}/ratings", headers=headers)
        assert listed.status_code == 200 and listed.json()["count"] == 1
    with client.app.state.db.sessions() as session:
        stored_hash = session.scalar(select(User.password_hash).where(User.username == "alice"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "database fault" in logged
    for secret in (stored_hash, "long password", alice["token"], "$argon2"):
        assert secret not in logged
    # recovered: no restart needed
    assert client.put(f"/api/users/{me}/ratings/50", json={"rating": 5},
                      headers=headers).status_code == 200
    assert signup(client, "bob", "a long passphrase")["user"]["username"] == "bob"


def test_start_up_refuses_an_unusable_database_in_one_line(tmp_path: Path) -> None:
    migrate(f"sqlite:///{tmp_path / 'ro.db'}")
    (tmp_path / "a_file").write_text("not a folder")
    cases = {
        "not a url": "is not a URL",
        "nosuchdb://u@h/x": "no driver",
        f"sqlite:///{tmp_path / 'a_file' / 'studio.db'}": "folder cannot be created",
        f"sqlite:///file:{tmp_path / 'ro.db'}?mode=ro&uri=true": "read-only",
        "postgresql://convrec:secret-pw@127.0.0.1:9/none": "unreachable",
    }
    for url, reason in cases.items():
        with pytest.raises(DatabaseStartupError) as caught:
            check_database(url)
        message = str(caught.value)
        assert reason in message and "\n" not in message, message
        assert "secret-pw" not in message


def test_the_cli_checks_the_database_before_loading_any_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cli.helpers import run_cli

    from convrec.web import services

    def no_models(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a model was loaded before the database was checked")

    monkeypatch.setattr(services.Services, "warm_up", no_models)
    (tmp_path / "f").write_text("a file where the folder should be")
    code, out, err = run_cli(
        ["studio", "--database-url", f"sqlite:///{tmp_path / 'f' / 'db'}", "--port", "8799"],
        capsys,
    )
    assert code == 2, out + err
    assert "database URL" in err and "Traceback" not in err + out
