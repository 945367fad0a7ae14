"""How the studio serves: the workers' shared socket turns Nagle's algorithm off, and the
workers deal new connections between them (the burst test: ``tests/web/test_later_start.py``).

With Nagle on, an answer written in two pieces (uvicorn writes the headers, then the body)
waits for the client's delayed ACK: ~40 ms a request, 1,135 req/s for a static answer with two
workers against 16,047 (benchmarks/RESULTS.md). asyncio turns it off only for connections
accepted from a socket whose ``proto`` says TCP.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest
import uvicorn

import convrec.cli.serve as serve_module
from convrec.cli.serve import APP, DEFER_MAX_S, HTTP, LOOP, AcceptBalance, tcp_listening_socket


def _nodelay_of_an_accepted_connection(listening: socket.socket) -> int:
    """``TCP_NODELAY`` of the server side of one connection asyncio accepts on ``listening``."""
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listening)
        port = listening.getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.read()  # the server closes once it has looked
            writer.close()

    asyncio.run(main())
    return seen[0]


def test_the_workers_socket_gives_connections_without_nagle() -> None:
    config = uvicorn.Config(APP, factory=True, host="127.0.0.1", port=0, workers=2,
                            loop=LOOP, http=HTTP)
    sock = tcp_listening_socket(config.bind_socket())
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.get_inheritable()  # the forked workers accept on it
    assert _nodelay_of_an_accepted_connection(sock) == 1


def test_a_socket_already_tcp_comes_back_as_it_is() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        assert tcp_listening_socket(sock) is sock
    finally:
        sock.close()


def test_a_worker_leaves_a_connection_to_a_less_busy_one_but_not_for_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(serve_module.time, "monotonic", lambda: clock[0])
    balance = AcceptBalance(2)
    balance.join()  # this process: slot 0
    balance._pids[1] = os.getppid()  # another live process holds slot 1
    balance.opened()
    assert balance.may_accept() is False  # 1 open here, 0 there: leave it to the other
    clock[0] += DEFER_MAX_S / 2
    assert balance.may_accept() is False
    clock[0] += DEFER_MAX_S  # waited long enough: the other is busy or stuck
    assert balance.may_accept() is True
    balance._open[1] = 1  # as many open there: no reason to wait
    assert balance.may_accept() is True
    balance.closed()
    assert balance.may_accept() is True  # fewer here


def test_a_new_wait_is_not_cut_short_by_an_old_one(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(serve_module.time, "monotonic", lambda: clock[0])
    balance = AcceptBalance(2)
    balance.join()
    balance._pids[1] = os.getppid()
    balance.opened()
    assert balance.may_accept() is False  # the other worker then took that connection
    clock[0] += 10.0  # a new connection, long after: it waits for the other worker again
    assert balance.may_accept() is False


def test_a_dead_workers_slot_neither_blocks_nor_stays_taken() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    balance = AcceptBalance(2)
    balance._pids[0], balance._open[0] = dead.pid, 0  # died with no connections open
    balance._pids[1] = os.getppid()
    balance.join()  # the dead worker's slot is taken over, its count reset
    assert balance._pids[0] == os.getpid()
    balance.opened()
    balance._open[1] = 5
    assert balance.may_accept() is True
