"""Load test of the studio on loopback: requests/s and p50/p99 latency at 50 clients.

Starts the studio with ``convrec studio --workers N`` (:func:`convrec.cli.serve.serve`: uvicorn
workers on asyncio's loop running :func:`convrec.web.app.studio_app`: thread pools pinned,
saved models loaded) on a temporary
SQLite database, or on PostgreSQL with ``--database postgresql`` (``DATABASE_URL``), then
drives it with ``wrk`` (Debian package) for a bounded time per endpoint. Run it under the
shared lock: ``flock /tmp/convrec-bench.lock python benchmarks/bench_web.py``. Endpoints:

- ``conv apply``: ``POST /api/conv/apply``, a 28×28 digit and the four edge kernels (the
  playground's request);
- ``ratings read``: ``GET /api/users/{id}/ratings`` with 20 ratings (a database read);
- ``rating write``: ``PUT /api/users/{id}/ratings/{movie}`` (a durable SQLite commit);
- ``recommend``: ``GET /api/me/recommendations`` for a user with 20 ratings in the database
  (read them, fold them in, rank all 1,682 movies, explain the top 10), with the studio's
  default recommender (BayesianMF on ML-100K, trained into the temporary cache before the
  server starts, ~15 s). Needs ``CONVREC_DATA`` with ``ml-100k/``; skipped otherwise;
- ``under a login flood``: ``ratings read`` again while 100 connections send wrong
  passwords (the throttle answers them 429 after 5 failures; the hash limiter bounds the
  rest);
- the anchor: ``GET /static/common.js`` (a static file), measured in the same run; each
  row's p99 is also given as a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def train_default_models(env: dict[str, str]) -> None:
    """The studio's default models (classifier and recommender) trained into the cache by the
    studio's own trainer, before serving, so that no training competes with the requests."""
    subprocess.run([sys.executable, "-m", "convrec.web.training"], env=env, check=True)


LUA = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def digit() -> list[list[int]]:
    """A 28×28 digit: the first MNIST test image when CONVREC_DATA has it, else a drawn ring."""
    folder = os.environ.get("CONVREC_DATA")
    if folder and (Path(folder) / "mnist").is_dir():
        from convrec.data.mnist import read_mnist_split

        images, _ = read_mnist_split(Path(folder) / "mnist", "test")
        return images[0].tolist()
    ring = np.zeros((28, 28), np.uint8)
    ring[6:22, 6:22] = 255
    ring[9:19, 9:19] = 0
    return ring.tolist()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"no {label}% latency in wrk output:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non_2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": 0.0 if errors is None else 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per endpoint (bounded)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models", type=Path, default=None,
                        help="a cache folder whose models/ to reuse instead of training them")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql: the server named by DATABASE_URL")
    parser.add_argument("--only", default=None,
                        help="comma-separated rows to run (e.g. 'recommend,conv apply'); the "
                             "anchor always runs; 'flood' names the login-flood row")
    args = parser.parse_args()
    only = None if args.only is None else {name.strip() for name in args.only.split(",")}
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="convrec-bench-web-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    trace = work / "start-trace.txt"  # each worker writes "warm-up done" there (timeline.mark)
    env.update(CONVREC_CACHE=str(work), CONVREC_OFFLINE="1", CONVREC_START_TRACE=str(trace))
    if args.database == "postgresql":
        url = os.environ.get("DATABASE_URL", "")
        if not url.startswith("postgresql"):
            sys.exit("--database postgresql needs DATABASE_URL=postgresql://...")
        env["DATABASE_URL"] = url
    else:
        env["DATABASE_URL"] = f"sqlite:///{work / 'studio.sqlite3'}"
    if args.models is not None:
        shutil.copytree(args.models / "models", work / "models")
    train_default_models(env)
    from convrec.web.db import check_database  # migrate once, before the workers start

    check_database(env["DATABASE_URL"]).dispose()
    server = subprocess.Popen(
        [sys.executable, "-m", "convrec", "studio", "--workers", str(args.workers),
         "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300  # the default recommender trains first (~15 s)
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the studio server did not start")
                time.sleep(0.2)
        user = f"bench{port}"  # a fresh account (PostgreSQL keeps the earlier runs' ones)
        signup = httpx.post(base + "/api/auth/signup", timeout=60,
                            json={"username": user, "password": "load test pass"}).json()
        token, uid = signup["token"], signup["user"]["id"]
        headers = {"Authorization": f"Bearer {token}"}
        for movie in range(1, 21):
            httpx.put(f"{base}/api/users/{uid}/ratings/{movie}", json={"rating": movie % 5 + 1},
                      headers=headers, timeout=60).raise_for_status()
        conv_body = {"image": {"pixels": digit()}, "padding": 0, "stride": 1,
                     "kernels": [{"name": n} for n in
                                 ("left_edge", "top_edge", "diag1_edge", "diag2_edge")]}
        httpx.post(base + "/api/conv/apply", json=conv_body, timeout=60).raise_for_status()
        cases = [
            ("anchor: static file", "GET", "/static/common.js", None),
            ("conv apply", "POST", "/api/conv/apply", json.dumps(conv_body)),
            ("ratings read", "GET", f"/api/users/{uid}/ratings", None),
            ("rating write", "PUT", f"/api/users/{uid}/ratings/50", json.dumps({"rating": 4})),
        ]
        recs = httpx.get(base + "/api/me/recommendations", headers=headers, timeout=60)
        for _ in range(4 * args.workers):  # new connections: every worker has its models
            httpx.get(base + "/api/me/recommendations", headers=headers, timeout=60)
        # measured once every worker has loaded its models, warmed its conv engines and frozen
        # what it loaded out of the GC (a worker's warm-up imports torch: seconds of its loop)
        while sum("warm-up done" in line for line in
                  (trace.read_text().splitlines() if trace.exists() else [])) < args.workers:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the studio's workers did not finish their warm-up")
            time.sleep(0.2)
        if recs.status_code == 200:
            assert recs.json()["based_on"] == 20, recs.text
            cases.append(("recommend", "GET", "/api/me/recommendations", None))
        else:
            print(f"recommend skipped ({recs.status_code}): set CONVREC_DATA to a folder with "
                  "ml-100k/")
        database = ("PostgreSQL" if args.database == "postgresql"
                    else "SQLite WAL synchronous=FULL")
        print(f"{args.connections} connections, {args.seconds} s each, wrk -t2, "
              f"{args.workers} studio workers (asyncio), {database}, {os.cpu_count()} cores, "
              f"load average before: {os.getloadavg()[0]:.2f}")
        print("| endpoint | requests/s | p50 ms | p99 ms | p99 / anchor p99 | non-2xx |")
        print("|---|---:|---:|---:|---:|---:|")
        anchor = 0.0

        def measure(name: str, method: str, path: str, body: str | None) -> dict[str, float]:
            script = work / f"{re.sub(r'[^a-z]+', '_', name)}.lua"
            script.write_text(LUA.format(method=method, token=token,
                                         body="nil" if body is None else json.dumps(body)))
            return run_wrk(base + path, script, args.seconds, args.connections)

        def row(name: str, r: dict[str, float]) -> None:
            ratio = r["p99_ms"] / anchor if anchor else 1.0
            print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{ratio:.1f} | {r['non_2xx']:.0f} |", flush=True)

        if only is not None:
            known = {name for name, *_ in cases} | {"flood"}
            if only - known:
                sys.exit(f"--only: unknown rows {sorted(only - known)}; known: {sorted(known)}")
            cases = [c for c in cases if c[0] in only or c[0].startswith("anchor")]
        quiet_read = None
        for name, method, path, body in cases:
            r = measure(name, method, path, body)
            anchor = anchor or r["p99_ms"]
            if name == "ratings read":
                quiet_read = r
            row(name, r)
        if only is not None and "flood" not in only:
            return
        # the same read while 100 connections send wrong passwords
        flood_script = work / "flood.lua"
        flood_script.write_text(LUA.format(
            method="POST", token="none",
            body=json.dumps(json.dumps({"username": user, "password": "wrong password!"}))))
        flood = subprocess.Popen(
            ["wrk", "-t1", "-c100", f"-d{args.seconds + 4}s", "-s", str(flood_script),
             base + "/api/auth/login"], stdout=subprocess.DEVNULL)
        time.sleep(2)
        try:
            r = measure("ratings read", "GET", f"/api/users/{uid}/ratings", None)
        finally:
            flood.wait(timeout=args.seconds + 30)
        row("ratings read, 100 wrong logins running", r)
        if quiet_read:
            print(f"p99 under the login flood / quiet p99: "
                  f"{r['p99_ms'] / quiet_read['p99_ms']:.2f}; load average after: "
                  f"{os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)  # uvicorn lets the workers finish their connections
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
