"""ML-25M-size data on one machine: lean loading, batched top-N for all users, synthetic data.

* :func:`load_ratings` reads a ratings file through the one ratings reader
  (:func:`convrec.data.ratings.read_ratings_file`: delimited text or Parquet, int32 ids,
  float32 ratings, no per-rating Python objects) and caches the mapped arrays as one ``.npz``:
  the second load of 25M ratings takes about a second.
* :func:`recommend_all` ranks every item for every user in blocks of users (float32 scores,
  the one top-N kernel of :mod:`convrec.recsys._topn`), so the memory is
  ``batch_size × n_items`` floats whatever the user count.
* :func:`synthetic_ratings` makes an ML-25M-shaped data set (power-law item popularity, a
  heavy-tailed user activity, half-star ratings from a low-rank model) with vectorised numpy
  in seconds, for benchmarks (``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data.ratings import COLUMN_NAMES, read_ratings_file
from convrec.recsys.base import Recommender, concatenated_ranges
from convrec.recsys.ratings import Ratings

__all__ = ["COLUMN_NAMES", "load_ratings", "recommend_all", "synthetic_ratings"]

def load_ratings(path: str | Path, cache_dir: str | Path | None = None) -> Ratings:
    """Read a ratings file (CSV/TSV/``::`` text or Parquet) into :class:`Ratings`.

    Columns are found by header name (:data:`COLUMN_NAMES`: MovieLens' ``userId,movieId,
    rating,timestamp`` or ``user,item,rating``), or by position without a header; ids may be
    integers of any size or strings. Bad lines raise ``file:line: reason``.

    Args:
        path: the file.
        cache_dir: when given, the mapped arrays are saved there as ``.npz`` (keyed by the
            file's path, size and modification time) and read back on the next call.

    Returns:
        The ratings, ids mapped to contiguous indices.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings file not found: {path}")
    cache: Path | None = None
    if cache_dir is not None:
        stat = path.stat()
        key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        cache = Path(cache_dir) / f"{path.stem}-{key.hexdigest()[:16]}.npz"
        if cache.is_file():
            with np.load(cache, allow_pickle=False) as z:
                times = z["timestamps"] if "timestamps" in z.files else None
                return Ratings(z["users"], z["items"], z["ratings"], times, z["user_ids"],
                               z["item_ids"])
    ratings = Ratings.from_raw(read_ratings_file(path))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"users": ratings.users, "items": ratings.items, "ratings": ratings.ratings,
                  "user_ids": ratings.user_ids, "item_ids": ratings.item_ids}
        if ratings.timestamps is not None:
            arrays["timestamps"] = ratings.timestamps
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(cache)
    return ratings


def recommend_all(model: Recommender, n: int = 10, batch_size: int = 1024,
                  exclude_seen: bool = True) -> NDArray[np.int32]:
    """Top-``n`` item indices for every user row: ``(n_users, n)``, best first.

    Factor models (``user_factors_``, ``item_factors_``, optional ``item_bias_``) are scored
    as ``item_bias + P Qᵀ`` in float32, block by block (the user bias and a monotone link do
    not change a user's order); other models use :meth:`Recommender.score_users`. Items
    without training ratings never appear; seen items are skipped when ``exclude_seen``;
    rows with fewer than ``n`` candidates end in ``-1``.

    Args:
        model: a fitted model.
        n: items per user (≥ 1).
        batch_size: users scored at once (memory: ``batch_size × n_items`` float32).
        exclude_seen: skip the user's training items.

    Returns:
        int32 item indices (map them with ``model.item_ids_``).
    """
    from convrec.recsys._kernels import top_n_rows

    model._check_fitted()
    n_items = len(model.item_ids_)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got batch_size={batch_size!r}")
    n = min(n, n_items)
    n_users = len(model.user_ids_)
    out = np.full((n_users, n), -1, dtype=np.int32)
    P: NDArray[np.float64] = getattr(model, "user_factors_", np.zeros((n_users, 0)))
    Q: NDArray[np.float64] = getattr(model, "item_factors_", np.zeros((n_items, 0)))
    # factor models score as item_bias + P Qᵀ (the user bias and the link keep the order)
    factor = model.has_factors and Q.shape[1] > 0
    Qt = np.ascontiguousarray(Q.T, dtype=np.float32)  # (k, n_items)
    bias = np.asarray(getattr(model, "item_bias_", np.zeros(n_items)), dtype=np.float32)
    for lo in range(0, n_users, batch_size):
        hi = min(lo + batch_size, n_users)
        if factor:
            scores = np.asarray(P[lo:hi], dtype=np.float32) @ Qt  # (b, n_items)
            scores += bias
        else:
            scores = model.score_users(np.arange(lo, hi), exclude_seen=False).astype(np.float32)
        model.mask_unrankable(scores, np.arange(lo, hi), exclude_seen)
        top_n_rows(scores, out[lo:hi])  # the one top-N kernel (recsys/_topn.py)
    return out


def synthetic_ratings(n_ratings: int = 25_000_000, n_users: int = 162_000,
                      n_items: int = 59_000, seed: int = 0, rank: int = 8
                      ) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]]:
    """An ML-25M-shaped data set: ``(users, items, ratings)``, one rating per (user, item).

    * item popularity is Zipf-Mandelbrot, ``p(k) ∝ (k + 250)^-1.7`` (item indices shuffled);
    * user activity is ``20 + Lomax(1.5)`` (scale 73), capped at ``min(10_000, n_items/2)``
      and rescaled so that the counts add up to ``n_ratings``;
    * ratings are half-stars in 0.5..5 from ``3.5 + b_u + b_i + p_u·q_i + noise`` (rank
      ``rank``), about mean 3.5 and sd 1.

    Users with more than 1,000 ratings draw their items exactly without replacement
    (Efraimidis-Spirakis keys); the others draw with replacement and redraw repeats until every
    (user, item) pair is unique, so the result has exactly ``n_ratings`` ratings.

    Args:
        n_ratings: total ratings.
        n_users: users (each rates at least 20 items, or ``n_items // 2`` if smaller).
        n_items: items.
        seed: the random seed (the data set is a pure function of the arguments).
        rank: rank of the taste model behind the ratings.

    Returns:
        int32 user indices sorted ascending, int32 item indices, float32 ratings.
    """
    for name, value in (("n_ratings", n_ratings), ("n_users", n_users), ("n_items", n_items),
                        ("rank", rank)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    low = min(20, n_items // 2)
    cap = max(low, min(10_000, n_items // 2))
    if n_ratings < n_users * low or n_ratings > n_users * cap:
        raise ValueError(f"n_ratings={n_ratings} cannot be spread over n_users={n_users} with "
                         f"{low}..{cap} ratings each")
    rng = np.random.default_rng(seed)
    activity = low + rng.pareto(1.5, n_users) * 73.0
    activity = np.minimum(activity, cap)
    counts = np.clip(np.floor(activity * (n_ratings / activity.sum())), low, cap).astype(np.int64)
    while counts.sum() != n_ratings:  # hand out (or take back) the rounding remainder
        diff = n_ratings - int(counts.sum())
        pick = rng.integers(0, n_users, abs(diff))
        np.add.at(counts, pick, 1 if diff > 0 else -1)
        counts = np.clip(counts, low, cap)
    weights = (np.arange(n_items) + 250.0) ** -1.7
    cdf = np.cumsum(weights / weights.sum())
    perm = rng.permutation(n_items).astype(np.int32)
    users = np.repeat(np.arange(n_users, dtype=np.int32), counts)

    def draw(m: int) -> NDArray[np.int32]:
        ranks = np.searchsorted(cdf, rng.random(m) * cdf[-1])
        out: NDArray[np.int32] = perm[np.minimum(ranks, n_items - 1)]
        return out

    starts = np.concatenate([[0], np.cumsum(counts)])
    items = np.empty(len(users), dtype=np.int32)
    # heavy users: exact weighted sampling without replacement (Efraimidis-Spirakis keys)
    heavy = np.flatnonzero(counts > 1000)
    inv_w = 1.0 / weights[np.argsort(perm)]  # 1 / weight of each item index
    for u in heavy:
        m = int(counts[u])
        keys = rng.exponential(size=n_items) * inv_w
        items[starts[u]:starts[u + 1]] = np.argpartition(keys, m - 1)[:m]
    # light users: draw with replacement, then redraw repeats among the users that have any
    light = np.flatnonzero(counts <= 1000)
    rows = concatenated_ranges(starts, light)
    items[rows] = draw(len(rows))
    bad = light
    for _ in range(500):
        rows = concatenated_ranges(starts, bad)
        key = users[rows].astype(np.int64) * n_items + items[rows]
        order = np.argsort(key, kind="stable")
        dup_sorted = np.zeros(len(key), dtype=bool)
        dup_sorted[1:] = key[order[1:]] == key[order[:-1]]
        dups = rows[order[dup_sorted]]
        if len(dups) == 0:
            break
        items[dups] = draw(len(dups))
        bad = np.unique(users[dups])
    scale = np.sqrt(0.5 / np.sqrt(rank))  # so that var(p·q) = 0.25
    P = rng.normal(0, scale, (n_users, rank)).astype(np.float32)
    Q = rng.normal(0, scale, (n_items, rank)).astype(np.float32)
    bu = rng.normal(0, 0.35, n_users).astype(np.float32)
    bi = rng.normal(0, 0.4, n_items).astype(np.float32)
    ratings = np.empty(len(users), dtype=np.float32)
    step = 1 << 20
    for lo in range(0, len(users), step):
        uu, ii = users[lo:lo + step], items[lo:lo + step]
        raw = (3.5 + bu[uu] + bi[ii] + np.einsum("ij,ij->i", P[uu], Q[ii])
               + rng.normal(0, 0.6, len(uu)).astype(np.float32))
        ratings[lo:lo + step] = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    return users, items, ratings
