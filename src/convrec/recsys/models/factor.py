"""Shared parts of the models that predict ``μ + b_u + b_i + p_u · q_i`` (through a link)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender

__all__ = ["FactorModel"]


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


class FactorModel(Recommender):
    """A biased factor model. Subclasses set, in ``_fit``:

    ``global_mean_`` (float), ``user_bias_ (n_users,)``, ``item_bias_ (n_items,)``,
    ``user_factors_ (n_users, k)``, ``item_factors_ (n_items, k)``, and optionally
    ``y_range_ = (low, high)``: then predictions are ``low + (high-low)·σ(raw)`` as in
    fastai's ``EmbeddingDotBias``. ``fold_in_reg_`` is the ridge strength of :meth:`fold_in`.
    """

    global_mean_: float
    user_bias_: NDArray[np.float64]
    item_bias_: NDArray[np.float64]
    user_factors_: NDArray[np.float64]
    item_factors_: NDArray[np.float64]
    y_range_: tuple[float, float] | None = None
    fold_in_reg_: float = 5.0

    def _raw(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float64]:
        dots = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        raw: NDArray[np.float64] = (self.global_mean_ + self.user_bias_[users]
                                    + self.item_bias_[items] + dots)
        return raw

    def _link(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.y_range_ is None:
            return raw
        lo, hi = self.y_range_
        return lo + (hi - lo) * _sigmoid(raw)

    def _unlink(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.y_range_ is None:
            return values
        lo, hi = self.y_range_
        p = np.clip((values - lo) / (hi - lo), 1e-3, 1 - 1e-3)
        out: NDArray[np.float64] = np.log(p / (1 - p))
        return out

    def _predict_known(self, users: NDArray[np.int64], items: NDArray[np.int64]
                       ) -> NDArray[np.float64]:
        return self._link(self._raw(users, items))

    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        raw = (self.global_mean_ + self.user_bias_[users][:, None] + self.item_bias_[None, :]
               + self.user_factors_[users] @ self.item_factors_.T)
        return self._link(raw)

    def item_vectors(self) -> NDArray[np.float64]:
        """Item factors ``(n_items, k)`` (cosine similarity as in fastai's book)."""
        self._check_fitted()
        return np.asarray(self.item_factors_, dtype=np.float64)

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """Ridge regression of the user's (unlinked) residuals on ``[q_i, 1]``: returns
        ``[p (k,), b_u]``. Cost ``O(n k² + k³)``: well under a millisecond for k ≤ 100."""
        k = self.item_factors_.shape[1]
        if len(items) == 0:
            return np.zeros(k + 1)
        basis = getattr(self, "fold_basis_", None)  # (k, r): solve in r dims when k is large
        Qi = self.item_factors_[items] if basis is None else self.item_factors_[items] @ basis
        r = Qi.shape[1]
        X = np.hstack([Qi, np.ones((len(items), 1))])
        y = self._unlink(values) - self.global_mean_ - self.item_bias_[items]
        A = X.T @ X + self.fold_in_reg_ * np.eye(r + 1)
        w = np.linalg.solve(A, X.T @ y)
        p = w[:r] if basis is None else basis @ w[:r]
        return np.concatenate([p, w[r:]]).astype(np.float64)

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        raw = self.global_mean_ + vector[-1] + self.item_bias_ + self.item_factors_ @ vector[:-1]
        return self._link(raw)

    @property
    def n_factors_(self) -> int:
        return int(self.item_factors_.shape[1])
