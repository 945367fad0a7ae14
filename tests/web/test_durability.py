"""A rating acknowledged to the client survives a crash of the server (SIGKILL mid-load):
one process, and several uvicorn workers (the whole process group killed), on SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

SERVER = """
import sys, uvicorn
from pathlib import Path
from convrec.settings import Settings
from convrec.web import Services, create_app
settings = Settings(cache_dir=Path(sys.argv[1]), offline=True)
services = Services(settings, movie_titles=lambda i: f"movie {i}" if i <= 100000 else None)
uvicorn.run(create_app(settings, services), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cache: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if workers == 1:
        command = [sys.executable, "-c", SERVER, str(cache), str(port)]
    else:  # as `convrec studio --workers N` serves: a parent and N worker processes
        from convrec.web.db import migrate

        env.update(CONVREC_CACHE=str(cache), CONVREC_OFFLINE="1")
        migrate(f"sqlite:///{cache / 'studio.sqlite3'}")  # as the CLI does, before workers
        command = [sys.executable, "-m", "uvicorn", "tests.web.durability_app:app", "--factory",
                   "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
                   "--log-level", "warning"]
    # its own process group: SIGKILL reaches the workers too, as a machine crash would
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError("the studio server did not start")


@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_ratings_survive_sigkill(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, port, workers)
    acknowledged: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    try:
        signup = httpx.post(f"{base}/api/auth/signup",
                            json={"username": "durable", "password": "keep every rating"})
        token, user_id = signup.json()["token"], signup.json()["user"]["id"]
        headers = {"Authorization": f"Bearer {token}"}

        def writer(offset: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
                movie = offset
                while not stop.is_set() and movie < 100000:
                    rating = movie % 5 + 1
                    try:
                        response = client.put(f"/api/users/{user_id}/ratings/{movie}",
                                              json={"rating": rating})
                    except httpx.HTTPError:
                        return  # the server died: this write was never acknowledged
                    if response.status_code == 200:
                        with lock:
                            acknowledged[movie] = rating
                    movie += 8

        threads = [threading.Thread(target=writer, args=(i + 1,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(server.pid, signal.SIGKILL)  # mid-load: writers are still sending
        server.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        stop.set()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(acknowledged) >= 150

    server = _start(tmp_path, port, workers)
    try:
        stored = httpx.get(f"{base}/api/users/{user_id}/ratings", headers=headers).json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    saved = {r["movie_id"]: r["rating"] for r in stored["data"]}
    missing = {m: r for m, r in acknowledged.items() if saved.get(m) != r}
    assert not missing, f"{len(missing)} acknowledged ratings lost after SIGKILL"
