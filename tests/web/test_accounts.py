"""Sign up, log in, log out; passwords are argon2 hashes; cookies are HttpOnly SameSite=Lax."""

from __future__ import annotations

from sqlalchemy import select

from convrec.web.models import User


def test_signup_logs_in_with_a_safe_cookie(client, signup) -> None:
    body = signup(client, "alice")
    assert body["user"]["username"] == "alice" and body["token_type"] == "bearer"
    cookie = client.cookies.get("convrec_session")
    assert cookie == body["token"]
    assert client.get("/api/auth/me").json() == body["user"]


def test_cookie_flags(client) -> None:
    response = client.post("/api/auth/signup", json={"username": "bob", "password": "12345678"})
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
    short = client.post("/api/auth/signup", json={"username": "frank", "password": "short"})
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
    assert client.get("/docs").status_code == 404  # Swagger UI would pull a CDN script
    for path in ("/", "/conv", "/login", "/digits", "/movies"):
        html = client.get(path).text
        assert "http://" not in html and "https://" not in html, path
    assert "script-src 'self'" in client.get("/conv").headers["content-security-policy"]
    nav = client.get("/").text
    assert 'href="/digits"' in nav and 'href="/movies"' in nav
