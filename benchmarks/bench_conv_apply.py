"""In-process cost of ``POST /api/conv/apply``: response size and time per request.

The playground's request (a 28×28 MNIST digit and fastai's four edge kernels) sent through
Starlette's in-process ``TestClient`` (no sockets, no other clients), against the anchor
``GET /static/common.js`` measured in the same run, alternating so that a load change hits
both. Run it alone: ``CONVREC_DATA=../shared/data /work/notes/bin/bench .venv/bin/python
benchmarks/bench_conv_apply.py``; ``--rounds`` sets how many timed requests of each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def digit() -> list[list[int]]:
    """The first MNIST test digit when CONVREC_DATA has it, else a drawn ring."""
    folder = os.environ.get("CONVREC_DATA")
    if folder and (Path(folder) / "mnist").is_dir():
        from convrec.data.mnist import read_mnist_split

        images, _ = read_mnist_split(Path(folder) / "mnist", "test")
        first: list[list[int]] = images[0].tolist()
        return first
    ring = np.zeros((28, 28), np.uint8)
    ring[6:22, 6:22] = 255
    ring[9:19, 9:19] = 0
    drawn: list[list[int]] = ring.tolist()
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from convrec.settings import Settings
    from convrec.web import Services, create_app

    body = {"image": {"pixels": digit()},
            "kernels": [{"name": n} for n in ("left_edge", "top_edge", "diag1_edge",
                                              "diag2_edge")]}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(cache_dir=Path(tmp) / "cache", offline=True)
        app = create_app(settings, Services(settings, mnist=(np.zeros((1, 28, 28), np.uint8),
                                                             np.zeros(1, np.int64))),
                         database_url=f"sqlite:///{Path(tmp) / 'studio.db'}")
        with TestClient(app) as client:
            apply = lambda: client.post("/api/conv/apply", json=body)  # noqa: E731
            static = lambda: client.get("/static/common.js")  # noqa: E731
            first = apply()
            first.raise_for_status()
            for _ in range(20):  # warm-up: imports, numba compilation, caches
                apply(), static()
            times: dict[str, list[float]] = {"apply": [], "static": []}
            for _ in range(args.rounds):
                for name, call in (("apply", apply), ("static", static)):
                    t0 = time.perf_counter()
                    call().raise_for_status()
                    times[name].append(time.perf_counter() - t0)
    out = first.json()
    fields = sorted({k for o in out["outputs"] for k in o})
    median = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(json.dumps({
        "response_bytes": len(first.content), "map_fields": fields,
        "load_average": [round(x, 2) for x in os.getloadavg()], "rounds": args.rounds,
        "apply_median_ms": round(median["apply"], 3),
        "static_median_ms": round(median["static"], 3),
        "apply_over_static": round(median["apply"] / median["static"], 2),
    }, indent=1))


if __name__ == "__main__":
    main()
