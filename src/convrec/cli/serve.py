"""Serve the studio with uvicorn: one process, or several workers sharing one listening socket.

Two choices here set the studio's latency under load (benchmarks/RESULTS.md, "The studio's
tail: the event loop and Nagle"):

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
"""

from __future__ import annotations

import multiprocessing
import socket

#: The event loop and HTTP parser every studio process serves with (see the module's notes).
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

    _fork_workers_from_here()
    mark("cli", "studio modules imported, forking the workers")
    config = uvicorn.Config(APP, factory=True, host=host, port=port, workers=workers,
                            log_level=log_level, loop=LOOP, http=HTTP)
    sock = tcp_listening_socket(config.bind_socket())
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:  # as uvicorn.run: Ctrl+C is the way to stop
        pass
    finally:
        sock.close()
