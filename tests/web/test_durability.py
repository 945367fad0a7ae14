"""A rating acknowledged to the client survives a crash of the server (SIGKILL mid-load):
one process, and several uvicorn workers (the whole process group killed), on SQLite and
(where DATABASE_URL names one) PostgreSQL. The writes are group-committed
(``Database.write``): an answer comes only after its whole group is durable."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from tests.web.studio_processes import RatingWriters, free_port, lost_ratings, start_studio

POSTGRES_URL = os.environ.get("DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL.startswith("postgresql"),
    reason="set DATABASE_URL=postgresql://... to test PostgreSQL (.ci/run does)",
)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=needs_postgres)])
@pytest.mark.parametrize("workers", [1, 2])
def test_acknowledged_ratings_survive_sigkill(tmp_path: Path, workers: int, database: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, POSTGRES_URL if database == "postgresql" else None)
    server = start_studio(port, env, workers, wait_s=60)
    try:
        signup = httpx.post(f"{base}/api/auth/signup",  # PostgreSQL keeps earlier runs' users
                            json={"username": f"durable-{uuid.uuid4().hex[:8]}",
                                  "password": "keep every rating"})
        token, user_id = signup.json()["token"], signup.json()["user"]["id"]
        with RatingWriters([base], user_id, token) as writers:
            writers.wait_for(150)
            os.killpg(server.pid, signal.SIGKILL)  # mid-load: writers are still sending
            server.wait(timeout=10)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert len(writers.acknowledged) >= 150

    server = start_studio(port, env, workers, wait_s=60)
    try:
        stored = httpx.get(f"{base}/api/users/{user_id}/ratings",
                           headers={"Authorization": f"Bearer {token}"}).json()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    missing = lost_ratings(writers.acknowledged, stored)
    assert not missing, f"{len(missing)} acknowledged ratings lost after SIGKILL"


def _env(cache: Path, database_url: str | None = None) -> dict[str, str]:
    """The studio's environment: ``database_url`` (default: SQLite in ``cache``), migrated
    first as the CLI does."""
    from convrec.web.db import migrate

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(CONVREC_CACHE=str(cache), CONVREC_OFFLINE="1")
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    migrate(database_url or f"sqlite:///{cache / 'studio.sqlite3'}")
    return env
