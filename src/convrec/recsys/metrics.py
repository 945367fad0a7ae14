"""Accuracy and ranking metrics, each defined in one line of maths.

Ranking metrics take ``ranked (m, k)``, each user's top-``k`` item indices in order, and
``relevant``, each user's held-out items. Per-user values come from the ``*_per_user``
functions (for paired bootstraps); the plain functions return their mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "catalog_coverage",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "ndcg_at_k",
    "paired_bootstrap",
    "precision_at_k",
    "ranking_per_user",
    "recall_at_k",
    "rmse",
]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"y_true and y_pred must be non-empty 1-D arrays of one length, got "
                         f"shapes {t.shape} and {p.shape}")
    return t, p


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """``sqrt(mean((y − ŷ)²))``."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """``mean(|y − ŷ|)``."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def _hits(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]
          ) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    ranked = np.asarray(ranked)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be (users, k), got shape {ranked.shape}")
    if len(relevant) != ranked.shape[0]:
        raise ValueError(f"relevant has {len(relevant)} users but ranked has {ranked.shape[0]}")
    hits = np.zeros(ranked.shape, dtype=bool)
    n_rel = np.zeros(ranked.shape[0], dtype=np.int64)
    for row, rel in enumerate(relevant):
        rel_arr = np.unique(np.asarray(rel))
        n_rel[row] = len(rel_arr)
        hits[row] = np.isin(ranked[row], rel_arr)
    return hits, n_rel


def ranking_per_user(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]
                     ) -> dict[str, NDArray[np.float64]]:
    """Per-user ``hr, precision, recall, ndcg, map`` at ``k = ranked.shape[1]``.

    * HR@k: 1 if any relevant item is in the top k.
    * Precision@k: hits / k.   Recall@k: hits / |relevant|.
    * NDCG@k: ``Σ_hits 1/log2(pos+2)`` over the ideal ``Σ_{pos < min(|rel|, k)} 1/log2(pos+2)``
      (pos counted from 0).
    * AP@k: ``Σ_{hit at pos} precision@(pos+1) / min(|rel|, k)``; MAP@k is its mean.

    Users with no relevant item get 0 everywhere.
    """
    hits, n_rel = _hits(ranked, relevant)
    k = hits.shape[1]
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    n_hits = hits.sum(axis=1)
    denom_rel = np.maximum(n_rel, 1)
    ideal = np.array([discount[: min(n, k)].sum() for n in n_rel])
    dcg = (hits * discount).sum(axis=1)
    cum = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap = (cum * hits).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)
    return {
        "hr": (n_hits > 0).astype(np.float64),
        "precision": n_hits / k,
        "recall": n_hits / denom_rel,
        "ndcg": np.divide(dcg, ideal, out=np.zeros_like(dcg), where=ideal > 0),
        "map": ap,
    }


def hit_rate_at_k(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]) -> float:
    """Share of users with at least one relevant item in their top k."""
    return float(ranking_per_user(ranked, relevant)["hr"].mean())


def precision_at_k(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]) -> float:
    """Mean over users of hits / k."""
    return float(ranking_per_user(ranked, relevant)["precision"].mean())


def recall_at_k(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]) -> float:
    """Mean over users of hits / |relevant|."""
    return float(ranking_per_user(ranked, relevant)["recall"].mean())


def ndcg_at_k(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]) -> float:
    """Mean over users of DCG@k / ideal DCG@k (binary relevance)."""
    return float(ranking_per_user(ranked, relevant)["ndcg"].mean())


def map_at_k(ranked: NDArray[np.integer], relevant: Sequence[ArrayLike]) -> float:
    """Mean over users of average precision at k."""
    return float(ranking_per_user(ranked, relevant)["map"].mean())


def catalog_coverage(ranked: NDArray[np.integer], n_items: int) -> float:
    """Distinct items recommended to anyone / ``n_items`` (``-1``, "no item", not counted)."""
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    items = np.unique(np.asarray(ranked))
    return float(np.count_nonzero(items >= 0) / n_items)


def paired_bootstrap(a: ArrayLike, b: ArrayLike, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a − b`` over users and a percentile bootstrap interval, resampling users:
    ``(diff, low, high)``."""
    x = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("a and b must be non-empty per-user arrays of one length")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(x.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
