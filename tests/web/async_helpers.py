"""Run a coroutine function to completion from a test, whatever loop the session holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


def run_async(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run(function, *args)`` in a thread of its own.

    Why: the browser tests' sync Playwright keeps an asyncio loop running on the main thread
    for the whole session, and ``anyio.run`` refuses to start a second loop in that thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, function, *args).result()
