"""One error format for the whole API, the same as FastAPI's 422 body.

Every error answers ``{"detail": [{"loc": [...], "msg": ..., "type": ..., "input": ...}]}``:
``loc`` names the field, ``input`` the value received and ``msg`` the rule it broke.

:func:`install_error_handlers` makes every failure use it: validation errors (with the
echoed input made JSON-safe, so ``NaN`` or ``1e309`` in a body is a 422, not a 500), bodies
that cannot be read at all (not UTF-8, broken multipart: 422 at ``["body"]``), bodies over
the limit (413), and database faults (503 with the reason: read-only, full, unreachable).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TypedDict

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "DatabaseFaultError",
    "ErrorBody",
    "ErrorDetail",
    "JSONScalar",
    "database_fault_reason",
    "error_body",
    "field_error",
    "install_error_handlers",
    "json_safe",
    "short",
    "too_large_message",
]

log = logging.getLogger("convrec.web")

#: What an error echoes as ``input``: a JSON scalar (:func:`short` makes anything one).
JSONScalar = str | int | float | bool | None


class ErrorDetail(TypedDict):
    """One failure: where (``loc``), the rule broken (``msg``), its kind and the input."""

    loc: list[str | int]
    msg: str
    type: str
    input: JSONScalar


class ErrorBody(TypedDict):
    """The studio's (and FastAPI's 422) error body: ``{"detail": [...]}``."""

    detail: list[ErrorDetail]


def short(value: object, limit: int = 120) -> JSONScalar:
    """``value`` itself when small, else a truncated text (errors never echo a whole upload)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # "nan", "inf": JSON has no such numbers
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: limit * 4]).decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def json_safe(value: object) -> JSONScalar:
    """``value`` shortened (:func:`short`) so that it can always be written as JSON."""
    return short(value)


def error_body(
    loc: Sequence[str | int], value: object, rule: str, kind: str = "value_error"
) -> ErrorBody:
    """The error body ``{"detail": [{loc, msg, type, input}]}`` of one failure."""
    return {"detail": [{"loc": list(loc), "msg": rule, "type": kind, "input": short(value)}]}


def too_large_message(max_bytes: int) -> str:
    """The rule broken by a body over ``max_bytes`` (HTTP 413)."""
    return (f"the request body is over the limit of {max_bytes:,} bytes "
            "(uploads: settings.limits.max_upload_bytes, sent base64)")


def field_error(
    loc: Sequence[str | int], value: object, rule: str, status: int = 422,
    kind: str = "value_error", headers: dict[str, str] | None = None,
) -> HTTPException:
    """An HTTP error naming the field (``loc``), the value received and the rule."""
    return HTTPException(
        status_code=status, detail=error_body(loc, value, rule, kind)["detail"], headers=headers,
    )


class DatabaseFaultError(RuntimeError):
    """The database cannot do what the request needs right now (HTTP 503 with the reason)."""


def database_fault_reason(exc: BaseException) -> str:
    """One line saying why the database failed, with the fix; never the SQL parameters.

    SQLAlchemy's own message carries the statement and (unless hidden) its parameters,
    which may be password or token hashes: only the driver's first line is used here.
    """
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    text = first.lower()
    if "readonly" in text or "read-only" in text or "read only" in text:
        why = "the database is read-only"
        fix = "make the database file and its folder writable (or point DATABASE_URL at a " \
              "writable database)"
    elif "full" in text or "no space" in text:
        why = "the database's disk is full"
        fix = "free space on the disk that holds the database"
    elif "unable to open" in text:
        why = "the database file cannot be opened"
        fix = "check that its folder exists and is writable, or set DATABASE_URL"
    elif any(w in text for w in ("connect", "could not", "timeout",
                                 "terminat", "closed", "refused")):
        why = "the database is unreachable"
        fix = "check that the database server is running and DATABASE_URL is right"
    elif "locked" in text or "busy" in text:
        why = "the database is busy"
        fix = "retry in a moment"
    else:
        why = "the database failed"
        fix = "retry in a moment; if it persists, check the server log"
    return f"{why} ({first[:160]}); {fix}"


def _unavailable(message: str, kind: str, retry_after: int) -> JSONResponse:
    return JSONResponse(
        status_code=503, content=error_body([], None, message, kind),
        headers={"Retry-After": str(retry_after)},
    )


#: FastAPI's own statuses with a plain-text detail, said in the studio's words.
_PLAIN = {
    404: ("not_found", "no such page or API route (the API is listed at /docs)"),
    405: ("method_not_allowed", "this method is not allowed here (see /docs)"),
}


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Register the handlers above on ``app`` (``max_body_bytes`` is quoted in 413s)."""
    from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeoutError

    from convrec.web.services import ServiceUnavailableError

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for error in exc.errors():
            msg = str(error.get("msg", "invalid value"))
            kind = str(error.get("type", "value_error"))
            if kind == "json_invalid":
                error = {**error, "input": None}  # FastAPI puts {} here
                ctx = error.get("ctx") or {}
                position = error.get("loc", ["body", "?"])[-1]
                msg = (f"the body is not valid JSON ({ctx.get('error', 'decode error')} at "
                       f"character {position}); send UTF-8 JSON")
            details.append({
                "loc": list(error.get("loc", ["body"])), "msg": msg, "type": kind,
                "input": short(error.get("input")),
            })
        return JSONResponse(status_code=422, content={"detail": details})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if isinstance(exc.detail, list):  # ours, from field_error: already in the format
            return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail},
                                headers=headers)
        if exc.status_code == 400:  # FastAPI could not read the body at all
            cause = exc.__cause__ or exc.__context__
            reason = str(cause).splitlines()[0] if cause is not None else str(exc.detail)
            return JSONResponse(status_code=422, content=error_body(
                ["body"], None,
                f"the body could not be read ({reason[:200]}): send UTF-8 JSON with "
                "Content-Type: application/json, or multipart/form-data with its boundary "
                "for file uploads", "body_invalid",
            ))
        if exc.status_code == 413:
            return JSONResponse(status_code=413, content=error_body(
                ["body"], None, too_large_message(max_body_bytes), "too_large"))
        kind, msg = _PLAIN.get(exc.status_code, ("http_error", str(exc.detail)))
        return JSONResponse(status_code=exc.status_code, content=error_body([], None, msg, kind),
                            headers=headers)

    @app.exception_handler(ServiceUnavailableError)
    async def _service(_request: Request, exc: ServiceUnavailableError) -> JSONResponse:
        retry = getattr(exc, "retry_after", None)
        return JSONResponse(
            status_code=503, content=error_body([], None, str(exc), "unavailable"),
            headers={"Retry-After": str(retry)} if retry else None,
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        reason = database_fault_reason(exc)
        # one line, no statement, no parameters: never a password or token hash in the log
        log.warning("database fault on %s %s: %s", request.method, request.url.path, reason)
        return _unavailable(reason, "database_unavailable", 5)

    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(PoolTimeoutError, _database)
    app.add_exception_handler(DatabaseFaultError, _database)

    async def _dbapi(request: Request, exc: Exception) -> JSONResponse:
        # IntegrityError and friends that a route did not expect: still not a 500 with SQL
        from sqlalchemy.exc import IntegrityError

        if isinstance(exc, IntegrityError):
            log.warning("database conflict on %s %s: %s", request.method, request.url.path,
                        database_fault_reason(exc))
            return JSONResponse(status_code=409, content=error_body(
                [], None, "the request conflicts with the stored data; reload and retry",
                "conflict"))
        return await _database(request, exc)

    app.add_exception_handler(DBAPIError, _dbapi)
