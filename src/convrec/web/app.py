"""The studio's FastAPI app: routers, error handlers, request limits, static files."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import ClassVar

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convrec import __version__
from convrec.settings import Settings, get_settings
from convrec.web.assets import InMemoryFiles
from convrec.web.db import Database, check_database
from convrec.web.errors import error_body, install_error_handlers, too_large_message
from convrec.web.login_gate import LoginGate, LoginMemory
from convrec.web.security import HashLimiter, SessionMemory, purge_expired_tokens
from convrec.web.services import Services
from convrec.web.timeline import mark

__all__ = ["create_app", "freeze_loaded_objects", "router_modules", "studio_app"]

HERE = Path(__file__).resolve().parent


class _BodyTooLargeError(StarletteHTTPException):
    """Raised by the counting ``receive``: an HTTP error, so that FastAPI's body reader
    passes it on (any other exception there becomes a 400) to the 413 handler."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Content Too Large")


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, counting bytes as they arrive.

    Checks ``Content-Length`` first, then the streamed body (a chunked upload without a
    length is cut off as soon as it passes the limit, before it is all in memory). The
    answer is the studio's error format (see :func:`convrec.web.errors.error_body`).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Send, size: str) -> None:
        body = json.dumps(error_body(["body"], size, too_large_message(self.max_bytes),
                                     "too_large")).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, f"{int(length):,} bytes")
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await self._refuse(send, f"more than {self.max_bytes:,} bytes")


class SecurityHeadersMiddleware:
    """Headers that keep pages from being framed or sniffed, and scripts to our own origin."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"content-security-policy",
         b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
         b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers") or []) + self.HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: Settings | None = None, services: Services | None = None,
    database_url: str | None = None,
) -> FastAPI:
    """Build the studio app.

    Args:
        settings: configuration (``None``: :func:`convrec.settings.get_settings`).
        services: the models it serves (``None``: :meth:`Services.defaults`, which loads or
            trains the default models on first use).
        database_url: overrides ``settings.resolved_database_url``. The database is checked
            (reachable, migrated to the newest revision, writable) here, before the app
            answers anything; :class:`convrec.web.db.DatabaseStartupError` says why not.
    """
    settings = settings or get_settings()
    services = services or Services.defaults(settings)
    url = database_url or settings.resolved_database_url
    database = Database(url, check_database(url))  # one line if unusable, before any model
    # base64 makes an upload 4/3 larger; 64 KiB more for the JSON around it
    max_body = settings.limits.max_upload_bytes * 4 // 3 + 65_536

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        mark("worker", "lifespan started: serving")
        yield
        database.dispose()

    app = FastAPI(
        title="convrec studio",
        version=__version__,
        description="Convolutions you can see, a digit reader and a movie recommender. "
        "Errors answer `{detail: [{loc, msg, type, input}]}`: the field, the rule, the value.",
        lifespan=lifespan,
        # FastAPI's own Swagger UI and ReDoc pages load scripts from a CDN: /docs is ours
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.db = database
    # argon2 takes 64 MiB and a core per hash: as many at once as there are cores
    app.state.hash_limiter = HashLimiter(concurrent=max(1, min(4, os.cpu_count() or 1)))
    with database.sessions() as session:  # expired sessions go at start-up (and on log-in)
        purge_expired_tokens(session, force=True)
        session.commit()

    app.state.login_memory = LoginMemory()  # what the log-in throttle knows (login_gate.py)
    app.state.session_memory = SessionMemory()  # sessions read in the last second
    install_error_handlers(app, max_body)
    # innermost: a throttled log-in is answered after the body limit, before FastAPI
    app.add_middleware(LoginGate, memory=app.state.login_memory)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", InMemoryFiles(HERE / "static"), name="static")
    from swagger_ui_bundle import swagger_ui_path  # Swagger UI's files, shipped on PyPI

    app.mount("/docs/assets", InMemoryFiles(swagger_ui_path, preload=False), name="docs-assets")
    for module in router_modules():
        app.include_router(module.router)
    return app


def router_modules() -> tuple[ModuleType, ...]:
    """The routers' modules, in the order the app includes them (imported on first call: they
    bring Jinja2, the convolution code and the schemas; ``convrec studio`` calls this before
    it forks its workers, so that they start with all of it imported)."""
    from convrec.web.routers import auth, conv, mnist, movies, pages, ratings, status, training

    return (auth, conv, mnist, movies, ratings, status, pages, training)


def studio_app() -> FastAPI:
    """The app of one serving worker (``convrec studio``; uvicorn calls it in each worker
    process): settings from the environment, thread pools pinned to one thread, the saved
    models loaded in a background thread while it already serves (a request that needs one
    waits for it), never trained here (see :mod:`convrec.web.training`); then everything
    loaded so far is frozen out of the garbage collector (:func:`freeze_loaded_objects`)."""
    import logging

    from convrec.web.services import pin_thread_pools

    mark("worker", "app module imported")
    pin_thread_pools(1)
    settings = get_settings()
    services = Services.defaults(settings, train=False)
    app = create_app(settings, services)
    mark("worker", "app built (database checked)")
    if os.environ.get("CONVREC_STUDIO_LAZY"):
        freeze_loaded_objects()
    else:
        import threading

        def warm() -> None:  # torch's import alone takes seconds: serve the pages meanwhile
            from convrec.web.security import dummy_hash

            for what, why in services.warm_up().items():
                logging.getLogger("convrec.web").warning("%s not ready yet: %s", what, why)
            dummy_hash()  # the first log-in of an unknown name then takes as long as any other
            freeze_loaded_objects()
            mark("worker", "warm-up done, loaded objects frozen")

        threading.Thread(target=warm, name="convrec-warm-up", daemon=True).start()
    return app


def freeze_loaded_objects() -> int:
    """Move every object alive now (modules, models, the app) out of the cyclic garbage
    collector's reach; returns how many were frozen.

    A serving worker holds about 285,000 long-lived objects once torch, the models and the
    app are loaded; a full (generation 2) collection walks all of them, 230 to 900 ms on
    this machine, and under load one came every few seconds, stopping that worker's event
    loop (RESULTS, "2026-12-03": the p99 of every row). Frozen, a full collection walks only
    what requests allocated since. Objects frozen are still freed by reference counting;
    only a cycle among them would stay (they live as long as the worker anyway).
    """
    import gc

    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
