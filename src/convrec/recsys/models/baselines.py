"""Baselines: the global mean, and regularised user and item biases."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender, rated_item_terms, register_model
from convrec.recsys.ratings import Ratings

__all__ = ["Biases", "GlobalMean"]


@register_model
class GlobalMean(Recommender):
    """Predicts the mean training rating for every pair (the floor any model must beat)."""

    def __init__(self) -> None:
        pass

    def _fit(self, ratings: Ratings) -> None:
        self.global_mean_ = float(ratings.ratings.mean())

    def _predict_known(self, users: NDArray[np.int64], items: NDArray[np.int64]
                       ) -> NDArray[np.float64]:
        return np.full(users.shape, self.global_mean_)


@register_model
class Biases(Recommender):
    """``μ + b_u + b_i`` fitted by alternating ridge steps (Surprise's ALS baselines):

    ``b_i = Σ_u (r_ui − μ − b_u) / (reg_item + n_i)``,
    ``b_u = Σ_i (r_ui − μ − b_i) / (reg_user + n_u)``.

    A brand-new user's fold-in is ``b_u = Σ_i (r_ui − μ − b_i) / (fold_in_reg + n)``, the
    shrunk user-bias baseline, with its own shrinkage: the training ``reg_user`` is fitted
    jointly with the item biases on users with many ratings, while ``fold_in_reg`` is the one
    that predicts best for new users with 5–20 ratings (10, chosen on the validation users of
    ``benchmarks/bench_foldin.py``: 0.9607 against 0.9615 for 15).

    Args:
        reg_user: shrinkage of user biases (Surprise's default 15).
        reg_item: shrinkage of item biases (Surprise's default 10).
        n_epochs: alternations.
        fold_in_reg: shrinkage of a folded-in user's bias.
    """

    global_mean_: float
    user_bias_: NDArray[np.float64]
    item_bias_: NDArray[np.float64]

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_epochs: int = 10,
                 fold_in_reg: float = 10.0) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_epochs = n_epochs
        self.fold_in_reg = fold_in_reg

    def _check_shrinkage(self) -> None:
        if self.reg_user < 0 or self.reg_item < 0:
            raise ValueError(f"reg_user and reg_item must be >= 0, got {self.reg_user}, "
                             f"{self.reg_item}")
        if not np.isfinite(self.fold_in_reg) or self.fold_in_reg < 0:
            raise ValueError(f"fold_in_reg must be a finite number >= 0, got "
                             f"fold_in_reg={self.fold_in_reg!r}")

    def _fit(self, ratings: Ratings) -> None:
        self._check_shrinkage()
        mu, bu, bi = fit_biases(ratings, self.reg_user, self.reg_item, self.n_epochs)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, bu, bi

    def _predict_known(self, users: NDArray[np.int64], items: NDArray[np.int64]
                       ) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (self.global_mean_ + self.user_bias_[users]
                                    + self.item_bias_[items])
        return out

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        return np.array([self._fold_in_bias(self._new_user_residuals(items, values))])

    def _new_user_residuals(self, items: NDArray[np.int64], values: NDArray[np.float64]
                   ) -> NDArray[np.float64]:
        """``r - μ - b_i`` ``(n + m,)`` of a new user's rated item rows ``(n,)`` and ratings
        ``(n + m,)``: the last ``m`` are of items without training ratings (``b_i = 0``)."""
        resid: NDArray[np.float64] = (
            values - self.global_mean_ - rated_item_terms(self.item_bias_, items, len(values)))
        return resid

    def _fold_in_bias(self, resid: NDArray[np.float64]) -> float:
        """A new user's shrunk bias from their ``(n,)`` residuals (:meth:`_new_user_residuals`)."""
        return float(resid.sum() / (self.fold_in_reg + len(resid)))

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.global_mean_ + vector[0] + self.item_bias_
        return out


def fit_biases(ratings: Ratings, reg_user: float, reg_item: float, n_epochs: int
               ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """``(μ, b_u (n_users,), b_i (n_items,))`` by alternating closed-form ridge steps."""
    r = ratings.ratings.astype(np.float64)
    mu = float(r.mean())
    n_u = np.bincount(ratings.users, minlength=ratings.n_users)
    n_i = np.bincount(ratings.items, minlength=ratings.n_items)
    bu = np.zeros(ratings.n_users)
    bi = np.zeros(ratings.n_items)
    for _ in range(max(1, n_epochs)):
        bi = np.bincount(ratings.items, r - mu - bu[ratings.users], ratings.n_items) / (
            reg_item + n_i)
        bu = np.bincount(ratings.users, r - mu - bi[ratings.items], ratings.n_users) / (
            reg_user + n_u)
    return mu, bu, bi
