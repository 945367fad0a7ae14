"""Item-based k-NN on baseline residuals (Koren's kNNBaseline, as in Surprise)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys._kernels import knn_residuals
from convrec.recsys.base import register_model
from convrec.recsys.models.baselines import Biases, fit_biases
from convrec.recsys.ratings import Ratings

__all__ = ["ItemKNNBaseline"]


@register_model
class ItemKNNBaseline(Biases):
    """``r̂_ui = b_ui + Σ_{j ∈ N_k(i;u)} s_ij (r_uj − b_uj) / Σ s_ij`` over the ``k`` items
    most similar to ``i`` among those ``u`` rated (positive similarities only).

    Similarity: the shrunk Pearson correlation of baseline residuals over co-raters
    (``pearson_baseline``): ``s_ij = (n_ij − 1)/(n_ij − 1 + shrinkage) · ρ_ij``. Dense
    ``(n_items, n_items)``: meant for up to ~20k items.

    ``weight_shrinkage`` adds a constant to the denominator, ``Σ s·res / (Σ s + w)``, so a
    correction that rests on a few weakly similar neighbours is pulled towards the baseline
    (Surprise's KNNBaseline is ``weight_shrinkage=0``). A new user's fold-in uses the same
    formula over the items they rated, around the shrunk user-bias baseline
    (``fold_in_reg``, see :class:`Biases`): with 5 ratings the neighbourhood correction is
    small, so the bias it corrects must be the one that predicts new users best.
    """

    def __init__(self, k: int = 40, min_k: int = 1, shrinkage: float = 100.0,
                 reg_user: float = 15.0, reg_item: float = 10.0, n_epochs: int = 10,
                 weight_shrinkage: float = 1.0, max_items: int = 20_000,
                 fold_in_reg: float = 10.0) -> None:
        super().__init__(reg_user, reg_item, n_epochs, fold_in_reg)
        self.k = k
        self.min_k = min_k
        self.shrinkage = shrinkage
        self.weight_shrinkage = weight_shrinkage
        self.max_items = max_items

    def _fit(self, ratings: Ratings) -> None:
        self._check_shrinkage()
        if ratings.n_items > self.max_items:
            raise ValueError(f"ItemKNNBaseline keeps a dense item×item matrix: {ratings.n_items} "
                             f"items is over max_items={self.max_items}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got k={self.k}")
        if not np.isfinite(self.weight_shrinkage) or self.weight_shrinkage < 0:
            raise ValueError(f"weight_shrinkage must be a finite number >= 0, got "
                             f"weight_shrinkage={self.weight_shrinkage!r}")
        from scipy import sparse

        mu, bu, bi = fit_biases(ratings, self.reg_user, self.reg_item, self.n_epochs)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, bu, bi
        res = ratings.ratings - (mu + bu[ratings.users] + bi[ratings.items])
        shape = (ratings.n_users, ratings.n_items)
        R = sparse.csr_matrix((res, (ratings.users, ratings.items)), shape=shape)
        M = sparse.csr_matrix((np.ones(len(res)), (ratings.users, ratings.items)), shape=shape)
        R2 = R.multiply(R)
        num = (R.T @ R).toarray()
        a = (R2.T @ M).toarray()  # a[i, j] = Σ_{u rated i and j} res_ui²
        n = (M.T @ M).toarray()
        den = np.sqrt(a * a.T)
        S = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        S *= np.maximum(n - 1, 0) / (np.maximum(n - 1, 0) + self.shrinkage)
        np.fill_diagonal(S, 0.0)
        self.similarity_ = S.astype(np.float32)
        self.residuals_ = self._residuals()

    def _residuals(self) -> NDArray[np.float64]:
        users = np.repeat(np.arange(len(self.user_ids_)), np.diff(self.seen_indptr_))
        out: NDArray[np.float64] = self.seen_ratings_ - (
            self.global_mean_ + self.user_bias_[users] + self.item_bias_[self.seen_items_])
        return out

    def _predict_known(self, users: NDArray[np.int64], items: NDArray[np.int64]
                       ) -> NDArray[np.float64]:
        corr: NDArray[np.float64] = knn_residuals(
            users, items, self.seen_indptr_, self.seen_items_.astype(np.int64),
            self.residuals_.astype(np.float64), self.similarity_, self.k, self.min_k,
            float(self.weight_shrinkage))
        return super()._predict_known(users, items) + corr

    def item_vectors(self) -> NDArray[np.float64]:
        """Rows of the similarity matrix (items similar to the same items are similar)."""
        self._check_fitted()
        return np.asarray(self.similarity_, dtype=np.float64)

    def similar_items(self, item: object, n: int = 10) -> list[tuple[object, float]]:
        """The ``n`` items with the highest shrunk Pearson similarity to ``item``."""
        i = self._require_item(item)
        sims = self.similarity_[i].astype(np.float64)
        sims[i] = -np.inf
        sims[self.item_counts_ == 0] = -np.inf
        return [(self.item_ids_[j].item(), float(sims[j])) for j in self._top(sims, n)]

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """``[b_u, then one residual per item (NaN where unrated)]``."""
        resid = self._new_user_residuals(items, values)
        bu = self._fold_in_bias(resid)
        vec = np.full(len(self.item_ids_) + 1, np.nan)
        vec[0] = bu
        vec[1 + items] = resid[:len(items)] - bu  # items without training ratings: no row
        return vec

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        bu, res = vector[0], vector[1:]
        rated = np.flatnonzero(~np.isnan(res))
        base: NDArray[np.float64] = self.global_mean_ + bu + self.item_bias_
        if len(rated) == 0:
            return base
        S = self.similarity_[:, rated].astype(np.float64)
        S[S <= 0] = 0.0
        kk = min(self.k, len(rated))
        if len(rated) > kk:
            cut = np.partition(S, len(rated) - kk, axis=1)[:, len(rated) - kk][:, None]
            S[cut > S] = 0.0
        den = S.sum(axis=1)
        ok = (den > 0) & ((S > 0).sum(axis=1) >= self.min_k)
        corr = np.divide(S @ res[rated], den + self.weight_shrinkage, out=np.zeros_like(den),
                         where=ok)
        out: NDArray[np.float64] = base + corr
        return out
