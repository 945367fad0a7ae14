"""The default recommender: ranks with EASE (with recency), rates with Bayesian MF.

Predicted ratings rank items badly (on ML-100K leave-last-out BayesianMF's HR@10 is below
popularity's, while EASE with recency weighting is several times better), and EASE's scores
are not ratings. So this model keeps both, fitted on the same ratings:

* ranking (``recommend``, ``recommend_vector``, evaluation's ``score_users``): EASE's
  ``x·B``, where a new user's ``x`` is their interaction row (EASE folds in natively), times a
  support factor ``n_i / (n_i + support_shrinkage)`` so that items with a handful of ratings
  do not float up (``support_shrinkage=0`` switches it off). A user with no ratings gets the
  most-rated items.
* ratings (``predict``, ``predict_vector``, ``Recommendation.rating``): Bayesian MF, whose
  fold-in is its own posterior; ``similar_items`` uses its item factors.

``Recommendation.score`` is the ranking score (``kind="score"``); ``rating`` is the predicted
rating to show.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import register_model
from convrec.recsys.models.bayes import BayesianMF
from convrec.recsys.models.factor import FactorModel
from convrec.recsys.models.topn import (
    ease_item_weights,
    ease_scores,
    interaction_rows,
    interaction_vector,
    seen_ages,
)
from convrec.recsys.ratings import Ratings

__all__ = ["Hybrid"]


@register_model
class Hybrid(BayesianMF):
    """EASE + recency for the ranking, Bayesian MF for the ratings shown.

    Args:
        lam: EASE's L2 strength λ.
        recency_half_life: weight of a past interaction ``0.5 ** (age / half_life)`` in the
            user's row (``None``: plain EASE).
        support_shrinkage: ranking scores times ``n_i / (n_i + support_shrinkage)``; 0 is off.
        n_factors, n_samples, burn_in, implicit, max_side, thin, seed, progress: of the
            :class:`BayesianMF` rating model.
    """

    score_kind = "score"
    has_factors = False  # the ranking is not item_bias + P Qᵀ (recommend-all must not assume it)

    def __init__(self, lam: float = 300.0, recency_half_life: float | None = 10.0,
                 support_shrinkage: float = 2.0, n_factors: int = 10, n_samples: int = 24,
                 burn_in: int = 6, implicit: bool = True, max_side: int = 10_000,
                 thin: int = 1, seed: int = 0, progress: bool = False) -> None:
        super().__init__(n_factors=n_factors, n_samples=n_samples, burn_in=burn_in,
                         implicit=implicit, max_side=max_side, thin=thin, seed=seed,
                         progress=progress)
        self.lam = lam
        self.recency_half_life = recency_half_life
        self.support_shrinkage = support_shrinkage

    def _fit(self, ratings: Ratings) -> None:
        for name in ("lam", "support_shrinkage"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
        if self.lam <= 0:
            raise ValueError(f"lam must be > 0, got lam={self.lam}")
        if self.recency_half_life is not None and not self.recency_half_life > 0:
            raise ValueError(f"recency_half_life must be > 0 or None, got "
                             f"recency_half_life={self.recency_half_life!r}")
        super()._fit(ratings)
        if ratings.timestamps is not None:
            self.seen_age_ = seen_ages(ratings)
        self.item_weights_ = ease_item_weights(ratings, float(self.lam))

    def _support(self) -> NDArray[np.float64]:
        """``n_i / (n_i + support_shrinkage)`` ``(n_items,)`` (ones when off), computed once
        per value of ``support_shrinkage`` (``set_params`` may change it without a refit)."""
        cached: tuple[float, NDArray[np.float64]] | None = getattr(self, "_support_cache", None)
        if cached is not None and cached[0] == self.support_shrinkage:
            return cached[1]
        n = self.item_counts_.astype(np.float64)
        if not self.support_shrinkage:
            out: NDArray[np.float64] = np.ones_like(n)
        else:
            out = n / (n + float(self.support_shrinkage))
        self._support_cache = (self.support_shrinkage, out)
        return out

    # --- ranking --------------------------------------------------------------------------
    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        rows = interaction_rows(self, users, self.recency_half_life).astype(np.float32)
        out: NDArray[np.float64] = (rows @ self.item_weights_).astype(np.float64)
        return out * self._support()

    def _rank_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        x = vector[self._rating_width():]
        if not x.any():  # no ratings: the most-rated items
            return self.item_counts_.astype(np.float64)
        out: NDArray[np.float64] = ease_scores(self.item_weights_, x) * self._support()
        return out

    def _rated_for(self, top: NDArray[np.int64], user_row: int = -1,
                   vector: NDArray[np.float64] | None = None) -> NDArray[np.float64] | None:
        if vector is not None:  # only the shown items: n_items × k·S would cost milliseconds
            w = vector[:self._rating_width()]
            raw = (self.global_mean_ + w[-1] + self.item_bias_[top]
                   + self.item_factors_[top] @ w[:-1])
            out: NDArray[np.float64] = np.clip(self._link(raw), *self.rating_range_)
            return out
        return self.predict_index(np.full(len(top), user_row), top)[0]

    # --- ratings (Bayesian MF) ------------------------------------------------------------
    def _rating_width(self) -> int:
        return int(self.item_factors_.shape[1]) + 1

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """``[Bayesian MF posterior vector (k·S + 1,), interaction row (n_items,)]``."""
        return np.concatenate([super()._fold_in(items, values),
                               interaction_vector(items, len(self.item_ids_),
                                                  self.recency_half_life)])

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        return FactorModel._score_vector(self, vector[:self._rating_width()])
