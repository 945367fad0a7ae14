"""Real studio processes for the crash tests (``test_durability.py``, ``test_scale_out.py``):
start one on a free port, rate movies from many threads keeping what the server
acknowledged, and find what the database lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

#: One serving process: the app of :mod:`tests.web.durability_app`, settings from the
#: environment (``CONVREC_CACHE``, ``DATABASE_URL``).
SERVE = """
import sys, uvicorn
from tests.web.durability_app import app
uvicorn.run(app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_studio(port: int, env: Mapping[str, str], workers: int = 1,
                 wait_s: float = 90.0) -> subprocess.Popen[bytes]:
    """A studio on ``port``, once it answers: one process, or (``workers > 1``) a uvicorn
    parent with its workers as ``convrec studio --workers N`` serves. It runs in a process
    group of its own, so that ``os.killpg`` reaches the workers too, as a machine crash would.

    Raises:
        RuntimeError: it exited, or did not answer within ``wait_s`` seconds.
    """
    if workers == 1:
        command = [sys.executable, "-c", SERVE, str(port)]
    else:
        command = [sys.executable, "-m", "uvicorn", "tests.web.durability_app:app", "--factory",
                   "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]
    process = subprocess.Popen(command, env=dict(env), start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError("the studio server exited at start") from None
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("the studio server did not start")


class RatingWriters:
    """Threads rating movies as fast as the studios answer (thread ``i`` writes to
    ``bases[i % len(bases)]``, movies ``first + i``, ``first + i + threads``, ...; rating
    ``movie % 5 + 1``), keeping in :attr:`acknowledged` every rating answered 200. A thread
    whose server dies stops: its last write was never acknowledged."""

    def __init__(self, bases: list[str], user_id: int, token: str, first: int = 1,
                 threads: int = 8) -> None:
        self.acknowledged: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._url = f"/api/users/{user_id}/ratings"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._threads = [
            threading.Thread(target=self._write, args=(bases[i % len(bases)], first + i, threads))
            for i in range(threads)
        ]

    def _write(self, base: str, movie: int, step: int) -> None:
        with httpx.Client(base_url=base, headers=self._headers, timeout=5) as client:
            while not self._stop.is_set() and movie < 100000:
                rating = movie % 5 + 1
                try:
                    response = client.put(f"{self._url}/{movie}", json={"rating": rating})
                except httpx.HTTPError:
                    return
                if response.status_code == 200:
                    with self._lock:
                        self.acknowledged[movie] = rating
                movie += step

    def __enter__(self) -> RatingWriters:
        for thread in self._threads:
            thread.start()
        return self

    def wait_for(self, count: int, seconds: float = 60.0) -> None:
        """Until ``count`` ratings are acknowledged (or ``seconds`` have passed)."""
        deadline = time.monotonic() + seconds
        while len(self.acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def lost_ratings(acknowledged: Mapping[int, int], stored: dict[str, Any]) -> dict[int, int]:
    """The acknowledged ratings that ``stored`` (a ``GET .../ratings`` body) lacks or holds
    with another value."""
    saved = {int(r["movie_id"]): r["rating"] for r in stored["data"]}
    return {m: r for m, r in acknowledged.items() if saved.get(m) != r}
