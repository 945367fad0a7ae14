"""A real client that hangs up: the studio stops the convolution work it was doing for it.

``tests/web/test_cancel.py`` checks ``run_until_disconnect`` with a fake connection; here a
real uvicorn server (in a thread, on a free loopback port) gets ``POST /api/conv/apply`` with
100 kernels from httpx, and httpx gives up (its read timeout) and closes the socket while the
server is on the first few kernels. Each kernel is made slow (a counted wrapper around
``convrec.conv.conv2d``, 50 ms a call) so the test can see where the work stopped: it must
stop soon after the hang-up, far short of the 100 kernels, and the server must go on
answering. No timing is asserted; the counts are what the test checks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import tiny_mnist

KERNELS = 100
SLOW_S = 0.05  # each convolution's extra duration: long enough to hang up in the middle


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[int]]]:
    """A studio served by uvicorn on loopback; yields its URL and the convolution counter."""
    import uvicorn

    import convrec.web.routers.conv as conv_router
    from convrec.settings import Settings
    from convrec.web import Services, create_app

    calls: list[int] = []
    real_conv2d = conv_router.conv2d

    def counted_conv2d(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        time.sleep(SLOW_S)  # a slow kernel, so the hang-up lands in the middle of the work
        return real_conv2d(*args, **kwargs)

    # the router imports conv2d once, at its import: the wrapper goes where it looks it up
    monkeypatch.setattr(conv_router, "conv2d", counted_conv2d)
    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    app = create_app(settings, Services(settings, mnist=tiny_mnist()),
                     database_url=f"sqlite:///{tmp_path / 'studio.db'}")
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    for _ in range(600):  # until it listens (bounded: 60 s at most, then the test fails)
        if uv.started:
            break
        time.sleep(0.1)
    assert uv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        uv.should_exit = True
        thread.join(timeout=30)


def _settled(calls: list[int]) -> int:
    """The number of convolutions once no new one has started for 20 kernel durations."""
    seen = -1
    while seen != len(calls):
        seen = len(calls)
        time.sleep(20 * SLOW_S)
    return seen


def test_conv_apply_stops_when_the_client_hangs_up(server: tuple[str, list[int]]) -> None:
    import httpx

    from convrec.web.routers.conv import INLINE_MULTIPLY_ADDS

    url, calls = server
    # 7×7 kernels on a 28×28 digit: 22*22*49 multiply-adds each, far over what the route
    # computes inline in the event loop, so the work runs where a hang-up can stop it
    body = {"image": {"mnist_index": 0}, "kernels": [{"name": "gaussian:7"}] * KERNELS}
    assert KERNELS * 22 * 22 * 49 > 2 * INLINE_MULTIPLY_ADDS
    # httpx sends the whole request, waits 0.3 s for an answer, then closes the connection
    with pytest.raises(httpx.ReadTimeout), httpx.Client(
            timeout=httpx.Timeout(10.0, read=0.3)) as client:
        client.post(f"{url}/api/conv/apply", json=body)
    done = _settled(calls)
    assert 1 <= done < KERNELS // 2, f"{done} of {KERNELS} kernels ran for a client that left"
    # the server is still there for the next client, and a patient one gets every kernel
    calls.clear()
    with httpx.Client(timeout=60.0) as client:
        response = client.post(f"{url}/api/conv/apply", json={**body, "kernels": body[
            "kernels"][:3]})
    assert response.status_code == 200, response.text
    assert len(response.json()["outputs"]) == 3 and len(calls) == 3
