"""Two studio processes on different ports sharing one PostgreSQL: a login made on one works
on the other, each sees the other's writes, and every acknowledged rating survives a SIGKILL
of one of them mid-load. Runs where DATABASE_URL names a PostgreSQL (.ci/run starts one)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from tests.web.studio_processes import RatingWriters, free_port, lost_ratings, start_studio

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
pytestmark = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)",
)


def test_two_studios_share_one_postgresql_and_lose_nothing(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    servers = [
        start_studio(port, {**os.environ, "DATABASE_URL": POSTGRES_URL, "CONVREC_OFFLINE": "1",
                            "CONVREC_CACHE": str(tmp_path / f"cache{i}")})
        for i, port in enumerate(ports)
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
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
        with RatingWriters(bases, user_id, token, first=100) as writers:
            writers.wait_for(150)
            servers[0].send_signal(signal.SIGKILL)  # mid-load; studio 1 keeps serving
            servers[0].wait(timeout=10)
            time.sleep(0.3)
        assert len(writers.acknowledged) >= 150
        stored = httpx.get(f"{bases[1]}/api/users/{user_id}/ratings", headers=headers).json()
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=10)
    missing = lost_ratings(writers.acknowledged, stored)
    assert not missing, f"{len(missing)} acknowledged ratings lost"
