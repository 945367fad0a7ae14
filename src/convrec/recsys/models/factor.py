"""Shared parts of the models that predict ``μ + b_u + b_i + p_u · q_i`` (through a link)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender, rated_item_terms

__all__ = ["FactorModel"]


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return out


class FactorModel(Recommender):
    """A biased factor model. Subclasses set, in ``_fit``:

    ``global_mean_`` (float), ``user_bias_ (n_users,)``, ``item_bias_ (n_items,)``,
    ``user_factors_ (n_users, k)``, ``item_factors_ (n_items, k)``, and optionally
    ``y_range_ = (low, high)``: then predictions are ``low + (high-low)·σ(raw)`` as in
    fastai's ``EmbeddingDotBias``.
    """

    has_factors = True

    global_mean_: float
    user_bias_: NDArray[np.float64]
    item_bias_: NDArray[np.float64]
    user_factors_: NDArray[np.float64]
    item_factors_: NDArray[np.float64]
    y_range_: tuple[float, float] | None = None

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

    def _link_slope(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """``d link / d raw`` (1 without a ``y_range_``)."""
        if self.y_range_ is None:
            return np.ones_like(raw)
        lo, hi = self.y_range_
        sig = _sigmoid(raw)
        out: NDArray[np.float64] = (hi - lo) * sig * (1 - sig)
        return out

    def _user_prior(self) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        """The learned population of users, for fold-in: ``(mean (k+1,), precision
        (k+1, k+1), noise precision)`` of the training users' ``[p_u, b_u]`` (empirical Bayes:
        their mean and covariance; the noise is the training residuals' mean square).
        Computed once from the fitted model and cached."""
        cached = getattr(self, "_prior_cache", None)
        if cached is not None:
            prior: tuple[NDArray[np.float64], NDArray[np.float64], float] = cached
            return prior
        rows = np.flatnonzero(self.user_counts_ > 0)
        W = np.hstack([self.user_factors_[rows], self.user_bias_[rows, None]])
        mean = W.mean(axis=0)
        cov = np.cov(W, rowvar=False).reshape(len(mean), len(mean))
        cov += 1e-6 * max(float(np.trace(cov)) / len(mean), 1e-12) * np.eye(len(mean))
        users = np.repeat(np.arange(len(self.user_ids_)), np.diff(self.seen_indptr_))
        pred = self._predict_known(users, self.seen_items_.astype(np.int64))
        noise = 1.0 / max(float(np.mean((self.seen_ratings_ - pred) ** 2)), 1e-6)
        prior = (mean, np.asarray(np.linalg.inv(cov), dtype=np.float64), noise)
        self._prior_cache = prior
        return prior

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """The MAP ``[p (k,), b_u]`` of a new user under the learned user population
        (:meth:`_user_prior`): ``argmin α Σ_i (r_i − r̂_i)² + (w − m)ᵀ Λ (w − m)``, solved
        exactly for a linear model and by Gauss–Newton steps through a sigmoid ``y_range_``.
        With no ratings it is ``m``, the average training user. Ratings of items without
        training ratings (``values`` longer than ``items``) have ``b_i = 0``, ``q_i = 0``.
        Cost ``O(n k² + k³)``."""
        m, Lam, alpha = self._user_prior()
        k = self.item_factors_.shape[1]
        w = m.copy()
        n = len(values)
        if n == 0:
            return w
        X = np.hstack([rated_item_terms(self.item_factors_, items, n), np.ones((n, 1))])
        offset = self.global_mean_ + rated_item_terms(self.item_bias_, items, n)
        for _ in range(1 if self.y_range_ is None else 8):
            raw = offset + X @ w
            J = X * self._link_slope(raw)[:, None]
            A = Lam + alpha * J.T @ J
            rhs = Lam @ m + alpha * J.T @ (values - self._link(raw) + J @ w)
            w = np.asarray(np.linalg.solve(A, rhs), dtype=np.float64)
        assert w.shape == (k + 1,)
        return w

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        raw = self.global_mean_ + vector[-1] + self.item_bias_ + self.item_factors_ @ vector[:-1]
        return self._link(raw)

    @property
    def n_factors_(self) -> int:
        return int(self.item_factors_.shape[1])
