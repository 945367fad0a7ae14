"""How the studio serves: the workers' shared socket turns Nagle's algorithm off.

With Nagle on, an answer written in two pieces (uvicorn writes the headers, then the body)
waits for the client's delayed ACK: ~40 ms a request, 1,135 req/s for a static answer with two
workers against 16,047 (benchmarks/RESULTS.md). asyncio turns it off only for connections
accepted from a socket whose ``proto`` says TCP.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from convrec.cli.serve import APP, HTTP, LOOP, tcp_listening_socket


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
