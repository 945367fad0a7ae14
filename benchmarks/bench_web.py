"""Load test of the studio on loopback: requests/s and p50/p99 latency at 50 clients.

Starts ``uvicorn`` (one worker, as ``convrec studio`` does) in a subprocess on a temporary
SQLite database, then drives it with ``wrk`` (Debian package) for a bounded time per
endpoint. Run it under the shared lock: ``flock /tmp/convrec-heavy.lock python
benchmarks/bench_web.py``. Endpoints:

- ``conv apply``: ``POST /api/conv/apply``, a 28×28 digit and the four edge kernels (the
  playground's request);
- ``ratings read``: ``GET /api/users/{id}/ratings`` with 20 ratings (a database read);
- ``rating write``: ``PUT /api/users/{id}/ratings/{movie}`` (a durable SQLite commit);
- ``recommend``: ``GET /api/me/recommendations`` for a user with 20 ratings in the database
  (read them, fold them in, rank all 1,682 movies, explain the top 10), with the studio's
  default recommender (BayesianMF on ML-100K, trained into the temporary cache before the
  server starts, ~15 s). Needs ``CONVREC_DATA`` with ``ml-100k/``; skipped otherwise.
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

SERVER = """
import os, sys, uvicorn
from pathlib import Path
from convrec.settings import Settings
from convrec.web import Services, create_app
data = os.environ.get("CONVREC_DATA")
settings = Settings(cache_dir=Path(sys.argv[1]), offline=True,
                    data_dir=Path(data) if data else None)
if data and (Path(data) / "ml-100k").is_dir():
    services = Services.defaults(settings)
    services.recommender()  # train the default model now, not during the first request
else:
    services = Services(settings, movie_titles=lambda i: f"movie {i}" if i <= 1682 else None)
uvicorn.run(create_app(settings, services), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""

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
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="convrec-bench-web-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(work), str(port)], env=env)
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
        signup = httpx.post(base + "/api/auth/signup",
                            json={"username": "bench", "password": "bench password"}).json()
        token, uid = signup["token"], signup["user"]["id"]
        headers = {"Authorization": f"Bearer {token}"}
        for movie in range(1, 21):
            httpx.put(f"{base}/api/users/{uid}/ratings/{movie}", json={"rating": movie % 5 + 1},
                      headers=headers).raise_for_status()
        conv_body = {"image": {"pixels": digit()}, "padding": 0, "stride": 1,
                     "kernels": [{"name": n} for n in
                                 ("left_edge", "top_edge", "diag1_edge", "diag2_edge")]}
        httpx.post(base + "/api/conv/apply", json=conv_body).raise_for_status()
        cases = [
            ("conv apply", "POST", "/api/conv/apply", json.dumps(conv_body)),
            ("ratings read", "GET", f"/api/users/{uid}/ratings", None),
            ("rating write", "PUT", f"/api/users/{uid}/ratings/50", json.dumps({"rating": 4})),
        ]
        recs = httpx.get(base + "/api/me/recommendations", headers=headers, timeout=30)
        if recs.status_code == 200:
            assert recs.json()["based_on"] == 20, recs.text
            cases.append(("recommend", "GET", "/api/me/recommendations", None))
        else:
            print(f"recommend skipped ({recs.status_code}): set CONVREC_DATA to a folder with "
                  "ml-100k/")
        print(f"{args.connections} connections, {args.seconds} s each, wrk -t2, one uvicorn "
              f"worker, SQLite WAL synchronous=FULL, {os.cpu_count()} cores")
        print("| endpoint | requests/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---:|---:|---:|---:|")
        for name, method, path, body in cases:
            script = work / f"{name.replace(' ', '_')}.lua"
            script.write_text(LUA.format(method=method, token=token,
                                         body="nil" if body is None else json.dumps(body)))
            r = run_wrk(base + path, script, args.seconds, args.connections)
            print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                  f"{r['non_2xx']:.0f} |")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
