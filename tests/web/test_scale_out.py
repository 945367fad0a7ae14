"""Two studio processes on different ports sharing one PostgreSQL: a login made on one works
on the other, each sees the other's writes, and every acknowledged rating survives a SIGKILL
of one of them mid-load. Runs where DATABASE_URL names a PostgreSQL (.ci/run starts one)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)",
)

SERVER = """
import sys, uvicorn
from convrec.settings import get_settings
from convrec.web import Services, create_app
settings = get_settings()
services = Services(settings, movie_titles=lambda i: f"movie {i}" if i <= 100000 else None)
uvicorn.run(create_app(settings, services), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cache: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "CONVREC_CACHE": str(cache),
           "CONVREC_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=1)
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise RuntimeError("the studio server exited at start") from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the studio server did not start")


def test_two_studios_share_one_postgresql_and_lose_nothing(tmp_path: Path) -> None:
    ports = [_free_port(), _free_port()]
    servers = [_start(tmp_path / f"cache{i}", port) for i, port in enumerate(ports)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    acknowledged: dict[int, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    try:
        name = f"scale-{uuid.uuid4().hex[:8]}"
        signup = httpx.post(f"{bases[0]}/api/auth/signup",
                            json={"username": name, "password": "shared by two studios"})
        assert signup.status_code == 201, signup.text
        token, user_id = signup.json()["token"], signup.json()["user"]["id"]
        headers = {"Authorization": f"Bearer {token}"}
        # a login made on studio 0 works on studio 1, and a write on one is read on the other
        assert httpx.get(f"{bases[1]}/api/auth/me", headers=headers).json()["username"] == name
        assert httpx.put(f"{bases[1]}/api/users/{user_id}/ratings/7", json={"rating": 3},
                         headers=headers).status_code == 200
        seen = httpx.get(f"{bases[0]}/api/users/{user_id}/ratings/7", headers=headers)
        assert seen.json()["rating"] == 3

        def writer(offset: int) -> None:
            base = bases[offset % 2]
            with httpx.Client(base_url=base, headers=headers, timeout=5) as client:
                movie = 100 + offset
                while not stop.is_set() and movie < 100000:
                    rating = movie % 5 + 1
                    try:
                        response = client.put(f"/api/users/{user_id}/ratings/{movie}",
                                              json={"rating": rating})
                    except httpx.HTTPError:
                        return  # that studio died: this write was never acknowledged
                    if response.status_code == 200:
                        with lock:
                            acknowledged[movie] = rating
                    movie += 8

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 150 and time.monotonic() < deadline:
            time.sleep(0.01)
        servers[0].send_signal(signal.SIGKILL)  # mid-load; studio 1 keeps serving
        servers[0].wait(timeout=10)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        assert len(acknowledged) >= 150
        stored = httpx.get(f"{bases[1]}/api/users/{user_id}/ratings", headers=headers).json()
    finally:
        stop.set()
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=10)
    saved = {r["movie_id"]: r["rating"] for r in stored["data"]}
    missing = {m: r for m, r in acknowledged.items() if saved.get(m) != r}
    assert not missing, f"{len(missing)} acknowledged ratings lost"
