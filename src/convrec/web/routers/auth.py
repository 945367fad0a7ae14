"""``/api/auth``: sign up, log in, log out, who am I."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from convrec.web.deps import CurrentUser, SessionDep, request_token
from convrec.web.errors import field_error
from convrec.web.models import User
from convrec.web.schemas import CredentialsIn, TokenOut, UserOut
from convrec.web.security import (
    COOKIE_NAME,
    TOKEN_LIFETIME_S,
    create_token,
    hash_password,
    revoke_token,
    verify_password,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _login_response(response: Response, session: SessionDep, user: User, secure: bool) -> TokenOut:
    token = create_token(session, user)
    response.set_cookie(
        COOKIE_NAME, token, max_age=TOKEN_LIFETIME_S, httponly=True, samesite="lax",
        secure=secure, path="/",
    )
    return TokenOut(
        user=UserOut(id=user.id, username=user.username), token=token, expires_in=TOKEN_LIFETIME_S
    )


@router.post("/signup", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
def signup(
    body: CredentialsIn, request: Request, response: Response, session: SessionDep
) -> TokenOut:
    """Create an account and log it in (409 if the username is taken)."""
    taken = session.scalar(select(User.id).where(User.username == body.username))
    if taken is not None:
        raise field_error(
            ["body", "username"], body.username, "this username is taken", status=409,
            kind="conflict",
        )
    user = User(
        username=body.username, password_hash=hash_password(body.password),
        created_at=int(time.time()),
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:  # a concurrent sign-up won the race
        session.rollback()
        raise field_error(
            ["body", "username"], body.username, "this username is taken", status=409,
            kind="conflict",
        ) from exc
    return _login_response(response, session, user, request.url.scheme == "https")


@router.post("/login", response_model=TokenOut)
def login(
    body: CredentialsIn, request: Request, response: Response, session: SessionDep
) -> TokenOut:
    """Log in; the token comes back in the body and as an HttpOnly SameSite=Lax cookie."""
    user = session.scalar(select(User).where(User.username == body.username))
    if not verify_password(user.password_hash if user else None, body.password) or user is None:
        raise field_error(
            ["body", "password"], None, "wrong username or password", status=401,
            kind="not_authenticated",
        )
    return _login_response(response, session, user, request.url.scheme == "https")


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """End this login (the token stops working at once)."""
    token, _ = request_token(request)
    if token:
        revoke_token(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The logged-in user."""
    return UserOut(id=user.id, username=user.username)
