"""``/api/auth``: sign up, log in, log out, who am I.

Sign-up and log-in are ``async``: the argon2 hash (64 MiB, ~0.28 s of CPU over 4 lanes) runs
under the app's :class:`convrec.web.security.HashLimiter`, so a flood of log-ins waits in the event
loop instead of holding the worker threads that every other route needs; the database work
runs in those threads, one short step at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NoReturn, TypeVar, TypeVarTuple

import anyio
from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from convrec.web.deps import CurrentUser, SessionDep, request_token
from convrec.web.errors import field_error
from convrec.web.login_gate import THROTTLED_ANSWER_DELAY_S, LoginMemory, throttled_error
from convrec.web.models import User
from convrec.web.schemas import CredentialsIn, SignupIn, TokenOut, UserOut
from convrec.web.security import (
    COOKIE_NAME,
    TOKEN_LIFETIME_S,
    HashLimiter,
    HashQueueFullError,
    create_token,
    hash_password,
    login_blocked_until,
    record_login_failure,
    record_login_success,
    revoke_token,
    username_key,
    verify_password,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _address(request: Request) -> str | None:
    """The client's address (behind a proxy: what ``--proxy-headers`` made of it)."""
    return request.client.host if request.client else None


async def _hashing(request: Request, function: Callable[[*Ts], T], *args: *Ts) -> T:
    limiter: HashLimiter = request.app.state.hash_limiter
    try:
        return await limiter.run(function, *args)
    except HashQueueFullError as exc:
        raise field_error([], None, str(exc), status=503, kind="busy",
                          headers={"Retry-After": "1"}) from exc


def _taken(username: str) -> HTTPException:
    return field_error(
        ["body", "username"], username,
        "this username is taken (usernames are compared ignoring case and width)",
        status=409, kind="conflict",
    )


def _find_user(session: Session, username: str) -> User | None:
    """The account of ``username``: by its NFKC case fold, the exact spelling first."""
    users = session.scalars(select(User).where(
        or_(User.username_key == username_key(username), User.username == username)
    )).all()
    exact = [u for u in users if u.username == username]
    return next(iter(exact or users), None)


def _login_response(response: Response, token: str, user: User, secure: bool) -> TokenOut:
    response.set_cookie(
        COOKIE_NAME, token, max_age=TOKEN_LIFETIME_S, httponly=True, samesite="lax",
        secure=secure, path="/",
    )
    return TokenOut(
        user=UserOut(id=user.id, username=user.username), token=token, expires_in=TOKEN_LIFETIME_S
    )


@router.post("/signup", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def signup(
    body: SignupIn, request: Request, response: Response, session: SessionDep
) -> TokenOut:
    """Create an account and log it in (409 if the username is taken, whatever its case).

    The password: at least 10 characters, not one of the 19,640 most common passwords,
    not containing the username.
    """
    key = username_key(body.username)

    def taken() -> bool:
        return session.scalar(select(User.id).where(User.username_key == key)) is not None

    def taken_and_release() -> bool:
        try:
            return taken()
        finally:  # hand the connection back to the pool before waiting for the hash
            session.commit()

    if await run_in_threadpool(taken_and_release):
        raise _taken(body.username)
    password_hash = await _hashing(request, hash_password, body.password)

    def create() -> tuple[User, str]:
        user = User(username=body.username, username_key=key, password_hash=password_hash,
                    created_at=int(time.time()))
        session.add(user)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent sign-up won the race
            session.rollback()
            raise _taken(body.username) from exc
        return user, create_token(session, user)  # one commit: the user and the token

    user, token = await run_in_threadpool(create)
    return _login_response(response, token, user, request.url.scheme == "https")


@router.post(
    "/login", response_model=TokenOut,
    responses={429: {"description": "Too many failed log-ins: wait Retry-After seconds."}},
)
async def login(
    body: CredentialsIn, request: Request, response: Response, session: SessionDep
) -> TokenOut:
    """Log in; the token comes back in the body and as an HttpOnly SameSite=Lax cookie.

    After 5 failed log-ins on an account, or from one address, each further try must wait
    twice as long as the previous one (429 with ``Retry-After``), up to 15 minutes.
    """
    address = _address(request)
    account = username_key(body.username)
    memory: LoginMemory = request.app.state.login_memory
    if account in memory.checking:
        # this account's password is being checked for another request of this worker: a
        # person does not log in twice at once, a flood does; without this, every queued
        # try would reach the hash (and the cores) the moment a back-off window ends
        await _refuse_throttled(body.username, 1)
    memory.checking.add(account)
    try:
        return await _log_in(body, request, response, session, address)
    finally:
        memory.checking.discard(account)


async def _refuse_throttled(username: str, wait: int) -> NoReturn:
    """429 with ``Retry-After: wait``, after a pause that holds no thread, no connection and
    no CPU (a tarpit): a client hammering a throttled account gets one answer a second per
    connection instead of thousands, and the other routes keep their latency. The next tries
    of a blocked account or address are answered the same way by
    :class:`convrec.web.login_gate.LoginGate`, before FastAPI."""
    await anyio.sleep(min(wait, THROTTLED_ANSWER_DELAY_S))
    body, headers = throttled_error(username, wait)
    detail = body["detail"][0]
    raise field_error(detail["loc"], username, detail["msg"], status=429, kind=detail["type"],
                      headers=headers)


async def _log_in(
    body: CredentialsIn, request: Request, response: Response, session: Session,
    address: str | None,
) -> TokenOut:
    def look_up() -> tuple[dict[str, int], User | None]:
        try:
            return (login_blocked_until(session, body.username, address),
                    _find_user(session, body.username))
        finally:
            # the connection goes back to the pool before the (queued) hash: a flood of
            # log-ins waiting for the hash limiter must not hold every pooled connection
            session.commit()

    blocked, user = await run_in_threadpool(look_up)
    if blocked:
        memory: LoginMemory = request.app.state.login_memory
        memory.remember(blocked)  # the gate answers the next tries of these keys
        wait = max(blocked.values()) - int(memory.now())
        await _refuse_throttled(body.username, max(wait, 1))
    ok = await _hashing(request, verify_password, user.password_hash if user else None,
                        body.password)
    if not ok or user is None:
        await run_in_threadpool(record_login_failure, session, body.username, address)
        raise field_error(
            ["body", "password"], None, "wrong username or password", status=401,
            kind="not_authenticated",
        )
    found = user

    def start_session() -> str:
        record_login_success(session, body.username)
        return create_token(session, found)  # commits both

    token = await run_in_threadpool(start_session)
    return _login_response(response, token, found, request.url.scheme == "https")


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """End this login (the token stops working at once on every worker of this studio,
    within a second on other machines sharing its database: ``security.SessionMemory``)."""
    token, _ = request_token(request)
    if token:
        revoke_token(session, token, request.app.state.session_memory)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """The logged-in user."""
    return UserOut(id=user.id, username=user.username)
