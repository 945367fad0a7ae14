"""Work stops when the client disconnects (conv apply checks between kernels)."""

from __future__ import annotations

import threading

import pytest
from tests.web.async_helpers import run_async

from convrec.web.cancel import ClientGoneError, run_until_disconnect, stop_if_gone


class Connection:
    """A request whose client hangs up when the test says so."""

    def __init__(self) -> None:
        self.hung_up = threading.Event()

    async def is_disconnected(self) -> bool:
        return self.hung_up.is_set()


def test_work_stops_between_steps_once_the_client_is_gone() -> None:
    connection = Connection()
    steps_done: list[int] = []

    def work(gone: threading.Event) -> str:
        for step in range(1000):
            stop_if_gone(gone)
            steps_done.append(step)
            if step == 3:
                connection.hung_up.set()  # the client closes its tab during step 3
            gone.wait(0.5)  # a step of work; returns early once the watcher has seen it
        return "finished for nobody"

    with pytest.raises(ClientGoneError):
        run_async(run_until_disconnect, connection, work)
    assert steps_done == [0, 1, 2, 3]


def test_work_with_a_client_that_stays_returns_its_result() -> None:
    def work(gone: threading.Event) -> int:
        stop_if_gone(gone)
        return 42

    assert run_async(run_until_disconnect, Connection(), work) == 42


def test_conv_apply_still_answers(client) -> None:
    response = client.post("/api/conv/apply", json={
        "image": {"mnist_index": 0}, "kernels": [{"name": "top_edge"}, {"name": "left_edge"}],
    })
    assert response.status_code == 200, response.text
    assert [o["kernel"]["name"] for o in response.json()["outputs"]] == ["top_edge", "left_edge"]
