"""Serve the studio with uvicorn: one process, or several workers sharing one listening socket.

Three choices here set the studio's latency under load (benchmarks/RESULTS.md, "What set
conv apply's and recommend's tail: uvloop's order, Nagle, the split"):

- **asyncio's event loop, not uvloop.** Each request the studio answers inline (conv apply,
  recommend) holds its worker's loop for a few milliseconds. asyncio's loop runs the ready
  requests first come, first served; uvloop, with the same throughput, let some connections
  wait far longer than others: a bare app burning 2.4 ms a request, one worker, 50
  connections: p99 1.16 s on uvloop against 133 ms on asyncio (p50 127 ms on both).
- **A listening socket that says it is TCP.** uvicorn binds its workers' shared socket with
  ``socket.socket(family)``, whose ``proto`` is 0; asyncio sets ``TCP_NODELAY`` only on
  accepted sockets whose ``proto`` is TCP, so every answer sent in two writes waited for
  the client's delayed ACK (~40 ms): 1,135 req/s for a static answer with 2 workers, against
  16,047 with the socket re-made from its descriptor (the kernel then reports TCP).
- **Connections dealt evenly between the workers.** The workers share one listening socket,
  and whichever wakes first accepts; asyncio then accepts every connection waiting, so one
  worker could take 34 of 50 clients and answer them half as fast as the other
  (:class:`AcceptBalance`: a worker leaves a new connection to a worker with fewer open).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from typing import Any

#: The event loop and HTTP parser every studio process serves with (see the module's notes;
#: several workers run :class:`BalancedEventLoop`, asyncio's with a balanced accept).
LOOP = "asyncio"
HTTP = "httptools"
APP = "convrec.web.app:studio_app"


def tcp_listening_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, as a Python object whose ``proto`` is the kernel's (TCP).

    Sockets accepted from it inherit that ``proto``, which is what asyncio checks before it
    turns Nagle's algorithm off for a connection. A Unix socket comes back unchanged.
    """
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto:
        return sock
    inheritable = sock.get_inheritable()
    remade = socket.socket(fileno=sock.detach())  # family, type and proto read from the fd
    remade.set_inheritable(inheritable)
    return remade


#: How long a worker leaves a waiting connection to the others before it takes it anyway
#: (a worker busy for longer, or stopped, must not keep a client waiting) and how often it
#: looks again meanwhile.
DEFER_MAX_S = 0.05
RECHECK_S = 0.001


class AcceptBalance:
    """The open connections of each worker, in memory the workers share (made before they
    are forked): a worker accepts a waiting connection only when no other live worker has
    fewer open, or when it has left it waiting for :data:`DEFER_MAX_S`.

    Shapes: two int64 arrays of ``workers`` slots, the pid that holds each slot and its
    count of open connections.
    """

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("fork")
        self._pids = context.Array("q", workers, lock=False)
        self._open = context.Array("q", workers, lock=False)
        self._claim = context.Lock()
        self._slot = -1
        self._waiting_since: float | None = None  # the first decline of the current wait
        self._last_declined = 0.0

    def join(self) -> None:
        """Take a free slot (or a dead worker's: uvicorn restarts a worker that dies)."""
        with self._claim:
            for i, pid in enumerate(self._pids):
                if pid == 0 or not _alive(pid):
                    self._pids[i], self._open[i], self._slot = os.getpid(), 0, i
                    return

    def may_accept(self) -> bool:
        """Whether this worker should accept the connection waiting now."""
        if self._slot < 0:
            return True
        mine = self._open[self._slot]
        fewer = any(n < mine and self._pids[i] and _alive(self._pids[i])
                    for i, n in enumerate(self._open) if i != self._slot)
        now = time.monotonic()
        if not fewer:
            self._waiting_since = None
            return True
        # declines come every RECHECK_S while one connection waits; a long gap means another
        # worker took that one, and this is a new wait
        if self._waiting_since is None or now - self._last_declined > 2 * DEFER_MAX_S:
            self._waiting_since = now
        self._last_declined = now
        if now - self._waiting_since >= DEFER_MAX_S:
            self._waiting_since = None
            return True
        return False

    def opened(self) -> None:
        if self._slot >= 0:
            self._open[self._slot] += 1

    def closed(self) -> None:
        if self._slot >= 0:
            self._open[self._slot] -= 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the pid: not ours any more
        return False
    return True


class _CountedProtocol(asyncio.Protocol):
    """uvicorn's protocol for one connection, counted open until its connection is lost."""

    __slots__ = ("_balance", "_inner")

    def __init__(self, inner: asyncio.Protocol, balance: AcceptBalance) -> None:
        self._inner, self._balance = inner, balance
        balance.opened()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._balance.closed()
        self._inner.connection_lost(exc)


_BALANCE: AcceptBalance | None = None  # set in the supervisor, inherited by the forked workers


class BalancedEventLoop(asyncio.SelectorEventLoop):
    """asyncio's loop, accepting one connection at a time and only when
    :meth:`AcceptBalance.may_accept` says so; otherwise it stops watching the listening
    socket for :data:`RECHECK_S` and looks again, as asyncio itself does when it runs out of
    file descriptors. Relies on asyncio's ``_accept_connection`` and ``_start_serving``
    (CPython 3.10-3.13; ``tests/web/test_later_start.py`` checks the workers still split
    evenly).
    """

    def __init__(self, balance: AcceptBalance) -> None:
        super().__init__()
        self._balance = balance

    def _accept_connection(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.Protocol], sock: socket.socket,
        sslcontext: Any = None, server: Any = None, backlog: int = 100, *rest: Any,
    ) -> None:
        if not self._balance.may_accept():
            self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
            self.call_later(RECHECK_S, self._watch_again, protocol_factory, sock, sslcontext,
                            server, backlog, *rest)
            return
        balance = self._balance

        def counted() -> asyncio.Protocol:
            return _CountedProtocol(protocol_factory(), balance)

        super()._accept_connection(  # type: ignore[misc]
            counted, sock, sslcontext, server, 1, *rest)

    def _watch_again(self, protocol_factory: Callable[[], asyncio.Protocol],
                     sock: socket.socket, sslcontext: Any, server: Any, *rest: Any) -> None:
        if sock.fileno() == -1 or (server is not None and not server.is_serving()):
            return  # the server closed meanwhile
        self._start_serving(  # type: ignore[attr-defined]
            protocol_factory, sock, sslcontext, server, *rest)


def new_worker_loop() -> asyncio.AbstractEventLoop:
    """The event loop of a serving process (uvicorn's ``loop=`` import string): balanced
    between the workers when :func:`serve` made them, else asyncio's own."""
    if _BALANCE is None:
        return asyncio.SelectorEventLoop()
    _BALANCE.join()
    return BalancedEventLoop(_BALANCE)


def _fork_workers_from_here() -> None:
    """Have uvicorn fork its workers from this process once the studio's modules are imported
    here, instead of spawning fresh interpreters that each import FastAPI, SQLAlchemy, NumPy,
    Jinja2 and the routers again: on 2 cores that took each worker 1.4-1.6 s of a later
    start (RESULTS, "a later start"). Everything a worker owns (its app, database engine,
    thread pools, models, warm-up thread) is still made in the worker, by uvicorn's call of
    :func:`convrec.web.app.studio_app` after the fork; torch is never imported here.

    uvicorn (pinned in constraints.txt) takes its process context from
    ``uvicorn._subprocess.spawn``; a test checks that the workers are forked and serve.
    """
    import uvicorn._subprocess

    import convrec.recsys  # noqa: F401 - the recommender's loader (NumPy only), before the fork
    from convrec.web.app import router_modules

    router_modules()
    uvicorn._subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]


def serve(host: str, port: int, workers: int, log_level: str = "warning") -> None:
    """Serve :func:`convrec.web.app.studio_app` on ``host:port`` until interrupted.

    Args:
        workers: 1 serves in this process; more fork that many worker processes from this
            one, all accepting on one listening socket (uvicorn's supervisor restarts a
            worker that dies).
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers == 1:
        from convrec.web.app import studio_app

        # uvicorn binds with getaddrinfo's (TCP) sockets itself here
        uvicorn.run(studio_app(), host=host, port=port, log_level=log_level, loop=LOOP,
                    http=HTTP)
        return
    from convrec.web.timeline import mark

    global _BALANCE
    from convrec.web import security

    _fork_workers_from_here()
    mark("cli", "studio modules imported, forking the workers")
    _BALANCE = AcceptBalance(workers)
    security.SHARED_LOGOUTS = security.LogoutCounter()  # a log-out holds on every worker
    # ws="none": no route speaks WebSocket, and a switched protocol would escape the count
    config = uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers,
                            log_level=log_level, loop=f"{__name__}:new_worker_loop",
                            http=HTTP, ws="none")
    sock = tcp_listening_socket(config.bind_socket())
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:  # as uvicorn.run: Ctrl+C is the way to stop
        pass
    finally:
        sock.close()
