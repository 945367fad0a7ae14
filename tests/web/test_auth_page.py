"""The sign-up/log-in page states the password policy the API enforces (one home: the
constant in convrec.web.security), and logging in is not held to it by the browser."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from convrec.web.security import MIN_PASSWORD_LENGTH


def test_the_password_field_asks_for_the_policy_length(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    field = re.search(r'<input id="password"[^>]*>', page.text, re.S)
    assert field is not None, page.text
    assert f'minlength="{MIN_PASSWORD_LENGTH}"' in field.group(0)
    assert MIN_PASSWORD_LENGTH == 10  # the policy; the page follows the constant


def test_log_in_skips_the_browser_check_and_sign_up_keeps_it(client: TestClient) -> None:
    page = client.get("/login").text
    login = re.search(r'<button[^>]*id="login"[^>]*>', page)
    signup = re.search(r'<button[^>]*id="signup"[^>]*>', page)
    assert login is not None and signup is not None
    # an account made under an older, shorter rule can still log in through the form
    assert "formnovalidate" in login.group(0)
    assert "formnovalidate" not in signup.group(0)


def test_the_api_refuses_what_the_page_refuses(client: TestClient) -> None:
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    response = client.post("/api/auth/signup", json={"username": "shorty", "password": short})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "password"
