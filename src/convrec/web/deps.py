"""Dependencies shared by the routers, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Generic, TypeVar, TypeVarTuple
from urllib.parse import urlsplit

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from convrec.settings import Settings
from convrec.web.db import Database
from convrec.web.errors import field_error
from convrec.web.security import COOKIE_NAME, SessionUser, user_for_token
from convrec.web.services import Services

__all__ = [
    "CurrentUser",
    "JsonBody",
    "OptionalUser",
    "ServicesDep",
    "SessionDep",
    "SettingsDep",
    "call_services",
    "request_token",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
M = TypeVar("M", bound=BaseModel)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.db
    yield from database.session()


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def call_services(
    services: Services, function: Callable[[*Ts], T], *args: *Ts
) -> T:
    """``function(*args)`` inline when the recommender is loaded (a call of about a
    millisecond), else in the thread pool: loading it takes seconds and must not stop the
    event loop, which keeps serving the pages meanwhile."""
    if services.status()["recommender"]:
        return function(*args)
    return await run_in_threadpool(function, *args)


SessionDep = Annotated[Session, Depends(get_session)]
ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of a URL, the port made explicit; ``None`` if unreadable."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def same_origin(request: Request, origin: str) -> bool:
    """True when ``origin`` (an ``Origin`` header) is this server's scheme, host and port.

    The server's side is the URL the request was made to (behind a TLS proxy, uvicorn's
    ``--proxy-headers`` gives the client's scheme).
    """
    theirs = _origin_of(origin)
    ours = _origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
    return theirs is not None and theirs == ours


def request_token(request: Request) -> tuple[str | None, bool]:
    """The login token of a request and whether it came from the cookie.

    A bearer header wins over the cookie. Cookie logins are refused for cross-site writes
    (CSRF): besides SameSite=Lax, an unsafe method whose ``Origin`` differs from this
    server's in scheme, host or port (or is ``null``), or that the browser marks
    ``Sec-Fetch-Site: cross-site``, is not authenticated by the cookie.
    """
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    token = request.cookies.get(COOKIE_NAME)
    if token is None:
        return None, False
    if request.method in UNSAFE_METHODS:
        if request.headers.get("sec-fetch-site") == "cross-site":
            return None, True
        origin = request.headers.get("origin")
        if origin and not same_origin(request, origin):
            return None, True
    return token, True


async def optional_user(request: Request) -> SessionUser | None:
    token, _ = request_token(request)
    if not token:
        return None
    return user_for_token(request.app.state.db, token, request.app.state.session_memory)


async def current_user(request: Request) -> SessionUser:
    """The logged-in user, or 401 naming what is missing (one indexed read, inline, at most
    once a second per token and worker: ``security.SessionMemory``)."""
    token, from_cookie = request_token(request)
    if token is None and from_cookie:
        raise field_error(
            ["header", "origin"], request.headers.get("origin"),
            "cross-site requests cannot use the session cookie (CSRF protection)", status=403,
            kind="csrf",
        )
    user = (user_for_token(request.app.state.db, token, request.app.state.session_memory)
            if token else None)
    if user is None:
        raise field_error(
            ["header", "authorization"], None if token is None else "<token>",
            "log in first: send the session cookie or 'Authorization: Bearer <token>'"
            if token is None else "the session token is unknown or expired; log in again",
            status=401, kind="not_authenticated", headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[SessionUser, Depends(current_user)]
OptionalUser = Annotated[SessionUser | None, Depends(optional_user)]


class JsonBody(Generic[M]):
    """A request body read as ``model`` by pydantic-core straight from its bytes, for hot
    routes with large bodies (conv apply's 784 pixels: 0.14 ms instead of FastAPI's
    ``json.loads`` and ``validate_python``, 0.34 ms; RESULTS, "2026-12-02 (third session)").

    Use: ``body: Annotated[Model, Depends(body_reader)]`` with
    ``body_reader = JsonBody(Model)`` and ``openapi_extra=body_reader.openapi`` on the route
    (FastAPI does not see a body in a dependency). A body that pydantic-core refuses is read
    again as FastAPI reads it, so every refusal is FastAPI's own 422 (or 400), word for word.
    """

    def __init__(self, model: type[M]) -> None:
        self.model = model
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        # the nested models are FastAPI's components already (other routes take them);
        # tests/web/test_conv_api.py checks that every reference resolves
        schema.pop("$defs", None)
        #: the route's ``openapi_extra``: the body as FastAPI would document it
        self.openapi: dict[str, object] = {"requestBody": {
            "content": {"application/json": {"schema": schema}}, "required": True}}

    async def __call__(self, request: Request) -> M:
        raw = await request.body()
        if raw and _is_json(request.headers.get("content-type")):
            try:
                return self.model.model_validate_json(raw)
            except ValueError:  # pydantic's ValidationError: FastAPI's words below
                pass
        return self._as_fastapi_does(raw, request.headers.get("content-type"))

    def _as_fastapi_does(self, raw: bytes, content_type: str | None) -> M:
        """The body as ``fastapi.routing`` reads and validates it, for a refused body."""
        import json

        from fastapi import HTTPException
        from fastapi.exceptions import RequestValidationError
        from pydantic import ValidationError

        if not raw:
            raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                           "msg": "Field required", "input": None}])
        value: object = raw
        if _is_json(content_type):  # FastAPI reads no JSON without the header (CSRF)
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise RequestValidationError([{
                    "type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                    "input": {}, "ctx": {"error": exc.msg},
                }]) from exc
            except Exception as exc:  # not UTF-8: FastAPI's 400, worded by errors.py
                raise HTTPException(400, "There was an error parsing the body") from exc
        try:
            return self.model.model_validate(value, from_attributes=True)
        except ValidationError as exc:
            raise RequestValidationError([
                {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
            ]) from None


def _is_json(content_type: str | None) -> bool:
    """``application/json`` or ``application/*+json`` (FastAPI's test), any parameters."""
    if content_type is None:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))
