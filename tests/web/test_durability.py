"""A rating acknowledged to the client survives a crash of the server (SIGKILL mid-load):
one process, and several uvicorn workers (the whole process group killed), on SQLite."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from tests.web.studio_processes import RatingWriters, free_port, lost_ratings, start_studio


@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_ratings_survive_sigkill(tmp_path: Path, workers: int) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_studio(port, _env(tmp_path), workers, wait_s=60)
    try:
        signup = httpx.post(f"{base}/api/auth/signup",
                            json={"username": "durable", "password": "keep every rating"})
        token, user_id = signup.json()["token"], signup.json()["user"]["id"]
        with RatingWriters([base], user_id, token) as writers:
            writers.wait_for(150)
            os.killpg(server.pid, signal.SIGKILL)  # mid-load: writers are still sending
            server.wait(timeout=10)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(writers.acknowledged) >= 150

    server = start_studio(port, _env(tmp_path), workers, wait_s=60)
    try:
        stored = httpx.get(f"{base}/api/users/{user_id}/ratings",
                           headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    missing = lost_ratings(writers.acknowledged, stored)
    assert not missing, f"{len(missing)} acknowledged ratings lost after SIGKILL"


def _env(cache: Path) -> dict[str, str]:
    """The studio's environment: SQLite in ``cache``, migrated first as the CLI does."""
    from convrec.web.db import migrate

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(CONVREC_CACHE=str(cache), CONVREC_OFFLINE="1")
    migrate(f"sqlite:///{cache / 'studio.sqlite3'}")
    return env
