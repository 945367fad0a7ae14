"""Top-N models on implicit feedback: popularity, EASE (with optional recency weighting),
and implicit ALS with confidence weighting. Each rating counts as one interaction."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender, register_model
from convrec.recsys.ratings import Ratings

__all__ = ["EASE", "ImplicitALS", "Popularity", "ease_item_weights", "ease_scores"]


class _RankingModel(Recommender):
    task = "ranking"
    score_kind = "score"

    def _user_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        """Dense interaction rows ``(len(users), n_items)`` (recency-weighted if set)."""
        return interaction_rows(self, users, getattr(self, "recency_half_life", None))

    def _fit(self, ratings: Ratings) -> None:
        if ratings.timestamps is not None:
            self.seen_age_ = seen_ages(ratings)
        self._fit_ranking(ratings)

    def _fit_ranking(self, ratings: Ratings) -> None:
        raise NotImplementedError

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """An interaction row ``(n_items,)``: 1 for each rated item (dict order = time order
        when ``recency_half_life`` is set: the last entry is the latest)."""
        return interaction_vector(items, len(self.item_ids_),
                                  getattr(self, "recency_half_life", None))


@register_model
class Popularity(_RankingModel):
    """Scores every item by its number of training interactions."""

    def __init__(self) -> None:
        pass

    def _fit_ranking(self, ratings: Ratings) -> None:
        self.popularity_ = self.item_counts_.astype(np.float64)

    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.tile(self.popularity_, (len(users), 1))

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.popularity_.copy()
        return out


@register_model
class EASE(_RankingModel):
    """Steck's EASE (WWW 2019): ``B = I − P / diag(P)``, ``P = (XᵀX + λI)⁻¹``, ``diag(B) = 0``;
    scores ``x_u B``.

    Args:
        lam: L2 strength λ (the reference chose 100 on ML-100K).
        recency_half_life: when set (and ratings have timestamps), the user's row weighs each
            past interaction by ``0.5 ** (age / half_life)``, age 0 being the latest; the item
            model B is unchanged. ``None`` is plain EASE.
        max_items: refuse item counts whose Gram matrix would not fit (dense n_items²).
    """

    def __init__(self, lam: float = 100.0, recency_half_life: float | None = None,
                 max_items: int = 20_000) -> None:
        self.lam = lam
        self.recency_half_life = recency_half_life
        self.max_items = max_items

    def _fit_ranking(self, ratings: Ratings) -> None:
        if not 0 < self.lam < np.inf:  # NaN fails this too
            raise ValueError(f"lam must be > 0 and finite, got lam={self.lam}")
        if self.recency_half_life is not None and self.recency_half_life <= 0:
            raise ValueError(f"recency_half_life must be > 0 or None, got "
                             f"recency_half_life={self.recency_half_life}")
        n = len(self.item_ids_)
        if n > self.max_items:
            raise ValueError(f"EASE needs a dense {n}×{n} Gram matrix; n_items={n} is over "
                             f"max_items={self.max_items}")
        self.item_weights_ = ease_item_weights(ratings, float(self.lam))

    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        rows = self._user_rows(users).astype(np.float32)
        out: NDArray[np.float64] = (rows @ self.item_weights_).astype(np.float64)
        return out

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        return ease_scores(self.item_weights_, vector)

    def item_vectors(self) -> NDArray[np.float64]:
        """Columns of B: items that the same items predict are similar."""
        self._check_fitted()
        return np.asarray(self.item_weights_.T, dtype=np.float64)


@register_model
class ImplicitALS(_RankingModel):
    """Hu, Koren & Volinsky's implicit ALS: preference 1 for each interaction with
    confidence ``1 + alpha``, 0 elsewhere with confidence 1; ridge ``reg``.

    Each half-step solves ``(YᵀY + reg·I + Σ_i alpha·y_i y_iᵀ) x_u = Σ_i (1+alpha) y_i``.

    ``engine="spark"`` fits Spark MLlib's implicit ALS instead (``implicitPrefs``, the same
    confidence model; Spark multiplies ``reg`` by each row's interaction count) on ``master``
    (default: the active session, else ``local[*]``); the factors come back into this model.
    """

    has_factors = True

    def __init__(self, factors: int = 32, reg: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, seed: int = 0, engine: str = "local",
                 master: str | None = None) -> None:
        self.factors = factors
        self.reg = reg
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed
        self.engine = engine
        self.master = master

    def _half(self, indptr: NDArray[np.int64], idx: NDArray[np.int64], Y: NDArray[np.float64],
              n: int) -> NDArray[np.float64]:
        from convrec.recsys._kernels import solve_rows  # numba: loaded to fit, not to serve

        k = Y.shape[1]
        A0 = Y.T @ Y + self.reg * np.eye(k)
        m = len(idx)
        out = np.empty((n, k))
        solve_rows(indptr, idx, np.full(m, self.alpha), np.full(m, 1.0 + self.alpha), Y, A0,
                   np.zeros((n, k)), np.zeros((n, k)), out)
        return out

    def _fit_ranking(self, ratings: Ratings) -> None:
        if self.factors < 1 or self.iterations < 1:
            raise ValueError(f"factors and iterations must be >= 1, got factors={self.factors}, "
                             f"iterations={self.iterations}")
        if self.engine not in ("local", "spark"):
            raise ValueError(f"engine must be one of local, spark, got engine={self.engine!r}")
        if self.engine == "spark":
            from convrec.recsys.spark import fit_spark_als

            self.user_factors_, self.item_factors_ = fit_spark_als(
                ratings, np.ones(len(ratings), dtype=np.float32), factors=self.factors,
                reg=self.reg, iterations=self.iterations, implicit=True, alpha=self.alpha,
                seed=self.seed, master=self.master)
            return
        rng = np.random.default_rng(self.seed)
        up, ui, _ = ratings.csr("user")
        ip, ii, _ = ratings.csr("item")
        Y = rng.normal(0, 0.01, (ratings.n_items, self.factors))
        X = np.zeros((ratings.n_users, self.factors))
        for _ in range(self.iterations):
            X = self._half(up, ui.astype(np.int64), Y, ratings.n_users)
            Y = self._half(ip, ii.astype(np.int64), X, ratings.n_items)
        self.user_factors_ = X
        self.item_factors_ = Y

    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.user_factors_[users] @ self.item_factors_.T
        return out

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        Y = self.item_factors_
        Yi = Y[items]
        A = Y.T @ Y + self.reg * np.eye(Y.shape[1]) + self.alpha * Yi.T @ Yi
        out: NDArray[np.float64] = np.linalg.solve(A, (1.0 + self.alpha) * Yi.sum(axis=0))
        return out

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.item_factors_ @ vector
        return out

    def item_vectors(self) -> NDArray[np.float64]:
        self._check_fitted()
        return np.asarray(self.item_factors_, dtype=np.float64)


def ease_item_weights(ratings: Ratings, lam: float) -> NDArray[np.float32]:
    """Steck's closed form ``B = I − P / diag(P)``, ``P = (XᵀX + λI)⁻¹``, ``diag(B) = 0``, for
    the binary interaction matrix X ``(n_users, n_items)`` of ``ratings``:
    ``(n_items, n_items)`` float32.

    One symmetric positive-definite inversion in float32, in place in one ``n_items²`` buffer
    that becomes B (no other item × item array is made):

    * more users than items: the Gram ``XᵀX + λI`` counted straight into the buffer
      (:func:`~convrec.recsys._kernels.gram_counts`), then LAPACK ``potrf`` + ``potri`` (a
      Cholesky factor and its inverse: ``n³`` flops, a quarter of a float64 LU inverse);
    * fewer users than items (ml-latest-small: 610 users, 9.7k items): the same P by the
      Woodbury identity, ``λP = I − Q`` with ``Q = Xᵀ(XXᵀ + λI)⁻¹X = WᵀW``, ``W = L⁻¹X``
      from the Cholesky factor L of the small ``n_users²`` matrix; λ cancels in ``P/diag(P)``,
      so ``B[i, j] = Q[i, j] / (1 − Q[j, j])``.

    Whichever needs fewer flops is used; both are exact.
    """
    from scipy.linalg import blas, lapack

    from convrec.recsys._kernels import ease_from_inverse, gram_counts

    m, n = ratings.n_users, ratings.n_items
    # duplicates once; the keys are nearly all distinct, where numpy 2.4's np.unique (a hash
    # table) took 0.53 s for 1M of them against 0.055 s for a sort and a mask (RESULTS)
    keys = np.sort(ratings.users.astype(np.int64) * n + ratings.items)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys = keys[first]
    users, items = keys // n, keys % n
    primal_flops = float(n) ** 3
    dual_flops = m**3 / 3 + float(m) ** 2 * n + float(n) ** 2 * m
    if primal_flops <= dual_flops:
        by_item = np.argsort(items, kind="stable")  # keys are sorted by user, then item
        item_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(items, minlength=n), out=item_indptr[1:])
        user_indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=m), out=user_indptr[1:])
        G = np.empty((n, n), dtype=np.float32)
        order = np.random.default_rng(0).permutation(n)
        gram_counts(order, item_indptr, users[by_item], user_indptr, items, float(lam), G)
        # G is symmetric, so its transpose is the same matrix in Fortran order, which LAPACK
        # overwrites in place; LAPACK's upper triangle is then G's lower one
        c, info = lapack.spotrf(G.T, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise ValueError(f"EASE: the Gram matrix is not positive definite (LAPACK "
                             f"info={info}); raise lam (got lam={lam})")
        P, info = lapack.spotri(c, lower=False, overwrite_c=True)
        if info != 0:
            raise ValueError(f"EASE: inverting the Gram matrix failed (LAPACK info={info}); "
                             f"raise lam (got lam={lam})")
        B = np.asarray(P).T
        assert np.shares_memory(B, G)
        ease_from_inverse(B, np.diag(B).copy())
        return B
    X = np.zeros((m, n), dtype=np.float32, order="F")
    X[users, items] = 1.0
    K = blas.ssyrk(1.0, X, lower=True)  # XXᵀ (lower triangle)
    K[np.diag_indices(m)] += np.float32(lam)
    L, info = lapack.spotrf(K, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise ValueError(f"EASE: XXᵀ + λI is not positive definite (LAPACK info={info}); "
                         f"raise lam (got lam={lam})")
    W = blas.strsm(1.0, L, X, lower=True, overwrite_b=True)  # L⁻¹X (m, n), over X
    negQ = blas.ssyrk(-1.0, W, trans=1, lower=False)  # −WᵀW, upper = lower of the C view
    B = np.asarray(negQ).T
    ease_from_inverse(B, 1.0 + np.diag(B))
    return np.ascontiguousarray(B)


def ease_scores(weights: NDArray[np.float32], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x B`` for one interaction row ``x (n_items,)``: only the rows of B that the user
    touched are read (a new user has a handful), never a float64 copy of B."""
    nz = np.flatnonzero(x)
    if len(nz) == 0:
        return np.zeros(weights.shape[1])
    out: NDArray[np.float64] = x[nz] @ weights[nz].astype(np.float64)
    return out


def seen_ages(ratings: Ratings) -> NDArray[np.float64]:
    """Age of each rating in its user's history, in the order of ``ratings.csr("user")``:
    0 for the latest, 1 for the one before (ties: file order). ``(N,)`` float64."""
    assert ratings.timestamps is not None
    order = np.lexsort((np.arange(len(ratings)), ratings.timestamps, ratings.users))
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(ratings), dtype=np.int64)
    rank[order] = np.arange(len(ratings)) - starts[ratings.users[order]]
    age = counts[ratings.users] - 1 - rank
    csr_order = np.lexsort((ratings.items, ratings.users))
    out: NDArray[np.float64] = age[csr_order].astype(np.float64)
    return out


def interaction_rows(model: Recommender, users: NDArray[np.int64], half_life: float | None
                     ) -> NDArray[np.float64]:
    """Dense interaction rows ``(len(users), n_items)`` of training users: 1 per seen item,
    or ``0.5 ** (age / half_life)`` when a half-life is set and the model kept ``seen_age_``."""
    X = np.zeros((len(users), len(model.item_ids_)))
    ages = getattr(model, "seen_age_", None)
    for row, u in enumerate(users):
        lo, hi = model.seen_indptr_[u], model.seen_indptr_[u + 1]
        items = model.seen_items_[lo:hi]
        if half_life and ages is not None:
            X[row, items] = 0.5 ** (ages[lo:hi] / half_life)
        else:
            X[row, items] = 1.0
    return X


def interaction_vector(items: NDArray[np.int64], n_items: int, half_life: float | None
                       ) -> NDArray[np.float64]:
    """A new user's interaction row ``(n_items,)``: 1 per rated item, or recency weights
    ``0.5 ** (age / half_life)`` taking the given order as time order (the last is the latest)."""
    x = np.zeros(n_items)
    if half_life:
        ages = np.arange(len(items))[::-1].astype(np.float64)
        x[items] = 0.5 ** (ages / half_life)
    else:
        x[items] = 1.0
    return x
