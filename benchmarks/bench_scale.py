"""Scale benchmark: an ML-25M-shaped synthetic data set through three ALS engines.

One run generates (or reuses) the synthetic ratings, writes them as CSV and Parquet under
``--workdir`` (never into the repository), then measures for each engine, in a child process
of its own: load time, fit time, recommend-all time (top 10 for every user), held-out RMSE
where the engine predicts ratings, and the peak RSS of the child's whole process tree (the
JVM included for Spark), sampled every 0.1 s with psutil.

Engines:

* ``local``: ``convrec.recsys.ALS`` (explicit, biased; numba CG solves), loading the CSV
  with :func:`convrec.recsys.scale.load_ratings` (then once more from its npz cache);
* ``implicit``: ``implicit.cpu.als.AlternatingLeastSquares`` on the same CSR matrix
  (implicit feedback: each rating counts as an interaction);
* ``spark``: ``ALS(engine="spark")``'s Spark MLlib ALS in local mode, on the Parquet file,
  ``--spark-iterations`` iterations only (each takes minutes here): the full-fit figure is an
  extrapolation and is labelled as one.

Run (about 10 minutes on 2 cores)::

    flock /tmp/convrec-heavy.lock .venv/bin/python benchmarks/bench_scale.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def run_child(args: list[str]) -> dict[str, Any]:
    """Run this script as a child with ``args``; returns its JSON line plus ``peak_mib``."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            text=True)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    start = time.perf_counter()
    thread.start()
    out, _ = proc.communicate()
    done.set()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed with code {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_mib"] = peak / 2**20
    result["process_wall_s"] = time.perf_counter() - start
    return result


def prepare(workdir: Path, n_ratings: int, seed: int) -> tuple[Path, Path, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from convrec.recsys.scale import synthetic_ratings

    workdir.mkdir(parents=True, exist_ok=True)
    csv = workdir / f"synthetic-{n_ratings}-s{seed}.csv"
    parquet = csv.with_suffix(".parquet")
    info: dict[str, Any] = {}
    if not (csv.is_file() and parquet.is_file()):
        start = time.perf_counter()
        share = n_ratings / 25_000_000  # smaller runs keep ML-25M's ratios
        users, items, ratings = synthetic_ratings(
            n_ratings, n_users=max(100, round(162_000 * share)),
            n_items=max(1_000, round(59_000 * share)), seed=seed)
        info["generate_s"] = time.perf_counter() - start
        # original-looking ids: users from 1, items scattered like MovieLens movieIds
        table = pa.table({"userId": users + 1, "movieId": items * 3 + 1, "rating": ratings})
        pacsv.write_csv(table, csv, pacsv.WriteOptions(quoting_style="none"))
        pq.write_table(pa.table({"user": users, "item": items, "rating": ratings}), parquet)
        info["write_s"] = time.perf_counter() - start - info["generate_s"]
    return csv, parquet, info


def _split(ratings: Any, seed: int = 0) -> tuple[Any, Any]:
    from convrec.recsys import random_split

    return random_split(ratings, 0.01, seed=seed)  # 250k held-out ratings


def child_local(csv: Path, cache: Path, factors: int, iterations: int) -> dict[str, Any]:
    from convrec.recsys import ALS
    from convrec.recsys.metrics import rmse
    from convrec.recsys.scale import load_ratings, recommend_all

    for old in cache.glob("*.npz"):
        old.unlink()
    start = time.perf_counter()
    load_ratings(csv, cache_dir=cache)
    load_csv = time.perf_counter() - start
    start = time.perf_counter()
    ratings = load_ratings(csv, cache_dir=cache)
    load_cache = time.perf_counter() - start
    train, test = _split(ratings)
    del ratings
    model = ALS(factors=factors, iterations=iterations, cg_steps=3)
    start = time.perf_counter()
    model.fit(train)
    fit = time.perf_counter() - start
    pred, _ = model.predict_index(test.users, test.items)
    start = time.perf_counter()
    top = recommend_all(model, 10)
    rec = time.perf_counter() - start
    return {"engine": "local ALS (convrec)", "load_csv_s": load_csv, "load_cache_s": load_cache,
            "fit_s": fit, "iterations": iterations, "factors": factors,
            "recommend_all_s": rec, "users": int(top.shape[0]),
            "rmse": rmse(test.ratings, pred), "n_train": len(train)}


def child_implicit(csv: Path, cache: Path, factors: int, iterations: int) -> dict[str, Any]:
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy import sparse
    from threadpoolctl import threadpool_limits

    from convrec.recsys.scale import load_ratings

    start = time.perf_counter()
    ratings = load_ratings(csv, cache_dir=cache)
    load = time.perf_counter() - start
    train, _ = _split(ratings)
    del ratings
    start = time.perf_counter()
    X = sparse.csr_matrix((np.ones(len(train), dtype=np.float32), (train.users, train.items)),
                          shape=(train.n_users, train.n_items))
    build = time.perf_counter() - start
    model = AlternatingLeastSquares(factors=factors, regularization=0.05,
                                    iterations=iterations, random_state=0)
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        model.fit(X, show_progress=False)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        ids, _ = model.recommend(np.arange(X.shape[0]), X, N=10, filter_already_liked_items=True)
        rec = time.perf_counter() - start
    return {"engine": "implicit ALS", "load_cache_s": load, "csr_s": build, "fit_s": fit,
            "iterations": iterations, "factors": factors, "recommend_all_s": rec,
            "users": int(ids.shape[0])}


def child_spark(parquet: Path, factors: int, iterations: int, memory: str) -> dict[str, Any]:
    from pyspark.ml.recommendation import ALS as SparkALS  # noqa: N811

    from convrec.recsys.spark import spark_session

    start = time.perf_counter()
    spark = spark_session("local[2]", config={"spark.driver.memory": memory,
                                              "spark.sql.shuffle.partitions": "8"})
    spark.range(1).count()
    startup = time.perf_counter() - start
    start = time.perf_counter()
    frame = spark.read.parquet(str(parquet)).cache()
    n = frame.count()
    load = time.perf_counter() - start
    als = SparkALS(rank=factors, maxIter=iterations, regParam=0.05, userCol="user",
                   itemCol="item", ratingCol="rating", seed=0, checkpointInterval=5,
                   coldStartStrategy="drop")
    start = time.perf_counter()
    model = als.fit(frame)
    user = np.asarray([r["features"] for r in model.userFactors.collect()], dtype=np.float32)
    fit = time.perf_counter() - start
    return {"engine": "Spark MLlib ALS (local[2])", "startup_s": startup, "load_s": load,
            "n": n, "fit_s": fit, "iterations": iterations, "factors": factors,
            "users": int(user.shape[0]), "driver_memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/convrec-scale"))
    parser.add_argument("--engines", default="local,implicit,spark")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--implicit-iterations", type=int, default=15)
    parser.add_argument("--spark-iterations", type=int, default=2)
    parser.add_argument("--spark-memory", default="8g")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    csv = args.workdir / f"synthetic-{args.ratings}-s{args.seed}.csv"
    cache = args.workdir / "cache"
    if args.child == "local":
        out = child_local(csv, cache, args.factors, args.iterations)
    elif args.child == "implicit":
        out = child_implicit(csv, cache, args.factors, args.implicit_iterations)
    elif args.child == "spark":
        out = child_spark(csv.with_suffix(".parquet"), args.factors, args.spark_iterations,
                          args.spark_memory)
    if args.child:
        print(json.dumps(out))
        return
    csv, _, info = prepare(args.workdir, args.ratings, args.seed)
    print(json.dumps({"data": str(csv), **info}), flush=True)
    common = ["--ratings", str(args.ratings), "--seed", str(args.seed), "--workdir",
              str(args.workdir), "--factors", str(args.factors), "--iterations",
              str(args.iterations), "--implicit-iterations", str(args.implicit_iterations),
              "--spark-iterations", str(args.spark_iterations), "--spark-memory",
              args.spark_memory]
    for engine in args.engines.split(","):
        print(json.dumps(run_child([*common, "--child", engine])), flush=True)


if __name__ == "__main__":
    main()
