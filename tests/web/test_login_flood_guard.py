"""A log-in for an account whose password is being checked right now is refused (429)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient


def test_a_second_log_in_while_the_first_is_checked_gets_429_and_then_works(
    client: TestClient, signup: Callable[..., dict[str, Any]]
) -> None:
    signup(client, "alice", "correct horse battery")
    checking = client.app.state.login_memory.checking
    checking.add("alice")  # as if a request of this worker were being hashed
    try:
        refused = client.post("/api/auth/login",
                              json={"username": "ALICE", "password": "correct horse battery"})
    finally:
        checking.discard("alice")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"][0]["loc"] == ["body", "username"]
    ok = client.post("/api/auth/login",
                     json={"username": "alice", "password": "correct horse battery"})
    assert ok.status_code == 200 and ok.json()["token"]
    assert checking == set()  # nothing left behind by either request
