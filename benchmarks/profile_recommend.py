"""CPU per ``GET /api/me/recommendations`` in-process (issue 16): the studio app on a temporary
SQLite database with the default recommender of ML-100K (trained into ``--cache`` once), a
user with the 20 ratings ``bench_web.py`` stores, driven by raw ASGI calls (no socket).

``python benchmarks/profile_recommend.py --cache DIR [--requests N] [--profile]`` prints
the median of ``time.process_time`` per request over rounds of ``N`` requests, and with
``--profile`` the top of a cProfile of one round. ``--answers FILE`` writes the answers
(ids, titles, scores, explanations) of requests with varied ratings, to compare two trees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def build(cache: Path) -> tuple[Any, str, int]:
    """The app, a bearer token and the user id (20 ratings as bench_web.py stores them)."""
    from fastapi.testclient import TestClient

    from convrec.recsys.catalog import get_default_recommender
    from convrec.settings import get_settings
    from convrec.web import Services, create_app

    os.environ["CONVREC_CACHE"] = str(cache)
    os.environ["CONVREC_OFFLINE"] = "1"
    settings = get_settings()
    recommender = get_default_recommender(settings, progress=False)
    url = f"sqlite:///{tempfile.mkdtemp(prefix='w2-')}/studio.sqlite3"
    app = create_app(settings, Services(settings, recommender=recommender), database_url=url)
    client = TestClient(app)
    body = client.post("/api/auth/signup",
                       json={"username": "bench", "password": "load test pass"}).json()
    token, uid = body["token"], body["user"]["id"]
    for movie in range(1, 21):
        client.put(f"/api/users/{uid}/ratings/{movie}", json={"rating": movie % 5 + 1},
                   headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    return app, token, uid


async def call(app: Any, token: str, query: bytes = b"") -> bytes:
    """One raw ASGI request; the answer's body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/api/me/recommendations",
             "raw_path": b"/api/me/recommendations", "query_string": query, "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    chunks: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    assert status == [200], (status, b"".join(chunks)[:300])
    return b"".join(chunks)


async def rounds(app: Any, token: str, n: int, k: int) -> list[float]:
    out = []
    for _ in range(k):
        start = time.process_time()
        for _ in range(n):
            await call(app, token)
        out.append((time.process_time() - start) / n * 1000)
    return out


async def answers(app: Any, token: str, uid: int) -> list[Any]:
    """Answers for 60 rating sets (1 to 40 ratings, varied values), each for n of 1, 10
    and 100 (``fold_in_ms`` left out: a timing)."""
    import numpy as np
    from fastapi.testclient import TestClient

    rng = np.random.default_rng(16)
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    rated = list(range(1, 21))
    for case in range(60):
        for movie in rated:  # each case starts from no ratings
            client.delete(f"/api/users/{uid}/ratings/{movie}", headers=headers)
        rated = [int(m) for m in rng.choice(np.arange(1, 1683), size=1 + case % 40,
                                            replace=False)]
        for movie in rated:
            client.put(f"/api/users/{uid}/ratings/{movie}",
                       json={"rating": int(rng.integers(1, 6))}, headers=headers)
        for n in (1, 10, 100):
            body = json.loads(await call(app, token, f"n={n}".encode()))
            body.pop("fold_in_ms")
            out.append(body)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--answers", type=Path, default=None)
    args = parser.parse_args()
    app, token, uid = build(args.cache)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(rounds(app, token, 50, 1))  # warm
    if args.answers is not None:
        args.answers.write_text(json.dumps(loop.run_until_complete(answers(app, token, uid))))
        return
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(rounds(app, token, args.requests, 1))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        return
    times = loop.run_until_complete(rounds(app, token, args.requests, args.rounds))
    print(f"CPU per request: median {statistics.median(times):.3f} ms over {args.rounds} "
          f"rounds of {args.requests} (min {min(times):.3f}); load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
