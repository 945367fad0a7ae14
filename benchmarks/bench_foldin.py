"""Fold-in of brand-new users against the shrunk user-bias baseline and a full retrain.

Protocol (ML-100K u1.base): 100 users with at least 40 ratings are held out of training (50
test users, 50 validation users); each one's ratings are shuffled once (seed 0); the first 5,
10 or 20 are folded in, and the ratings after the 20th are scored, so every row of the table
is scored on the same ratings. The baseline ``μ + b_i + b_u`` with
``b_u = Σ(r − μ − b_i) / (λ + n)`` has its shrinkage λ chosen on the validation users only;
"retrain" fits the model again with the test users' first n ratings in the training data.

Run: ``CONVREC_DATA=../shared/data flock /tmp/convrec-bench.lock .venv/bin/python
benchmarks/bench_foldin.py [--quick]`` (writes the "Fold-in" section of RESULTS.md;
``--quick`` retrains at n=20 only).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convrec.recsys import ALS, BayesianMF, Biases, ItemKNNBaseline, Ratings, Recommender
from convrec.recsys.evaluate import load_fold
from convrec.recsys.metrics import rmse

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CONVREC_DATA") or ROOT.parent / "shared" / "data")
GIVEN = (5, 10, 20)
SHRINKAGE_GRID = (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 25.0, 50.0)
LINES: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def hold_out(ratings: Ratings, n_users: int, min_ratings: int, seed: int
             ) -> tuple[Ratings, dict[int, NDArray[np.int64]]]:
    """``(training ratings without the held-out users, {user row: their rating positions in
    a shuffled order})`` for ``n_users`` random users with at least ``min_ratings``."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    users = rng.choice(np.flatnonzero(counts >= min_ratings), n_users, replace=False)
    order = {int(u): rng.permutation(np.flatnonzero(ratings.users == u)) for u in users}
    return ratings.subset(~np.isin(ratings.users, users)), order


def profile(ratings: Ratings, positions: NDArray[np.int64]) -> dict[object, float]:
    return {ratings.item_ids[ratings.items[t]].item(): float(ratings.ratings[t])
            for t in positions}


def fold_in_rmse(model: Recommender, ratings: Ratings, order: dict[int, NDArray[np.int64]],
                 n: int) -> float:
    """RMSE on each user's ratings after the 20th, from a fold-in of their first ``n``."""
    truth, pred = [], []
    for pos in order.values():
        scores = model.predict_vector(model.fold_in(profile(ratings, pos[:n])))
        rest = pos[max(GIVEN):]
        truth.append(ratings.ratings[rest])
        pred.append(scores[ratings.items[rest]])
    return rmse(np.concatenate(truth), np.concatenate(pred))


def baseline_rmse(model: Biases, ratings: Ratings, order: dict[int, NDArray[np.int64]], n: int,
                  shrinkage: float) -> float:
    """The shrunk user-bias baseline on the same ratings as :func:`fold_in_rmse`."""
    truth, pred = [], []
    for pos in order.values():
        given = pos[:n]
        resid = (ratings.ratings[given] - model.global_mean_
                 - model.item_bias_[ratings.items[given]])
        bu = resid.sum() / (shrinkage + n)
        rest = pos[max(GIVEN):]
        truth.append(ratings.ratings[rest])
        pred.append(np.clip(model.global_mean_ + bu + model.item_bias_[ratings.items[rest]],
                            *model.rating_range_))
    return rmse(np.concatenate(truth), np.concatenate(pred))


def retrain_rmse(factory: Callable[[], Recommender], train: Ratings, ratings: Ratings,
                 order: dict[int, NDArray[np.int64]], n: int) -> float:
    given = np.concatenate([pos[:n] for pos in order.values()])
    rest = np.concatenate([pos[max(GIVEN):] for pos in order.values()])
    keep = np.concatenate([np.flatnonzero(~np.isin(ratings.users, list(order))), given])
    model = factory().fit(ratings.subset(np.sort(keep)))
    pred, _ = model.predict_index(ratings.users[rest], ratings.items[rest])
    return rmse(ratings.ratings[rest], pred)


def leave_last_out_new_users(model: Recommender, ratings: Ratings,
                             users: NDArray[np.int64], k: int = 10
                             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-user ``(hit@k, ndcg@k)``: fold in each user's ratings but the latest (in time
    order, so recency weights see the order), rank every other item, find the latest."""
    assert ratings.timestamps is not None
    hits, gains = [], []
    for u in users:
        rows = np.flatnonzero(ratings.users == u)
        rows = rows[np.lexsort((rows, ratings.timestamps[rows]))]
        given, last = rows[:-1], rows[-1]
        prof = profile(ratings, given)
        recs = model.recommend_vector(model.fold_in(prof), k, exclude=prof)
        ids = [r.item_id for r in recs]
        target = ratings.item_ids[ratings.items[last]].item()
        pos = ids.index(target) if target in ids else -1
        hits.append(float(pos >= 0))
        gains.append(1.0 / np.log2(pos + 2) if pos >= 0 else 0.0)
    return np.array(hits), np.array(gains)


def topn_new_users() -> None:
    from convrec.data.movielens import load_movielens
    from convrec.recsys import EASE, Popularity
    from convrec.recsys.metrics import paired_bootstrap
    from convrec.recsys.models.hybrid import Hybrid

    data = load_movielens("ml-100k", data_dir=DATA)
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    rng = np.random.default_rng(1)
    users = rng.permutation(ratings.n_users)[:250]
    test_users, valid_users = users[:150], users[150:]
    train = ratings.subset(~np.isin(ratings.users, users))
    say("### Top-N for new users (ML-100K, leave-last-out among folded-in users)")
    say()
    say("250 users removed from training (150 test, 100 validation); each is folded in from "
        "all their ratings but the latest (in time order) and every other item is ranked; "
        "hit = the latest in the top 10. Support shrinkage chosen on the validation users.")
    say()
    hybrid = Hybrid().fit(train)
    grid = (0.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    val = {}
    for c in grid:
        hybrid.set_params(support_shrinkage=c)
        val[c] = float(leave_last_out_new_users(hybrid, ratings, valid_users)[1].mean())
    best = max(grid, key=lambda c: (val[c], -c))
    rows: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
    rows["popularity"] = leave_last_out_new_users(Popularity().fit(train), ratings, test_users)
    rows["EASE λ=100"] = leave_last_out_new_users(EASE(lam=100.0).fit(train), ratings,
                                                   test_users)
    rows["EASE + recency (λ=300, half-life 10)"] = leave_last_out_new_users(
        EASE(lam=300.0, recency_half_life=10.0).fit(train), ratings, test_users)
    bmf = BayesianMF().fit(train)
    rows["BayesianMF by predicted rating (the old default)"] = leave_last_out_new_users(
        bmf, ratings, test_users)
    hybrid.set_params(support_shrinkage=0.0)
    rows["hybrid, support shrinkage off"] = leave_last_out_new_users(hybrid, ratings, test_users)
    hybrid.set_params(support_shrinkage=best)
    label = f"**hybrid (default): EASE + recency ranks, support shrinkage {best:g}**"
    rows[label] = leave_last_out_new_users(hybrid, ratings, test_users)
    say("| ranking for new users | HR@10 | NDCG@10 |")
    say("|---|---|---|")
    for name, (h, g) in rows.items():
        say(f"| {name} | {h.mean():.4f} | {g.mean():.4f} |")
    say()
    ease = rows["EASE + recency (λ=300, half-life 10)"][1]
    pop = rows["popularity"][1]
    for other, ref in (("EASE + recency", ease), ("popularity", pop)):
        d, lo, hi = paired_bootstrap(rows[label][1], ref, n_boot=5000, seed=0)
        say(f"- NDCG@10 hybrid − {other}: {d:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}] "
            f"(paired bootstrap over {len(ref)} users)")
    say("- validation NDCG@10 by support shrinkage: "
        + ", ".join(f"{c:g}: {v:.4f}" for c, v in val.items()))
    say()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed() -> None:
    """Fit times beside Surprise and implicit on ML-100K u1, EASE on a 10k-item catalogue,
    and fold-in + top-10 latency of the default model on that catalogue (warm process)."""
    from convrec.recsys import EASE
    from convrec.recsys.models.hybrid import Hybrid
    from convrec.recsys.scale import synthetic_ratings

    say("### Speed (one run; seconds unless stated)")
    say()
    say(f"Load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores "
        "(shared with other jobs: compare the ratios, not the seconds).")
    say()
    train, test = load_fold("u1", DATA)
    rows: list[tuple[str, float, float]] = []
    try:
        import surprise as sp

        folder = DATA / "ml-100k"
        data = sp.Dataset.load_from_folds([(str(folder / "u1.base"), str(folder / "u1.test"))],
                                          sp.Reader("ml-100k"))
        trs, tes = next(iter(sp.model_selection.PredefinedKFold().split(data)))
        algo = sp.SVD(random_state=0)
        fit_s = _timed(lambda: algo.fit(trs))
        err = np.array([p.r_ui - p.est for p in algo.test(tes)])
        rows.append(("Surprise SVD (default)", fit_s, float(np.sqrt(np.mean(err**2)))))
    except ImportError:
        say("(scikit-surprise not installed: its row is missing)")
    BayesianMF(n_samples=1, burn_in=0).fit(train)  # numba kernels loaded before timing
    for label, model in (("BayesianMF (default: 24 samples after 6 burn-in)", BayesianMF()),
                         ("BayesianMF, the former default (100 samples after 20, thin 2)",
                          BayesianMF(n_samples=100, burn_in=20, thin=2))):
        fit_s = _timed(partial(model.fit, train))
        pred, _ = model.predict_index(test.users, test.items)
        rows.append((label, fit_s, rmse(test.ratings, pred)))
    svd = rows[0][1] if rows and rows[0][0].startswith("Surprise") else float("nan")
    say("| ML-100K u1 | fit s | × Surprise SVD | u1 RMSE |")
    say("|---|---|---|---|")
    for label, fit_s, err_ in rows:
        say(f"| {label} | {fit_s:.2f} | {fit_s / svd:.1f} | {err_:.4f} |")
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from scipy import sparse

        X = sparse.csr_matrix((np.ones(len(train)), (train.users, train.items)),
                              shape=(train.n_users, train.n_items))
        lib = AlternatingLeastSquares(factors=32, regularization=0.01, iterations=15,
                                      random_state=0)
        lib_s = _timed(lambda: lib.fit(X, show_progress=False))
        say(f"| implicit library ALS (32 f, 15 it; ranking, no RMSE) | {lib_s:.2f} | "
            f"{lib_s / svd:.1f} | – |")
    except ImportError:
        say("| implicit library ALS | not installed | – | – |")
    ease_s = _timed(lambda: EASE(lam=300.0).fit(train))
    say(f"| EASE λ=300 (1,682 items; ranking) | {ease_s:.2f} | {ease_s / svd:.1f} | – |")
    say()
    users, items, values = synthetic_ratings(n_ratings=1_000_000, n_users=20_000,
                                             n_items=10_000, seed=0)
    big = Ratings.from_arrays(users, items, values,
                              timestamps=np.arange(len(users), dtype=np.int64))
    ease_fit = _timed(lambda: EASE(lam=300.0).fit(big))
    floor = inversion_floor(big, 300.0)
    # 24 stored samples as the default keeps; no side terms, whose eigen-decomposition at
    # 10k × 20k is a fit-time cost, not a fold-in one
    model = Hybrid(n_samples=24, burn_in=2, thin=1, implicit=False).fit(big)
    rng = np.random.default_rng(0)
    times = []
    for trial in range(220):
        picks = rng.choice(big.n_items, 10, replace=False)
        prof = {big.item_ids[j].item(): float(rng.integers(1, 6)) for j in picks}
        start = time.perf_counter()
        model.recommend_vector(model.fold_in(prof), 10, exclude=prof, rated=prof)
        if trial >= 20:  # warm: the first calls load caches
            times.append((time.perf_counter() - start) * 1e3)
    say(f"Synthetic catalogue: {big.n_items:,} items, {big.n_users:,} users, "
        f"{len(big):,} ratings (convrec.recsys.scale.synthetic_ratings).")
    say()
    say(f"- EASE fit on 10,000 items (float32, one Cholesky inversion): {ease_fit:.2f} s")
    say(f"- the floor, the same {big.n_items:,}² Gram XᵀX + 300·I already built, in the same "
        f"run: LAPACK `spotrf` + `spotri` alone {floor['potrf+potri']:.2f} s "
        f"(EASE fit ÷ this: {ease_fit / floor['potrf+potri']:.2f}×); numpy's own float32 "
        f"`np.linalg.inv` (LU) {floor['np.linalg.inv']:.2f} s; sgemm "
        f"{floor['sgemm GF/s']:.0f} GF/s, so n³ flops take "
        f"{float(big.n_items) ** 3 / floor['sgemm GF/s'] / 1e9:.2f} s at that rate; "
        f"BLAS: {floor['blas']}")
    say(f"- default model (hybrid) fold-in of 10 ratings + top-10 with explanations and "
        f"predicted ratings, warm, 200 calls: median {np.median(times):.2f} ms, "
        f"p95 {np.percentile(times, 95):.2f} ms")
    say()


def inversion_floor(ratings: Ratings, lam: float) -> dict[str, Any]:
    """What one exact inversion of EASE's Gram costs on this machine, timed on the same Gram
    (built here with scipy, outside the timings): LAPACK potrf + potri (what EASE calls, n³
    flops), numpy's float32 ``inv`` (LU, ~2n³), and the sgemm rate (the hardware's)."""
    from scipy import sparse
    from scipy.linalg import lapack
    from threadpoolctl import threadpool_info

    X = sparse.csr_matrix((np.ones(len(ratings), dtype=np.float32),
                           (ratings.users, ratings.items)),
                          shape=(ratings.n_users, ratings.n_items))
    X.data[:] = 1.0  # duplicates counted once, as EASE does
    G = (X.T @ X).toarray().astype(np.float32)
    G[np.diag_indices_from(G)] += np.float32(lam)
    out: dict[str, Any] = {}
    work = np.asfortranarray(G)

    def potrf_potri() -> None:
        c, info = lapack.spotrf(work, lower=False, overwrite_a=True, clean=False)
        assert info == 0
        _, info = lapack.spotri(c, lower=False, overwrite_c=True)
        assert info == 0

    out["potrf+potri"] = _timed(potrf_potri)
    out["np.linalg.inv"] = _timed(lambda: np.linalg.inv(G))
    a = np.random.default_rng(0).random((4000, 4000), dtype=np.float32)
    a @ a  # warm
    out["sgemm GF/s"] = 2 * 4000**3 / _timed(lambda: a @ a) / 1e9
    out["blas"] = ", ".join(f"{i['internal_api']} {i['num_threads']} threads"
                            for i in threadpool_info() if i["user_api"] == "blas")
    return out


def rating_speed_folds() -> None:
    """BayesianMF's default beside Surprise's default SVD on every official fold, fit times
    taken in the same process one after the other (ratios against SVD, fold by fold)."""
    import surprise as sp

    say("### BayesianMF against Surprise SVD, u1..u5 (one run)")
    say()
    say(f"Load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores.")
    say()
    BayesianMF(n_samples=1, burn_in=0).fit(load_fold("u1", DATA)[0])  # numba kernels loaded
    former: dict[str, Any] = {"n_samples": 100, "burn_in": 20, "thin": 2}
    say("| fold | SVD fit s | SVD RMSE | BayesianMF default fit s | × SVD | RMSE "
        "| former default (100 after 20) fit s | × SVD | RMSE |")
    say("|---|---|---|---|---|---|---|---|---|")
    sums = np.zeros(3)
    for fold in ("u1", "u2", "u3", "u4", "u5"):
        train, test = load_fold(fold, DATA)
        folder = DATA / "ml-100k"
        data = sp.Dataset.load_from_folds(
            [(str(folder / f"{fold}.base"), str(folder / f"{fold}.test"))], sp.Reader("ml-100k"))
        trs, tes = next(iter(sp.model_selection.PredefinedKFold().split(data)))
        algo = sp.SVD(random_state=0)
        svd_s = _timed(partial(algo.fit, trs))
        svd_err = float(np.sqrt(np.mean([(p.r_ui - p.est) ** 2 for p in algo.test(tes)])))
        cells = [f"{svd_s:.2f}", f"{svd_err:.4f}"]
        errs = [svd_err]
        for params in ({}, former):
            model = BayesianMF(**params)
            fit_s = _timed(partial(model.fit, train))
            pred, _ = model.predict_index(test.users, test.items)
            errs.append(rmse(test.ratings, pred))
            cells += [f"{fit_s:.2f}", f"{fit_s / svd_s:.1f}", f"{errs[-1]:.4f}"]
        sums += errs
        say(f"| {fold} | " + " | ".join(cells) + " |")
    mean = sums / 5
    say(f"| mean RMSE | | {mean[0]:.4f} | | | {mean[1]:.4f} | | | {mean[2]:.4f} |")
    say()
    say(f"Load average at the end: {os.getloadavg()[0]:.2f}.")
    say()


def models() -> dict[str, Callable[[], Recommender]]:
    from convrec.recsys.models.hybrid import Hybrid
    from convrec.recsys.models.torch_mf import EmbeddingDotBias

    return {
        "hybrid (the CLI's default; its ratings are its BayesianMF's)": lambda: Hybrid(),
        "BayesianMF (default)": lambda: BayesianMF(),
        "ALS (explicit, biased)": lambda: ALS(),
        "item-kNN baseline": lambda: ItemKNNBaseline(),
        "EmbeddingDotBias (fastai recipe)": lambda: EmbeddingDotBias(),
        "biases": lambda: Biases(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="retrain at n=20 only")
    parser.add_argument("--only", default="", help="comma-separated model labels (prefixes)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--topn-only", action="store_true", help="only the new-user top-N table")
    parser.add_argument("--speed-only", action="store_true", help="only the speed table")
    parser.add_argument("--folds-only", action="store_true",
                        help="only BayesianMF against Surprise SVD on u1..u5")
    args = parser.parse_args()
    if args.folds_only:
        rating_speed_folds()
        if not args.no_write:
            write_results()
        return
    if args.topn_only or args.speed_only:
        (topn_new_users if args.topn_only else speed)()
        if not args.no_write:
            write_results()
        return
    base, _ = load_fold("u1", DATA)
    train, held = hold_out(base, 100, 40, seed=0)
    users = list(held)
    test = {u: held[u] for u in users[:50]}
    valid = {u: held[u] for u in users[50:]}
    biases = Biases().fit(train)
    val_scores = {lam: np.mean([baseline_rmse(biases, base, valid, n, lam) for n in GIVEN])
                  for lam in SHRINKAGE_GRID}
    lam = min(val_scores, key=lambda k: val_scores[k])
    load = os.getloadavg()
    say("### Fold-in of new users (ML-100K u1.base; 50 held-out test users, 50 validation "
        "users)")
    say()
    say(f"Scored: {sum(len(p) - max(GIVEN) for p in test.values())} ratings (each test "
        f"user's ratings after the 20th of a shuffled order). Baseline shrinkage λ={lam:g} "
        "chosen on the validation users (mean RMSE over n=5/10/20: "
        + ", ".join(f"{k:g}: {v:.4f}" for k, v in val_scores.items()) + ").")
    say()
    header = "| model | " + " | ".join(f"fold-in {n}" for n in GIVEN)
    header += " | " + " | ".join(f"retrain {n}" for n in (GIVEN[-1:] if args.quick else GIVEN))
    header += " | fold-in 20 − retrain 20 | validation fold-in (5/10/20) | fit s |"
    say(header)
    say("|" + "---|" * (header.count("|") - 1))
    base_row = [baseline_rmse(biases, base, test, n, lam) for n in GIVEN]
    say(f"| shrunk user-bias baseline (λ={lam:g}) | "
        + " | ".join(f"{v:.4f}" for v in base_row)
        + " | – " * (len(GIVEN[-1:] if args.quick else GIVEN) + 3) + "|")
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    for label, factory in models().items():
        if only and not any(label.startswith(o) for o in only):
            continue
        start = time.perf_counter()
        model = factory().fit(train)
        fit_s = time.perf_counter() - start
        folded = [fold_in_rmse(model, base, test, n) for n in GIVEN]
        val = [fold_in_rmse(model, base, valid, n) for n in GIVEN]
        again = [retrain_rmse(factory, train, base, test, n)
                 for n in (GIVEN[-1:] if args.quick else GIVEN)]
        marks = ["**" if f < b else "" for f, b in zip(folded, base_row, strict=True)]
        say(f"| {label} | " + " | ".join(f"{m}{f:.4f}{m}" for f, m in
                                         zip(folded, marks, strict=True))
            + " | " + " | ".join(f"{v:.4f}" for v in again)
            + f" | {folded[-1] - again[-1]:+.4f} | " + "/".join(f"{v:.4f}" for v in val)
            + f" | {fit_s:.1f} |")
    say()
    say(f"Bold: below the baseline. Load average at the start {load[0]:.2f} "
        f"(`uptime`: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
        ").")
    say()
    topn_new_users()
    speed()
    if not args.no_write:
        write_results()


def write_results() -> None:
    """Each ``### title`` part printed becomes (or replaces) the ``## title`` section of
    RESULTS.md, so a partial run (``--topn-only``) leaves the other sections alone."""
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    parts: list[list[str]] = []
    for line in LINES:
        if line.startswith("### "):
            parts.append(["## " + line[4:]])
        elif parts:
            parts[-1].append(line)
    for part in parts:
        marker = part[0]
        section = "\n".join(part).rstrip() + "\n"
        if marker + "\n" in text:
            head, _, rest = text.partition(marker + "\n")
            nxt = rest.find("\n## ")
            tail = rest[nxt + 1:] if nxt >= 0 else ""
            text = head + section + ("\n" + tail if tail else "")
        else:
            text = text.rstrip() + "\n\n" + section
    path.write_text(text)

if __name__ == "__main__":
    main()
