"""CPU per request of the studio's recommend: ``MovieRecommender.recommend_for_ratings``.

The default model (``hybrid``) is trained on all of ML-100K into a scratch cache (or ``--cache
DIR`` is used); then each code tree (this one and, with ``--before SRC``, an older ``src/``,
e.g. ``git archive <commit> src | tar -x -C DIR``) runs in its own fresh process, the trees
alternating round by round, and times the same random new users: 1 to 8 ratings of movies
with a training rating, ratings 1-5, top 10 with explanations (as the studio calls it). Per
call: wall time (``perf_counter``) and CPU time (``thread_time``) in µs, median and p95, and
the ratio of the medians to the "before" tree. A process's first 50 calls (caches, lazy
imports) are not counted.

Run: ``CONVREC_DATA=/work/shared/data /work/notes/bin/bench .venv/bin/python
benchmarks/bench_recsys_request.py --before /tmp/old/src`` (prints a markdown section;
nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

WORKER = r"""
import json, sys, time
import numpy as np
from convrec.recsys.catalog import get_default_recommender
rec = get_default_recommender(progress=False)
model = rec.model
rng = np.random.default_rng(int(sys.argv[1]))
known = model.item_ids_[model.item_counts_ > 0]
calls = int(sys.argv[2])
users = [{int(m): float(rng.integers(1, 6))
          for m in rng.choice(known, int(rng.integers(1, 9)), replace=False)}
         for _ in range(calls + 50)]
wall, cpu = [], []
for k, ratings in enumerate(users):
    w0, c0 = time.perf_counter(), time.thread_time()
    rec.recommend_for_ratings(ratings, 10)
    w1, c1 = time.perf_counter(), time.thread_time()
    if k >= 50:
        wall.append((w1 - w0) * 1e6)
        cpu.append((c1 - c0) * 1e6)
print(json.dumps({"wall": wall, "cpu": cpu, "samples": int(model.n_stored_samples_)}))
"""


def run_tree(src: Path | None, env: dict[str, str], seed: int, calls: int) -> dict[str, Any]:
    """The worker's timings for the code in ``src`` (None: the installed package)."""
    tree_env = dict(env)
    if src is not None:
        tree_env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, "-c", WORKER, str(seed), str(calls)], env=tree_env,
                         capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per process")
    parser.add_argument("--cache", type=Path, default=None,
                        help="an existing CONVREC_CACHE (default: a scratch one, trained first)")
    parser.add_argument("--before", type=Path, default=None,
                        help="a src/ folder of older code, timed in the same run")
    parser.add_argument("--threads", default="",
                        help="OPENBLAS/OMP_NUM_THREADS for the workers (default: unset)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="convrec-request-"))
    env = dict(os.environ, CONVREC_CACHE=str(cache))
    if args.threads:
        env.update(OPENBLAS_NUM_THREADS=args.threads, OMP_NUM_THREADS=args.threads)
    run_tree(None, env, 0, 1)  # trains and saves the default model (not timed)
    trees: dict[str, Path | None] = {"this code": None}
    if args.before is not None:
        trees["before (`--before`)"] = args.before
    load_before = os.getloadavg()
    got: dict[str, dict[str, list[float]]] = {t: {"wall": [], "cpu": []} for t in trees}
    samples = 0
    for r in range(args.rounds):
        for label, src in trees.items():
            res = run_tree(src, env, r, args.calls)
            got[label]["wall"] += res["wall"]
            got[label]["cpu"] += res["cpu"]
            samples = int(res["samples"])
    load_after = os.getloadavg()
    print("### Recommend for a new user (`recommend_for_ratings`), CPU per call")
    print()
    print(f"ML-100K, the default model (hybrid, {samples} stored Bayesian MF samples), "
          f"1-8 ratings, top 10 with explanations; {args.rounds} rounds × {args.calls} calls "
          f"per tree, trees alternating; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after, {os.cpu_count()} cores; BLAS threads "
          f"{args.threads or 'unset'}.")
    print()
    print("| code | wall median µs | wall p95 µs | CPU median µs | CPU p95 µs "
          "| × before (wall median) |")
    print("|---|---|---|---|---|---|")
    ref = (float(np.median(got[list(trees)[-1]]["wall"])) if args.before is not None
           else float("nan"))
    for label, t in got.items():
        wall, cpu = np.array(t["wall"]), np.array(t["cpu"])
        print(f"| {label} | {np.median(wall):.0f} | {np.percentile(wall, 95):.0f} | "
              f"{np.median(cpu):.0f} | {np.percentile(cpu, 95):.0f} | "
              f"{np.median(wall) / ref:.2f} |")
    print()


if __name__ == "__main__":
    main()
