"""The log-in throttle's front door: a try that is sure to be refused is refused before FastAPI.

A flood of wrong passwords is throttled after five failures (429 with ``Retry-After``, see
:mod:`convrec.web.security`); each throttled try still went through FastAPI's routing, body
validation, a thread-pool hop, a database read and the error handler: about 3.5 ms of CPU for
each 429, and a hundred flooding connections woken together by the tarpit cost each worker
175 ms in one burst (``benchmarks/RESULTS.md``, the login flood). The route now tells this
worker's :class:`LoginMemory` until when each throttle key (account, address) is blocked, as
it read from the database, and :class:`LoginGate` answers the next tries from it: the same
429, the same body, after the same tarpit pause.

The database stays the only truth. The memory holds what the route read there, for at most
:data:`TRUST_S` seconds (so an operator who clears ``login_failures`` is obeyed within that,
and no worker trusts another's view), only ever says "blocked" (never "go ahead"), and a
blocked window only ends by time: a success, which forgets an account's failures, is only
possible once its window has passed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from convrec.web.errors import ErrorBody, error_body
from convrec.web.schemas import CredentialsIn
from convrec.web.security import throttle_clock, throttle_keys, username_key

__all__ = ["LOGIN_PATH", "THROTTLED_ANSWER_DELAY_S", "TRUST_S", "LoginGate", "LoginMemory",
           "throttled_error"]

LOGIN_PATH = "/api/auth/login"
#: Seconds a throttled log-in waits for its 429 (at most its ``Retry-After``).
THROTTLED_ANSWER_DELAY_S = 1.0
#: Seconds a worker answers from what it last read in the database before reading it again.
TRUST_S = 1.0
#: Keys remembered at most (an attacker cycling addresses must not grow it without end).
MAX_KEYS = 10_000
#: Bodies larger than this are not log-in forms: the route answers them (422/413).
MAX_LOGIN_BODY = 4096


def throttled_error(username: str, wait: int) -> tuple[ErrorBody, dict[str, str]]:
    """The 429's body and headers for a try on ``username`` that must wait ``wait`` seconds
    (the route and the gate answer with this one)."""
    rule = (f"too many failed log-ins for this account or from your address; try again in "
            f"{wait} s")
    return (error_body(["body", "username"], username, rule, "too_many_requests"),
            {"Retry-After": str(wait)})


class LoginMemory:
    """One worker's view of the throttle: blocked-until times read from the database, and the
    accounts whose password this worker is checking right now.

    ``clock`` gives epoch seconds in the database's time base (``security.throttle_clock``).
    """

    def __init__(self, clock: Callable[[], float] = throttle_clock) -> None:
        self.now = clock
        #: throttle key -> (blocked until, epoch s; read at, monotonic s)
        self._blocked: dict[str, tuple[int, float]] = {}
        #: accounts (``username_key``) being hashed by a request of this worker: a person does
        #: not log in twice at once, a flood does
        self.checking: set[str] = set()

    def remember(self, until: dict[str, int]) -> None:
        """Record ``{key: blocked until}`` as just read from the database."""
        if len(self._blocked) + len(until) > MAX_KEYS:
            self.forget()
        read_at = time.monotonic()
        for key, end in until.items():
            self._blocked[key] = (end, read_at)

    def forget(self) -> None:
        """Drop every remembered window (the next tries read the database again)."""
        self._blocked.clear()

    def wait_for(self, account: str, keys: list[str]) -> int:
        """Seconds this try must wait by what this worker knows (0: ask the database).

        ``account`` is the username's key (``username_key``), ``keys`` its throttle keys.
        """
        if account in self.checking:
            return 1
        # whole seconds, as the database counts them and the route computes the wait
        now, fresh = int(self.now()), time.monotonic() - TRUST_S
        wait = 0
        for key in keys:
            known = self._blocked.get(key)
            if known is not None and known[1] >= fresh:
                wait = max(wait, known[0] - now)
        return wait


class LoginGate:
    """ASGI middleware: a ``POST /api/auth/login`` whose account or address this worker knows
    to be blocked gets its 429 here (after the tarpit pause); every other request, and every
    body that is not a valid log-in form, goes on to the app unchanged (its body replayed).
    """

    def __init__(self, app: ASGIApp, memory: LoginMemory) -> None:
        self.app = app
        self.memory = memory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or scope["path"] != LOGIN_PATH):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:  # a log-in form is small; anything larger goes on as it came
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body") \
                    or size > MAX_LOGIN_BODY:
                break
        refusal = self._refusal(messages, scope) if size <= MAX_LOGIN_BODY else None
        if refusal is not None:
            username, wait = refusal
            await asyncio.sleep(min(wait, THROTTLED_ANSWER_DELAY_S))
            await self._answer(send, *throttled_error(username, wait))
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    def _refusal(self, messages: list[Message], scope: Scope) -> tuple[str, int] | None:
        if messages[-1].get("more_body"):
            return None
        try:
            form = CredentialsIn.model_validate_json(b"".join(
                m.get("body", b"") for m in messages))
        except (ValidationError, ValueError):
            return None  # the route says what is wrong with it
        client = scope.get("client")
        account = username_key(form.username)
        wait = self.memory.wait_for(account, throttle_keys(form.username,
                                                           client[0] if client else None))
        return (form.username, wait) if wait > 0 else None

    @staticmethod
    async def _answer(send: Send, body: ErrorBody, headers: dict[str, str]) -> None:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-length", str(len(payload)).encode()),
            (b"content-type", b"application/json"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ]})
        await send({"type": "http.response.body", "body": payload})
