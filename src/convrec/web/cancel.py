"""Stop a request's work when its client has gone.

A convolution of many kernels on a large image can take seconds of CPU. Run from a plain
``def`` route it would go on after the client closed the connection, for nobody.
:func:`run_until_disconnect` runs the work in a worker thread and watches the connection
from the event loop; the work checks the event it is given between its steps (between
kernels) and stops with :class:`ClientGoneError` once the client is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, TypeVar

import anyio
from starlette.concurrency import run_in_threadpool

__all__ = ["POLL_S", "ClientGoneError", "run_until_disconnect", "stop_if_gone"]

T = TypeVar("T")

#: How often the connection is looked at while the work runs.
POLL_S = 0.05


class ClientGoneError(Exception):
    """The client disconnected: the work stopped and nothing is sent back."""


class _Disconnectable(Protocol):
    async def is_disconnected(self) -> bool: ...


def stop_if_gone(gone: threading.Event) -> None:
    """Raise :class:`ClientGoneError` when ``gone`` is set (call it between steps)."""
    if gone.is_set():
        raise ClientGoneError


async def run_until_disconnect(
    request: _Disconnectable, work: Callable[[threading.Event], T]
) -> T:
    """``work(gone)`` in a worker thread; ``gone`` is set as soon as the client disconnects.

    Raises:
        ClientGoneError: the client went away before the work finished.
    """
    gone = threading.Event()
    finished = anyio.Event()

    async def watch() -> None:
        while not finished.is_set():
            if await request.is_disconnected():
                gone.set()
                return
            with anyio.move_on_after(POLL_S):
                await finished.wait()

    outcome: list[T] = []
    failure: list[BaseException] = []

    async def run() -> None:
        try:  # kept, not raised here: a task group would wrap it in an ExceptionGroup
            outcome.append(await run_in_threadpool(work, gone))
        except Exception as exc:
            failure.append(exc)
        finally:
            finished.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        group.start_soon(run)
    if failure:
        raise failure[0]
    return outcome[0]
