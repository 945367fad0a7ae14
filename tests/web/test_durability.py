"""A rating acknowledged to the client survives a crash of the server (SIGKILL mid-load)."""

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


def _start(cache: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(cache), str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the studio server did not start")


def test_acknowledged_ratings_survive_sigkill(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(tmp_path, port)
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
        server.send_signal(signal.SIGKILL)  # mid-load: writers are still sending
        server.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
    assert len(acknowledged) >= 150

    server = _start(tmp_path, port)
    try:
        stored = httpx.get(f"{base}/api/users/{user_id}/ratings", headers=headers).json()
    finally:
        server.terminate()
        server.wait(timeout=10)
    saved = {r["movie_id"]: r["rating"] for r in stored["data"]}
    missing = {m: r for m, r in acknowledged.items() if saved.get(m) != r}
    assert not missing, f"{len(missing)} acknowledged ratings lost after SIGKILL"
