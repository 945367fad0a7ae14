"""Movie recommender benchmark on ML-100K, in one run.

1. Rating accuracy on the official folds (u1, and the mean of u1..u5): our models against
   scikit-surprise (SVD default and tuned as in recommender-anchors.md, SVD++, KNNBaseline).
   Our BayesianMF's n_factors is chosen on a 10% validation slice of each fold's *base* file.
2. Top-N under leave-last-out with full ranking: popularity, implicit ALS (the `implicit`
   library and ours), EASE, and EASE with recency weighting (λ and half-life chosen on each
   user's second-to-last item); paired bootstrap intervals on the differences from EASE.
3. Fold-in latency for new users.

Run: ``CONVREC_DATA=../shared/data flock /tmp/convrec-heavy.lock .venv/bin/python
benchmarks/bench_movies.py`` (writes the "Movie recommender" section of RESULTS.md).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit asks for single-threaded BLAS

import numpy as np

from convrec.data.movielens import load_movielens
from convrec.recsys import (
    EASE,
    BayesianMF,
    Biases,
    GlobalMean,
    ImplicitALS,
    ItemKNNBaseline,
    Popularity,
    Ratings,
    leave_last_out_split,
)
from convrec.recsys.evaluate import load_fold, ranking_scores, rating_scores, tune
from convrec.recsys.metrics import paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CONVREC_DATA") or ROOT.parent / "shared" / "data")
FOLDS = ("u1", "u2", "u3", "u4", "u5")
LINES: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    LINES.append(text)


def surprise_models() -> dict[str, Any]:
    try:
        import surprise as sp
    except ImportError:
        return {}
    return {
        "surprise SVD (default)": lambda: sp.SVD(random_state=0),
        "surprise SVD (tuned: 200 f, 60 ep, lr .007, reg .1)": lambda: sp.SVD(
            n_factors=200, n_epochs=60, lr_all=0.007, reg_all=0.1, random_state=0),
        "surprise SVD++ (default)": lambda: sp.SVDpp(random_state=0),
        "surprise KNNBaseline (item, pearson_baseline)": lambda: sp.KNNBaseline(
            sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False),
    }


def surprise_fold(factory: Any, fold: str) -> dict[str, float]:
    import surprise as sp

    reader = sp.Reader("ml-100k")
    folder = DATA / "ml-100k"
    data = sp.Dataset.load_from_folds([(str(folder / f"{fold}.base"),
                                        str(folder / f"{fold}.test"))], reader)
    trainset, testset = next(iter(sp.model_selection.PredefinedKFold().split(data)))
    algo = factory()
    start = time.perf_counter()
    algo.fit(trainset)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    preds = algo.test(testset)
    predict_s = time.perf_counter() - start
    err = np.array([p.r_ui - p.est for p in preds])
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "fit_s": fit_s, "predict_s": predict_s}


def rating_benchmark() -> None:
    say("### Rating accuracy, official ML-100K folds (RMSE; fit/predict seconds per fold)")
    say()
    results: dict[str, list[dict[str, float]]] = {}
    chosen: list[str] = []
    for fold in FOLDS:
        train, test = load_fold(fold, DATA)
        start = time.perf_counter()
        grid = {str(k): (lambda k=k: BayesianMF(n_factors=k)) for k in (5, 10, 20)}
        best, scores = tune(grid, train)  # validation slice of the base file only
        val = ", ".join(f"k={k} {v:.4f}" for k, v in scores.items())
        chosen.append(f"{fold}: k={best} (val RMSE {val}; {time.perf_counter() - start:.1f} s)")
        ours = {
            "global mean": GlobalMean(),
            "biases (ALS baselines)": Biases(),
            "item-kNN baseline (ours)": ItemKNNBaseline(),
            "**Bayesian MF + implicit side terms (ours)**": BayesianMF(n_factors=int(best)),
        }
        for name, model in ours.items():
            results.setdefault(name, []).append(rating_scores(model, train, test))
        for name, factory in surprise_models().items():
            results.setdefault(name, []).append(surprise_fold(factory, fold))
        if fold == "u1":
            from convrec.recsys.models.torch_mf import EmbeddingDotBias

            results["fastai EmbeddingDotBias recipe (ours, PyTorch; u1 only)"] = [
                rating_scores(EmbeddingDotBias(), train, test)]
        print(f"  {fold} done", flush=True)
    say("| model | u1 RMSE | u1 MAE | u1 fit s | u1 predict s (20k) | u1–u5 mean RMSE | sd | "
        "per fold | mean MAE |")
    say("|---|---|---|---|---|---|---|---|---|")
    for name, rows in results.items():
        u1 = rows[0]
        if len(rows) == len(FOLDS):
            r = [x["rmse"] for x in rows]
            tail = (f"{np.mean(r):.4f} | {np.std(r, ddof=1):.4f} | "
                    + " ".join(f"{v:.4f}" for v in r)
                    + f" | {np.mean([x['mae'] for x in rows]):.4f}")
        else:
            tail = "– | – | – | –"
        say(f"| {name} | {u1['rmse']:.4f} | {u1['mae']:.4f} | {u1['fit_s']:.2f} | "
            f"{u1['predict_s']:.3f} | {tail} |")
    say()
    say("BayesianMF n_factors chosen on a random 10% slice of each fold's base file "
        "(defaults otherwise: 100 samples after 20 burn-in sweeps):")
    for line in chosen:
        say(f"- {line}")
    say()


def implicit_als(factors: int, reg: float, alpha: float) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(factors=factors, regularization=reg, alpha=alpha,
                                   iterations=15, random_state=0)


def implicit_scores(model: Any, train: Ratings, test: Ratings, k: int = 10
                    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    from scipy import sparse

    from convrec.recsys.metrics import ranking_per_user

    X = sparse.csr_matrix((np.ones(len(train)), (train.users, train.items)),
                          shape=(train.n_users, train.n_items))
    start = time.perf_counter()
    model.fit(X, show_progress=False)
    fit_s = time.perf_counter() - start
    users = np.unique(test.users)
    ids, _ = model.recommend(users, X[users], N=k, filter_already_liked_items=True)
    per = ranking_per_user(np.asarray(ids), [test.items[test.users == u] for u in users])
    out = {f"{n}@{k}": float(v.mean()) for n, v in per.items()}
    out["fit_s"] = fit_s
    return out, per


def ranking_benchmark() -> None:
    say("### Top-N, leave-last-out (each user's latest rating held out; full ranking over "
        "1,682 items; seen items excluded)")
    say()
    data = load_movielens("ml-100k", data_dir=DATA)
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    train, test = leave_last_out_split(ratings)
    start = time.perf_counter()
    grid = {f"λ={lam:g}, half-life={h}": (lambda lam=lam, h=h: EASE(lam=lam, recency_half_life=h))
            for lam in (100.0, 300.0, 1000.0) for h in (None, 3.0, 10.0, 30.0)}
    best, val = tune(grid, train, task="ranking")  # validation: each user's 2nd-to-last item
    tune_s = time.perf_counter() - start
    runs: dict[str, tuple[dict[str, float], dict[str, np.ndarray]]] = {
        "popularity": ranking_scores(Popularity(), train, test),
        "EASE λ=100 (reference setting)": ranking_scores(EASE(lam=100.0), train, test),
        "implicit ALS (ours, 32 f, reg .01, α 1)": ranking_scores(ImplicitALS(), train, test),
    }
    try:
        runs["implicit library ALS (defaults: 100 f, reg .01, α 1)"] = implicit_scores(
            implicit_als(100, 0.01, 1.0), train, test)
        runs["implicit library ALS (reference-tuned: 32 f, reg .01, α 1)"] = implicit_scores(
            implicit_als(32, 0.01, 1.0), train, test)
    except ImportError:
        say("(implicit not installed: library ALS rows skipped)")
    winner = grid[best]()
    name = f"**EASE + recency (ours; validation chose {best})**"
    runs[name] = ranking_scores(winner, train, test)
    say("| model | HR@10 | NDCG@10 | Recall@10 | Precision@10 | MAP@10 | coverage | fit s |")
    say("|---|---|---|---|---|---|---|---|")
    for label, (m, _) in runs.items():
        say(f"| {label} | {m['hr@10']:.4f} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | "
            f"{m['precision@10']:.4f} | {m['map@10']:.4f} | {m.get('coverage', float('nan')):.3f}"
            f" | {m['fit_s']:.2f} |")
    say()
    base = runs["EASE λ=100 (reference setting)"][1]
    ours = runs[name][1]
    for metric in ("hr", "ndcg"):
        d, lo, hi = paired_bootstrap(ours[metric], base[metric], n_boot=5000, seed=0)
        say(f"- paired bootstrap over {len(ours[metric])} users (5,000 resamples), "
            f"{metric.upper()}@10 ours − EASE: {d:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}]")
    say(f"- validation grid ({len(grid)} EASE fits, {tune_s:.1f} s), NDCG@10 on the "
        "second-to-last item: " + ", ".join(f"{k}: {v:.4f}" for k, v in val.items()))
    say()


def fold_in_benchmark() -> None:
    say("### Fold-in: recommendations for a brand-new user (no retraining)")
    say()
    train, test = load_fold("u1", DATA)
    model = BayesianMF().fit(train)
    rng = np.random.default_rng(0)
    users = rng.choice(np.unique(test.users), 100, replace=False)
    times_fold, times_rec = [], []
    err_fold, err_full = [], []
    for u in users:
        lo, hi = model.seen_indptr_[u], model.seen_indptr_[u + 1]
        pick = rng.choice(np.arange(lo, hi), min(10, hi - lo), replace=False)
        profile = {int(model.item_ids_[model.seen_items_[t]]): float(model.seen_ratings_[t])
                   for t in pick}
        start = time.perf_counter()
        vec = model.fold_in(profile)
        mid = time.perf_counter()
        model.recommend_vector(vec, 10, exclude=profile, rated=profile)
        end = time.perf_counter()
        times_fold.append((mid - start) * 1e3)
        times_rec.append((end - start) * 1e3)
        mask = test.users == u
        scores = model.predict_vector(vec)
        err_fold += list(np.clip(scores[test.items[mask]], 1, 5) - test.ratings[mask])
        full, _ = model.predict_index(test.users[mask], test.items[mask])
        err_full += list(full - test.ratings[mask])
    say(f"- 100 u1 users, 10 of their u1.base ratings each, BayesianMF trained on u1.base: "
        f"fold_in median {np.median(times_fold):.2f} ms (p95 {np.percentile(times_fold, 95):.2f}"
        f" ms); fold_in + top-10 with explanations median {np.median(times_rec):.2f} ms (p95 "
        f"{np.percentile(times_rec, 95):.2f} ms)")
    say(f"- their u1.test RMSE from the 10 folded-in ratings: "
        f"{np.sqrt(np.mean(np.square(err_fold))):.4f} (the full model, which saw all their "
        f"u1.base ratings: {np.sqrt(np.mean(np.square(err_full))):.4f})")
    say()


def write_results() -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = "## Movie recommender (ML-100K)\n\n" + "\n".join(LINES).rstrip() + "\n"
    marker = "## Movie recommender (ML-100K)"
    if marker in text:
        head, _, rest = text.partition(marker)
        nxt = rest.find("\n## ")
        tail = rest[nxt + 1:] if nxt >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


def main() -> None:
    import numba

    say(f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
        f"numba {numba.__version__}; one heavy job at a time (flock). Command: "
        "`CONVREC_DATA=../shared/data flock /tmp/convrec-heavy.lock .venv/bin/python "
        "benchmarks/bench_movies.py`. Our fit times include numba's cached-kernel load.")
    try:
        import surprise

        say(f"scikit-surprise {surprise.__version__} run in the same process on the same files.")
    except ImportError:
        say("scikit-surprise is not installed: its rows are missing (see recommender-anchors.md).")
    say()
    start = time.perf_counter()
    BayesianMF(n_factors=2, n_samples=2, burn_in=0).fit(load_fold("u1", DATA)[0])  # JIT warm-up
    rating_benchmark()
    ranking_benchmark()
    fold_in_benchmark()
    say(f"Whole run: {time.perf_counter() - start:.0f} s.")
    write_results()


if __name__ == "__main__":
    sys.exit(main())
