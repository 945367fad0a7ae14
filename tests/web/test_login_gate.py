"""The log-in throttle's front door: blocked tries answered before FastAPI, exactly as the
route answers them, and never for longer than the database says."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from convrec.web import login_gate, security
from convrec.web.login_gate import MAX_KEYS, LoginMemory
from convrec.web.models import LoginFailure
from convrec.web.routers import auth
from convrec.web.security import FREE_FAILURES


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Frozen throttle clock, no tarpit pause, and a count of the route's throttle reads."""
    now = time.time()
    monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: now,
                                                          monotonic=time.monotonic))
    monkeypatch.setattr(login_gate, "THROTTLED_ANSWER_DELAY_S", 0.0)
    monkeypatch.setattr(auth, "THROTTLED_ANSWER_DELAY_S", 0.0)
    reads: list[int] = []
    real = auth.login_blocked_until

    def counting(*args: Any, **kwargs: Any) -> dict[str, int]:
        reads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(auth, "login_blocked_until", counting)
    return reads


def _fail_until_throttled(client: TestClient, username: str) -> None:
    for _ in range(FREE_FAILURES):
        wrong = client.post("/api/auth/login", json={"username": username, "password": "nope"})
        assert wrong.status_code == 401


def test_the_gate_answers_a_blocked_account_as_the_route_does(
    client: TestClient, signup: Callable[..., dict[str, Any]], counted_reads: list[int],
) -> None:
    signup(client, "target", "the right password")
    client.cookies.clear()
    _fail_until_throttled(client, "target")
    before = len(counted_reads)
    by_route = client.post("/api/auth/login", json={"username": "target", "password": "x"})
    assert len(counted_reads) == before + 1  # the route read the database ...
    by_gate = client.post("/api/auth/login", json={"username": "TARGET", "password": "y"})
    assert len(counted_reads) == before + 1  # ... the gate did not
    assert by_route.status_code == by_gate.status_code == 429
    assert by_gate.headers["retry-after"] == by_route.headers["retry-after"] == "1"
    assert by_gate.json() == {**by_route.json(), "detail": [
        {**by_route.json()["detail"][0], "input": "TARGET"}]}  # the spelling sent is echoed
    for header in ("content-type", "x-frame-options", "content-security-policy"):
        assert by_gate.headers[header] == by_route.headers[header]


def test_a_blocked_address_is_refused_for_every_account_but_a_bad_form_is_still_a_422(
    client: TestClient, counted_reads: list[int],
) -> None:
    for i in range(FREE_FAILURES):
        client.post("/api/auth/login", json={"username": f"guess-{i}", "password": "nope"})
    assert client.post("/api/auth/login", json={"username": "a", "password": "b"}
                       ).status_code == 429
    reads = len(counted_reads)
    refused = client.post("/api/auth/login", json={"username": "another", "password": "b"})
    assert refused.status_code == 429 and "your address" in refused.json()["detail"][0]["msg"]
    assert len(counted_reads) == reads  # the address was known to be blocked
    bad = client.post("/api/auth/login", json={"username": "", "password": "b"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "username"]
    not_json = client.post("/api/auth/login", content=b"username=a",
                           headers={"content-type": "application/json"})
    assert not_json.status_code == 422


def test_the_database_is_read_again_after_trust_s(
    client: TestClient, signup: Callable[..., dict[str, Any]], counted_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signup(client, "unlocked", "the right password")
    client.cookies.clear()
    _fail_until_throttled(client, "unlocked")
    attempt = {"username": "unlocked", "password": "the right password"}
    assert client.post("/api/auth/login", json=attempt).status_code == 429
    with client.app.state.db.sessions() as session:  # an operator clears the failures
        session.execute(delete(LoginFailure))
        session.commit()
    assert client.post("/api/auth/login", json=attempt).status_code == 429  # still trusted
    monkeypatch.setattr(login_gate, "TRUST_S", 0.0)  # as if TRUST_S had passed
    assert client.post("/api/auth/login", json=attempt).status_code == 200


def test_the_memory_only_says_blocked_and_stays_bounded() -> None:
    now = [1_000_000.0]
    memory = LoginMemory(clock=lambda: now[0])
    keys = ["account:a", "address:1.2.3.4"]
    assert memory.wait_for("a", keys) == 0
    memory.remember({"address:1.2.3.4": 1_000_004})
    assert memory.wait_for("a", keys) == 4 and memory.wait_for("b", ["account:b"]) == 0
    now[0] += 3.5
    assert memory.wait_for("a", keys) == 1  # whole seconds, as the database counts them
    now[0] += 0.5
    assert memory.wait_for("a", keys) == 0
    memory.checking.add("a")
    assert memory.wait_for("a", keys) == 1
    memory.remember({f"address:{i}": 2_000_000 for i in range(MAX_KEYS)})
    memory.remember({"account:z": 2_000_000})  # past the bound: the old ones are dropped
    assert memory.wait_for("z", ["account:z"]) > 0
    assert memory.wait_for("x", ["address:5"]) == 0
