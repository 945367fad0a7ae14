"""Sign up, log in, log out; passwords are argon2 hashes; cookies are HttpOnly SameSite=Lax;
the password policy, usernames by NFKC case fold, the log-in throttle, the bound on
concurrent hashes, the purge of expired sessions and the origin check."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import anyio
import pytest
from sqlalchemy import select, update
from tests.web.async_helpers import run_async

from convrec.web.models import AuthToken, LoginFailure, User
from convrec.web.security import (
    FREE_FAILURES,
    HASH_NICE,
    HashLimiter,
    HashQueueFullError,
    common_passwords,
    password_problem,
)


def test_signup_logs_in_with_a_safe_cookie(client, signup) -> None:
    body = signup(client, "alice")
    assert body["user"]["username"] == "alice" and body["token_type"] == "bearer"
    cookie = client.cookies.get("convrec_session")
    assert cookie == body["token"]
    assert client.get("/api/auth/me").json() == body["user"]


def test_cookie_flags(client) -> None:
    response = client.post("/api/auth/signup",
                           json={"username": "bob", "password": "a long passphrase"})
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header


def test_password_is_stored_as_an_argon2_hash(client, signup) -> None:
    signup(client, "carol", "my secret pass")
    with client.app.state.db.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "carol"))
    assert stored.startswith("$argon2id$") and "my secret pass" not in stored


def test_login_with_the_right_and_the_wrong_password(client, signup) -> None:
    signup(client, "dave", "right password")
    client.cookies.clear()
    wrong = client.post("/api/auth/login", json={"username": "dave", "password": "wrong password"})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "whatever1"})
    assert unknown.status_code == 401
    right = client.post("/api/auth/login", json={"username": "dave", "password": "right password"})
    assert right.status_code == 200
    token = right.json()["token"]
    client.cookies.clear()
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "dave"


def test_duplicate_username_is_409(client, signup) -> None:
    signup(client, "erin")
    again = client.post("/api/auth/signup", json={"username": "erin", "password": "other pass"})
    assert again.status_code == 409
    assert again.json()["detail"][0]["loc"] == ["body", "username"]


def test_bad_credentials_name_the_field_and_rule(client) -> None:
    short = client.post("/api/auth/signup", json={"username": "frank", "password": "short pw"})
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]
    odd = client.post("/api/auth/signup", json={"username": "x y", "password": "long enough"})
    assert odd.json()["detail"][0]["loc"] == ["body", "username"]


def test_logout_revokes_the_token(client, signup) -> None:
    token = signup(client, "gina")["token"]
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 401


def test_me_without_login_is_401(client) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "log in first" in response.json()["detail"][0]["msg"]


def test_no_page_loads_assets_from_a_cdn(client) -> None:
    for path in ("/", "/conv", "/login", "/digits", "/movies", "/docs"):
        html = client.get(path).text
        assert "http://" not in html and "https://" not in html, path
    assert "script-src 'self'" in client.get("/conv").headers["content-security-policy"]
    nav = client.get("/").text
    assert 'href="/digits"' in nav and 'href="/movies"' in nav and 'href="/docs"' in nav


def test_every_page_names_an_icon_and_each_local_asset_answers(client) -> None:
    """No page makes the browser ask for /favicon.ico (a 404 in every console)."""
    import re

    for path in ("/", "/conv", "/login", "/digits", "/movies", "/training", "/docs"):
        html = client.get(path).text
        assert re.search(r'<link rel="icon" href="/static/[^"]+"', html), path
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            response = client.get(asset)
            assert response.status_code == 200 and len(response.content) > 0, (path, asset)


def test_the_api_docs_page_is_served_with_local_assets(client) -> None:
    import re

    html = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert "/docs/assets/swagger-ui-bundle.js" in assets and "/static/docs.js" in assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 0, asset
    assert "<script>" not in html  # no inline script: the CSP allows only 'self'


# ---------------------------------------------------------------- password policy
@pytest.mark.parametrize(("password", "rule"), [
    ("123456789", "at least 10 characters"),
    ("          ", "one character repeated"),
    ("aaaaaaaaaaaa", "one character repeated"),
    ("1234567890", "most common passwords"),
    ("qwertyuiop", "most common passwords"),
    ("Password12", "most common passwords"),  # compared lowercased, as Django does
    ("my name is henrietta", "your username"),
])
def test_weak_passwords_are_refused_naming_the_rule(client, password: str, rule: str) -> None:
    response = client.post("/api/auth/signup",
                           json={"username": "Henrietta", "password": password})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "password"] and rule in detail["msg"]


def test_the_common_password_list_is_the_shipped_one() -> None:
    listed = common_passwords()
    assert len(listed) > 19_000 and {"password", "123456", "iloveyou"} <= listed
    assert password_problem("correct horse battery") is None


def test_an_old_short_password_still_logs_in(client) -> None:
    """The policy is for new passwords: an account made before it keeps working."""
    from convrec.web.security import hash_password

    with client.app.state.db.sessions() as session:
        session.add(User(username="old", username_key="old",
                         password_hash=hash_password("8 chars!"), created_at=0))
        session.commit()
    assert client.post("/api/auth/login",
                       json={"username": "old", "password": "8 chars!"}).status_code == 200


# ---------------------------------------------------------------- usernames
def test_usernames_are_unique_after_nfkc_case_folding(client, signup) -> None:
    signup(client, "alice")
    for twin in ("ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45"):  # fullwidth alice
        again = client.post("/api/auth/signup", json={"username": twin,
                                                      "password": "another long one"})
        assert again.status_code == 409, (twin, again.text)
    client.cookies.clear()
    for spelling in ("alice", "ALICE", "\uff21lice"):
        login = client.post("/api/auth/login", json={"username": spelling,
                                                     "password": "correct horse"})
        assert login.status_code == 200 and login.json()["user"]["username"] == "alice"


# ---------------------------------------------------------------- throttling
def _age_failures(client: Any, seconds: int) -> None:
    """Move every recorded failure ``seconds`` into the past (as if that time had passed):
    the worker's memory of blocked keys (trusted for ``login_gate.TRUST_S``) is out of date
    then, as it would be after that time."""
    with client.app.state.db.sessions() as session:
        session.execute(update(LoginFailure).values(
            last_failure_at=LoginFailure.last_failure_at - seconds))
        session.commit()
    client.app.state.login_memory.forget()


@pytest.fixture
def frozen_login_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The throttle's clock stands still: the first back-off is 1 s, and on a busy machine
    five argon2 log-ins can take longer than that, which let the refused try through.
    The tests age the failures explicitly instead (``_age_failures``)."""
    from types import SimpleNamespace

    from convrec.web import security

    now = time.time()
    monkeypatch.setattr(security, "time", SimpleNamespace(time=lambda: now,
                                                          monotonic=time.monotonic))


@pytest.mark.usefixtures("frozen_login_clock")
def test_failed_logins_back_off_per_account(client, signup) -> None:
    signup(client, "mallory-target", "the real password")
    client.cookies.clear()

    def attempt(password: str, username: str = "mallory-target") -> Any:
        return client.post("/api/auth/login", json={"username": username, "password": password})

    for _ in range(FREE_FAILURES):
        assert attempt("a wrong guess").status_code == 401
    refused = attempt("the real password")  # even the right one: the account is cooling down
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "try again in" in refused.json()["detail"][0]["msg"]
    _age_failures(client, 2)  # the first back-off (1 s) has passed
    assert attempt("another wrong guess").status_code == 401
    again = attempt("the real password")
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1  # now 2 s
    _age_failures(client, 3)
    assert attempt("the real password").status_code == 200
    with client.app.state.db.sessions() as session:  # the account's count starts again;
        counts = dict(session.execute(select(LoginFailure.key, LoginFailure.failures)).all())
    assert counts == {"address:testclient": FREE_FAILURES + 1}  # the address keeps its own


@pytest.mark.usefixtures("frozen_login_clock")
def test_failed_logins_back_off_per_address(client, signup) -> None:
    """One address guessing across many accounts is slowed down too."""
    signup(client, "victim-z", "victim's password")
    client.cookies.clear()
    for i in range(FREE_FAILURES):
        wrong = client.post("/api/auth/login",
                            json={"username": f"victim-{i}", "password": "guess guess"})
        assert wrong.status_code == 401
    refused = client.post("/api/auth/login",
                          json={"username": "victim-z", "password": "victim's password"})
    assert refused.status_code == 429 and "your address" in refused.json()["detail"][0]["msg"]


def test_the_hash_limiter_bounds_concurrency_and_the_queue() -> None:
    limiter = HashLimiter(concurrent=2, queue=3)
    running, peak, refused = 0, 0, 0

    def slow_hash() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.05)  # a stand-in for argon2's ~50 ms; nothing here measures time
        running -= 1

    async def one() -> None:
        nonlocal refused
        try:
            await limiter.run(slow_hash)
        except HashQueueFullError:
            refused += 1

    async def flood() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(one)

    run_async(flood)
    assert peak == 2  # never more than two hashes at once
    assert refused == 5  # 2 hashing + 3 waiting were taken; the other 5 answered at once
    assert limiter.waiting == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_hashes_run_at_a_lower_priority_than_the_routes() -> None:
    """argon2's lanes inherit the hashing thread's nice value: under load the other routes
    go first (the login flood row of benchmarks/RESULTS.md)."""
    limiter = HashLimiter(concurrent=1)

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = nice_of_this_thread()
    assert run_async(limiter.run, nice_of_this_thread) == max(HASH_NICE, before)
    assert nice_of_this_thread() == before  # the caller's own priority is left as it was


# ---------------------------------------------------------------- sessions and origins
def test_expired_sessions_are_purged(client, signup) -> None:
    from convrec.web import security

    body = signup(client, "ivan")
    with client.app.state.db.sessions() as session:
        session.execute(update(AuthToken).values(expires_at=int(time.time()) - 1))
        session.commit()
    assert client.get("/api/auth/me").status_code == 401
    security._last_purge = float("-inf")  # as if the last purge were long ago
    client.cookies.clear()
    assert client.post("/api/auth/login", json={"username": "ivan",
                                                "password": "correct horse"}).status_code == 200
    with client.app.state.db.sessions() as session:
        tokens = session.scalars(select(AuthToken.expires_at)).all()
    now = time.time()  # a clock reading, not a duration (no wall-clock assertion)
    assert len(tokens) == 1 and tokens[0] > now  # the expired one is gone
    assert body["token"] != client.cookies.get("convrec_session")


@pytest.mark.parametrize(("origin", "allowed"), [
    ("http://testserver", True),
    ("http://TESTSERVER:80", True),
    ("https://testserver", False),  # another scheme
    ("http://testserver:8080", False),  # another port
    ("http://evil.example", False),
    ("null", False),
])
def test_cookie_writes_need_the_same_scheme_host_and_port(
    client, signup, origin: str, allowed: bool
) -> None:
    me = signup(client, "olga")["user"]["id"]
    response = client.post("/api/auth/logout", headers={"origin": origin})
    assert (response.status_code == 204) == allowed, response.text
    if not allowed:
        assert response.status_code == 403 and response.json()["detail"][0]["type"] == "csrf"
        assert client.get(f"/api/users/{me}/ratings").status_code == 200  # still logged in


def test_no_database_connection_is_held_while_a_password_hash_waits(
    client, signup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log-in flood queues on the hash limiter; if each waiting log-in kept its pooled
    connection, the pool would run dry for every route (the load test found that)."""
    from convrec.web.routers import auth

    signup(client, "pooled", "a queued passphrase")
    client.cookies.clear()
    held: list[int] = []
    real_verify, real_hash = auth.verify_password, auth.hash_password

    def verify(stored: Any, password: str) -> bool:
        held.append(client.app.state.db.engine.pool.checkedout())
        return real_verify(stored, password)

    def hash_(password: str) -> str:
        held.append(client.app.state.db.engine.pool.checkedout())
        return real_hash(password)

    monkeypatch.setattr(auth, "verify_password", verify)
    monkeypatch.setattr(auth, "hash_password", hash_)
    login = client.post("/api/auth/login",
                        json={"username": "pooled", "password": "a queued passphrase"})
    assert login.status_code == 200
    new = client.post("/api/auth/signup",
                      json={"username": "pooled2", "password": "another passphrase"})
    assert new.status_code == 201
    assert held == [0, 0]
