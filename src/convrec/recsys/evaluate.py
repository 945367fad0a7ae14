"""Evaluation protocols on ML-100K: the official folds and leave-last-out top-N.

Hyper-parameters are chosen on a validation split carved from the training part only
(:func:`validation_split`, :func:`tune`); the test part is used once, to score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convrec.data.movielens import load_movielens, read_ml100k_split
from convrec.recsys._topn import top_n
from convrec.recsys.base import Recommender
from convrec.recsys.metrics import catalog_coverage, mae, ranking_per_user, rmse
from convrec.recsys.ratings import Ratings, leave_last_out_split, random_split
from convrec.settings import Settings, resolve_settings

__all__ = [
    "PROTOCOLS",
    "Row",
    "default_ranking_models",
    "default_rating_models",
    "evaluate_protocol",
    "load_fold",
    "ranking_scores",
    "rating_scores",
    "to_csv",
    "to_markdown",
    "tune",
    "validation_split",
]

PROTOCOLS = ("u1", "folds", "leave-last-out")
Factory = Callable[[], Recommender]


@dataclass
class Row:
    """One line of a comparison table."""

    model: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""


def load_fold(split: str, data_dir: Path | str | None = None, settings: Settings | None = None
              ) -> tuple[Ratings, Ratings]:
    """An official ML-100K split (``u1``..``u5``, ``ua``, ``ub``) as ``(train, test)`` sharing
    the vocabulary of the whole data set (``data_dir``: a notebook's ``--data-dir``)."""
    data = load_movielens("ml-100k", settings=resolve_settings(settings, data_dir))
    users = np.unique(data.ratings.users)
    base, test = read_ml100k_split(data.folder, split)
    return (Ratings.from_raw(base, users, data.movies.ids),
            Ratings.from_raw(test, users, data.movies.ids))


def validation_split(train: Ratings, fraction: float = 0.1, seed: int = 42
                     ) -> tuple[Ratings, Ratings]:
    """A random validation slice of the training ratings (never the test fold)."""
    return random_split(train, fraction, seed=seed)


def rating_scores(model: Recommender, train: Ratings, test: Ratings) -> dict[str, float]:
    """Fit on ``train``, score ``test``: RMSE, MAE, fit and predict seconds."""
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred, _ = model.predict_index(test.users, test.items)
    predict_s = time.perf_counter() - start
    return {"rmse": rmse(test.ratings, pred), "mae": mae(test.ratings, pred), "fit_s": fit_s,
            "predict_s": predict_s}


def ranking_scores(model: Recommender, train: Ratings, test: Ratings, k: int = 10,
                   fit: bool = True) -> tuple[dict[str, float], dict[str, NDArray[np.float64]]]:
    """Full-ranking top-``k`` on held-out items (seen items excluded, ties to the lower index):
    means and per-user arrays (``hr, precision, recall, ndcg, map``)."""
    start = time.perf_counter()
    if fit:
        model.fit(train)
    fit_s = time.perf_counter() - start
    users = np.unique(test.users).astype(np.int64)
    relevant = [test.items[test.users == u] for u in users]
    start = time.perf_counter()
    ranked = np.full((len(users), min(k, len(model.item_ids_))), -1, dtype=np.int64)
    for lo in range(0, len(users), 256):
        scores = model.score_users(users[lo:lo + 256])
        ranked[lo:lo + len(scores)] = top_n(scores, k)  # the one top-N routine
    predict_s = time.perf_counter() - start
    per = ranking_per_user(ranked, relevant)
    means = {f"{name}@{k}": float(v.mean()) for name, v in per.items()}
    means["coverage"] = catalog_coverage(ranked, len(model.item_ids_))
    means["fit_s"] = fit_s
    means["predict_s"] = predict_s
    return means, per


def tune(factories: dict[str, Factory], train: Ratings, task: str = "rating"
         ) -> tuple[str, dict[str, float]]:
    """Pick the best factory on a validation split of ``train``: RMSE on a random 10% slice
    (rating) or NDCG@10 on each user's last training item (ranking). Returns the winner's
    name and every candidate's validation score."""
    if task == "rating":
        fit_part, val = validation_split(train)
        scores = {n: rating_scores(f(), fit_part, val)["rmse"] for n, f in factories.items()}
        return min(scores, key=lambda n: scores[n]), scores
    fit_part, val = leave_last_out_split(train)
    scores = {n: ranking_scores(f(), fit_part, val)[0]["ndcg@10"] for n, f in factories.items()}
    return max(scores, key=lambda n: scores[n]), scores


def _compared(task: str, heavy: bool) -> dict[str, Factory]:
    from convrec.recsys.registry import MODELS

    def factory(spec: Any) -> Factory:
        return lambda: spec.create()

    return {spec.label: factory(spec) for spec in MODELS.values()
            if spec.compare == task and (heavy or not spec.heavy)}


def default_rating_models(torch: bool = False) -> dict[str, Factory]:
    """The rating models compared by ``convrec movies evaluate`` (the model registry's entries
    with ``compare="rating"``, labelled by the registry; torch's on request)."""
    return _compared("rating", torch)


def default_ranking_models() -> dict[str, Factory]:
    """The top-N models compared under leave-last-out (``compare="ranking"`` entries)."""
    return _compared("ranking", False)


def evaluate_protocol(protocol: str, data_dir: Path | str | None = None,
                      settings: Settings | None = None, torch: bool = False,
                      on_progress: Callable[[str], None] | None = None,
                      dataset: str = "ml-100k") -> list[Row]:
    """Run a protocol over its default models and return table rows.

    * ``u1``: fit on u1.base, score u1.test (ML-100K's official split).
    * ``folds``: mean over u1..u5 (ML-100K's five disjoint official test folds).
    * ``leave-last-out``: each user's latest rating is the test item; full ranking; any
      release (``dataset``).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol in ("u1", "folds") and dataset != "ml-100k":
        raise ValueError(f"--protocol {protocol} uses ML-100K's official splits, so it needs "
                         f"--dataset ml-100k, got {dataset!r}; use --protocol leave-last-out "
                         f"for {dataset}")
    settings = resolve_settings(settings, data_dir)  # the one place data_dir= is folded in
    say = on_progress or (lambda _m: None)
    rows: list[Row] = []
    if protocol in ("u1", "folds"):
        splits: Sequence[str] = ("u1",) if protocol == "u1" else ("u1", "u2", "u3", "u4", "u5")
        folds = [load_fold(s, settings=settings) for s in splits]
        for name, factory in default_rating_models(torch).items():
            say(name)
            per_fold = [rating_scores(factory(), tr, te) for tr, te in folds]
            metrics = {key: float(np.mean([p[key] for p in per_fold])) for key in per_fold[0]}
            if len(per_fold) > 1:
                metrics["rmse_sd"] = float(np.std([p["rmse"] for p in per_fold], ddof=1))
            rows.append(Row(name, metrics))
        return rows
    data = load_movielens(dataset, settings=settings)
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    train, test = leave_last_out_split(ratings)
    for name, factory in default_ranking_models().items():
        say(name)
        rows.append(Row(name, ranking_scores(factory(), train, test)[0]))
    return rows


def _columns(rows: Sequence[Row]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        cols += [c for c in row.metrics if c not in cols]
    return cols


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 10 else f"{value:.4f}"
    return str(value)


def to_markdown(rows: Sequence[Row]) -> str:
    """A markdown table of the rows (one column per metric)."""
    cols = _columns(rows)
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for row in rows:
        cells = [_fmt(row.metrics[c]) if c in row.metrics else "–" for c in cols]
        lines.append(f"| {row.model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_csv(rows: Sequence[Row]) -> str:
    """The same table as CSV."""
    import csv
    import io

    cols = _columns(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["model", *cols])
    for row in rows:
        writer.writerow([row.model, *(f"{row.metrics[c]:.6g}" if c in row.metrics else ""
                                      for c in cols)])
    return buf.getvalue()
