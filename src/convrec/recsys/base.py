"""The one recommender interface every model implements, and its persistence.

Contract (scikit-learn style): hyper-parameters are the ``__init__`` arguments, stored
unchanged; ``fit(ratings)`` returns ``self``; everything learned ends in ``_``.

Shared behaviour, written once here:

* ``predict(users, items)``: original ids in, :class:`Predictions` out. A user or item with no
  training rating gets an explicit fallback (``fallback=True`` and a reason), never an error.
* ``recommend(user, n)``: top-``n`` original item ids, already-seen items excluded.
* ``similar_items(item, n)``: cosine similarity on the model's item vectors.
* ``fold_in(ratings)``: a vector for a brand-new user from ``{item_id: rating}``, no retraining;
  ``recommend_vector`` ranks items for it.
* ``save(path)`` / ``load(path)``: one ``.npz`` file with a versioned header and a checksum
  (:mod:`convrec.recsys.persistence`), written atomically, read with ``allow_pickle=False``.

Capabilities are class attributes that the registry, the faces and the scale engine read
(never a class name): ``rates`` (predicts ratings on the dataset's scale), ``ranks`` (ranks
items for a user), ``has_factors`` (``user_factors_``/``item_factors_`` score as
``item_bias + P Qᵀ``), ``folds_in`` (takes a brand-new user's ratings without retraining).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.ratings import Ratings, _key

if TYPE_CHECKING:
    from convrec.recsys.persistence import Provenance

__all__ = [
    "NotFittedError",
    "Predictions",
    "Recommendation",
    "Recommender",
    "load_model",
    "rated_item_terms",
    "register_model",
]


class NotFittedError(ValueError):
    """The model was used before ``fit`` (or ``load``)."""


@dataclass(frozen=True)
class Predictions:
    """Predicted ratings for ``(user, item)`` pairs.

    Attributes:
        ratings: ``(N,)`` float64 predictions.
        fallback: ``(N,)`` bool, True where the model could not use its learned parameters.
        reasons: ``N`` strings or None: why a fallback was used.
    """

    ratings: NDArray[np.float64]
    fallback: NDArray[np.bool_]
    reasons: tuple[str | None, ...]


@dataclass(frozen=True)
class Recommendation:
    """One recommended item: original id, score, and the rated items that explain it.

    Attributes:
        item_id: original item id.
        score: what the ranking used. A predicted rating on the training scale when ``kind``
            is ``"rating"``; an unbounded relevance score when ``kind`` is ``"score"`` (EASE,
            implicit ALS, popularity): never show it as a rating.
        because: rated items (original ids) the user rated above their own mean that are
            most similar to this one; empty when none qualifies.
        kind: ``"rating"`` or ``"score"``.
        rating: the predicted rating on the training scale when the model has one (rating
            models: equal to ``score``; a blend: its rating model's prediction), else None.
    """

    item_id: Any
    score: float
    because: tuple[Any, ...] = ()
    kind: str = "rating"
    rating: float | None = None


#: per-model constants derived from the fitted parameters, computed on first use and kept on
#: the instance (a request must not recompute them); ``fit`` drops them
_DERIVED = ("_cf_vectors", "_unit_cache", "_prior_cache", "_never_rated", "_fold_in_cache",
            "_support_cache")

_R = TypeVar("_R", bound="type[Recommender]")


def concatenated_ranges(starts: NDArray[np.int64], which: NDArray[np.int64]) -> NDArray[np.int64]:
    """``concatenate([arange(starts[w], starts[w + 1]) for w in which])`` without the loop:
    the positions of the rows ``which`` of a CSR matrix whose ``indptr`` is ``starts``."""
    lens = starts[which + 1] - starts[which]
    offsets = np.repeat(starts[which] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    out: NDArray[np.int64] = offsets + np.arange(int(lens.sum()))
    return out


def register_model(cls: _R) -> _R:
    """Class decorator: check that a model class has its entry in the model registry (so the
    CLI, evaluation and persistence know it); a class without one fails at import."""
    from convrec.recsys.registry import spec_of

    spec_of(cls)  # raises, naming the registry, for a class without an entry
    return cls


class Recommender:
    """Base class of every model. Subclasses implement ``_fit`` and ``_predict_known``;
    ranking-only models set ``task = "ranking"`` and implement ``_score_rows``."""

    task: ClassVar[str] = "rating"
    #: what ``Recommendation.score`` holds: ``"rating"`` (a predicted rating on the scale) or
    #: ``"score"`` (a relevance score that must not be shown as a rating)
    score_kind: ClassVar[str] = "rating"
    #: capabilities (see the module doc); ``rates`` follows ``task`` unless a class sets it
    rates: ClassVar[bool] = True
    ranks: ClassVar[bool] = True
    has_factors: ClassVar[bool] = False
    folds_in: ClassVar[bool] = True
    #: shrinkage of the fallback biases
    fallback_reg: ClassVar[float] = 10.0

    # fitted attributes shared by every model (set by ``fit`` or ``load``)
    user_ids_: NDArray[Any]
    item_ids_: NDArray[Any]
    user_counts_: NDArray[np.int64]
    item_counts_: NDArray[np.int64]
    seen_indptr_: NDArray[np.int64]
    seen_items_: NDArray[np.int32]
    seen_ratings_: NDArray[np.float32]
    fallback_mean_: float
    fallback_user_bias_: NDArray[np.float64]
    fallback_item_bias_: NDArray[np.float64]
    rating_range_: tuple[float, float]
    fit_seconds_: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rates" not in cls.__dict__:
            cls.rates = cls.task == "rating"

    # --- scikit-learn estimator protocol -------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change hyper-parameters (unknown names raise ``ValueError``)."""
        names = self._param_names()
        for key, value in params.items():
            if key not in names:
                raise ValueError(f"{type(self).__name__} has no parameter {key!r}; "
                                 f"parameters: {', '.join(names)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --- fitting --------------------------------------------------------------------------
    def fit(self, ratings: Ratings) -> Self:
        """Learn from ``ratings`` (users are rows); returns ``self``."""
        if not isinstance(ratings, Ratings):
            raise TypeError(f"fit expects a convrec.recsys.Ratings, got {type(ratings).__name__}")
        if len(ratings) == 0:
            raise ValueError("cannot fit on zero ratings")
        start = time.perf_counter()
        self.user_ids_ = ratings.user_ids
        self.item_ids_ = ratings.item_ids
        self.user_counts_ = np.bincount(ratings.users, minlength=ratings.n_users).astype(np.int64)
        self.item_counts_ = np.bincount(ratings.items, minlength=ratings.n_items).astype(np.int64)
        indptr, items, values = ratings.csr("user")
        self.seen_indptr_ = indptr
        self.seen_items_ = items
        self.seen_ratings_ = values
        r = ratings.ratings.astype(np.float64)
        mu = float(r.mean())
        bi = np.zeros(ratings.n_items)
        bu = np.zeros(ratings.n_users)
        for _ in range(3):
            bi = np.bincount(ratings.items, r - mu - bu[ratings.users], ratings.n_items) / (
                self.fallback_reg + self.item_counts_)
            bu = np.bincount(ratings.users, r - mu - bi[ratings.items], ratings.n_users) / (
                self.fallback_reg + self.user_counts_)
        self.fallback_mean_ = mu
        self.fallback_item_bias_ = bi
        self.fallback_user_bias_ = bu
        self.rating_range_ = (float(r.min()), float(r.max()))
        self._user_lookup: dict[object, int] = {}
        self._item_lookup: dict[object, int] = {}
        for name in _DERIVED:  # constants of the previous fit (a refit must not reuse them)
            self.__dict__.pop(name, None)
        self._fit(ratings)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit(self, ratings: Ratings) -> None:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_ids_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    # --- id maps --------------------------------------------------------------------------
    def user_index(self, user_id: object) -> int:
        """Row of an original user id, -1 when the model never saw it."""
        self._check_fitted()
        if not getattr(self, "_user_lookup", None):
            self._user_lookup = {_key(v): k for k, v in enumerate(self.user_ids_.tolist())}
        return self._user_lookup.get(_key(user_id), -1)

    def item_index(self, item_id: object) -> int:
        """Column of an original item id, -1 when the model never saw it."""
        self._check_fitted()
        if not getattr(self, "_item_lookup", None):
            self._item_lookup = {_key(v): k for k, v in enumerate(self.item_ids_.tolist())}
        return self._item_lookup.get(_key(item_id), -1)

    def _require_item(self, item_id: object) -> int:
        i = self.item_index(item_id)
        if i < 0:
            raise KeyError(f"unknown item id {item_id!r}: the model was trained on "
                           f"{len(self.item_ids_)} items (ids {self.item_ids_[0]!r}..."
                           f"{self.item_ids_[-1]!r})")
        return i

    # --- prediction -----------------------------------------------------------------------
    def _predict_known(self, users: NDArray[np.int64], items: NDArray[np.int64]
                       ) -> NDArray[np.float64]:
        raise NotImplementedError

    def _fallback(self, users: NDArray[np.int64], items: NDArray[np.int64]
                  ) -> NDArray[np.float64]:
        out = np.full(users.shape, self.fallback_mean_)
        ku = users >= 0
        ki = items >= 0
        out[ku] += self.fallback_user_bias_[users[ku]]
        out[ki] += self.fallback_item_bias_[items[ki]]
        return out

    def predict_index(self, users: NDArray[np.integer], items: NDArray[np.integer]
                      ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """Fast path in index space: ``(predictions (N,), fallback (N,))``; index -1 or an index
        without training ratings is unknown. Predictions are clipped to the rating range."""
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        ku = (u >= 0) & (u < len(self.user_ids_))
        ki = (i >= 0) & (i < len(self.item_ids_))
        ku[ku] = self.user_counts_[u[ku]] > 0
        ki[ki] = self.item_counts_[i[ki]] > 0
        known = ku & ki
        out = np.empty(u.shape, dtype=np.float64)
        if self.task == "rating" and known.any():
            out[known] = self._predict_known(u[known], i[known])
        elif known.any():
            out[known] = self._fallback(u[known], i[known])
        if (~known).any():
            out[~known] = self._fallback(np.where(ku, u, -1)[~known], np.where(ki, i, -1)[~known])
        lo, hi = self.rating_range_
        return np.clip(out, lo, hi), ~known

    def predict(self, users: Sequence[object] | NDArray[np.generic] | object,
                items: Sequence[object] | NDArray[np.generic] | object) -> Predictions:
        """Predict ratings for pairs of original ids (scalars or equal-length sequences).

        Unknown users or items get ``global mean + known bias`` with ``fallback=True`` and a
        reason, instead of an exception.
        """
        self._check_fitted()
        us = list(np.atleast_1d(np.asarray(users, dtype=object)))
        its = list(np.atleast_1d(np.asarray(items, dtype=object)))
        if len(us) != len(its):
            raise ValueError(f"users and items must have one length, got {len(us)} and {len(its)}")
        u = np.array([self.user_index(x) for x in us], dtype=np.int64)
        i = np.array([self.item_index(x) for x in its], dtype=np.int64)
        values, fallback = self.predict_index(u, i)
        reasons: list[str | None] = []
        for k in range(len(us)):
            if not fallback[k]:
                reasons.append("ranking model: baseline score" if self.task != "rating" else None)
                continue
            parts = []
            if u[k] < 0 or self.user_counts_[u[k]] == 0:
                parts.append(f"user {us[k]!r} has no training ratings")
            if i[k] < 0 or self.item_counts_[i[k]] == 0:
                parts.append(f"item {its[k]!r} has no training ratings")
            if len(parts) == 2:
                used = "the global mean"
            elif u[k] < 0 or self.user_counts_[u[k]] == 0:
                used = "global mean + item bias"
            else:
                used = "global mean + user bias"
            reasons.append("; ".join(parts) + f": predicted {used}")
        return Predictions(values, fallback, tuple(reasons))

    # --- ranking --------------------------------------------------------------------------
    def _score_rows(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        """Scores of every item for known users: ``(len(users), n_items)``."""
        n_items = len(self.item_ids_)
        uu = np.repeat(users, n_items)
        ii = np.tile(np.arange(n_items, dtype=np.int64), len(users))
        return self.predict_index(uu, ii)[0].reshape(len(users), n_items)

    def score_users(self, users: NDArray[np.integer], exclude_seen: bool = True
                    ) -> NDArray[np.float64]:
        """Item scores for user rows ``(m, n_items)``; seen items get ``-inf`` when
        ``exclude_seen``. Users without training ratings get the popularity-free baseline."""
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        scores = np.empty((len(u), len(self.item_ids_)))
        known = self.user_counts_[u] > 0
        if known.any():
            scores[known] = self._score_rows(u[known])
        if (~known).any():
            scores[~known] = self.fallback_mean_ + self.fallback_item_bias_
        self.mask_unrankable(scores, u, exclude_seen)
        return scores

    def mask_unrankable(self, scores: NDArray[np.floating], users: NDArray[np.integer],
                        exclude_seen: bool = True) -> None:
        """In place, on ``scores (len(users), n_items)``: ``-inf`` for the items without
        training ratings and, when ``exclude_seen``, for each user's training items (what
        every ranking of known users leaves out: here and in ``scale.recommend_all``)."""
        scores[:, self.item_counts_ == 0] = -np.inf
        if exclude_seen:
            u = np.asarray(users, dtype=np.int64)
            rows = np.repeat(np.arange(len(u)), self.seen_indptr_[u + 1] - self.seen_indptr_[u])
            scores[rows, self.seen_items_[concatenated_ranges(self.seen_indptr_, u)]] = -np.inf

    def _top(self, scores: NDArray[np.float64], n: int) -> NDArray[np.int64]:
        from convrec.recsys._topn import top_n

        return top_n(scores, n)

    def recommend(self, user: object, n: int = 10, exclude_seen: bool = True
                  ) -> list[Recommendation]:
        """Top-``n`` items for a known user (original ids), seen items excluded.

        Raises:
            KeyError: unknown user (use :meth:`fold_in` + :meth:`recommend_vector` instead).
        """
        u = self.user_index(user)
        if u < 0:
            raise KeyError(f"unknown user id {user!r}: fold_in() their ratings to recommend "
                           "for a new user")
        scores = self.score_users(np.array([u]), exclude_seen=exclude_seen)[0]
        top = self._top(scores, n)
        lo, hi = self.seen_indptr_[u], self.seen_indptr_[u + 1]
        return self._with_reasons(top, scores, self.seen_items_[lo:hi], self.seen_ratings_[lo:hi],
                                  self._rated_for(top, user_row=u))

    # --- item vectors, similar items, explanations ----------------------------------------
    def item_vectors(self) -> NDArray[np.float64]:
        """Item representation used for cosine similarity ``(n_items, d)``. Default: the
        item's column of the mean-centred training matrix (item-based CF)."""
        self._check_fitted()
        if getattr(self, "_cf_vectors", None) is None:
            from scipy import sparse

            users = np.repeat(np.arange(len(self.user_ids_)), np.diff(self.seen_indptr_))
            centred = self.seen_ratings_ - self.fallback_mean_
            M = sparse.csr_matrix((centred, (self.seen_items_, users)),
                                  shape=(len(self.item_ids_), len(self.user_ids_)))
            k = min(64, min(M.shape) - 1)
            if k >= 1:
                from scipy.sparse.linalg import svds

                U, s, _ = svds(M.astype(np.float64), k=k, random_state=0)
                self._cf_vectors = U * s
            else:
                self._cf_vectors = M.toarray()
        vec: NDArray[np.float64] = self._cf_vectors
        return vec

    def _unit_item_vectors(self) -> NDArray[np.float64]:
        if getattr(self, "_unit_cache", None) is None:
            V = np.asarray(self.item_vectors(), dtype=np.float64)
            norm = np.linalg.norm(V, axis=1, keepdims=True)
            self._unit_cache = V / np.where(norm > 0, norm, 1.0)
        unit: NDArray[np.float64] = self._unit_cache
        return unit

    def similar_items(self, item: object, n: int = 10) -> list[tuple[Any, float]]:
        """The ``n`` items most similar to ``item`` (cosine on :meth:`item_vectors`), as
        ``(original id, similarity)``; the item itself and never-rated items are left out."""
        i = self._require_item(item)
        V = self._unit_item_vectors()
        sims = V @ V[i]
        sims[i] = -np.inf
        sims[self.item_counts_ == 0] = -np.inf
        top = self._top(sims, n)
        return [(self.item_ids_[j].item(), float(sims[j])) for j in top]

    def _with_reasons(self, top: NDArray[np.int64], scores: NDArray[np.float64],
                      rated: NDArray[np.integer], values: NDArray[np.floating],
                      predicted: NDArray[np.float64] | None = None) -> list[Recommendation]:
        """``Recommendation`` for each of ``top`` (item rows, best first): its score, the
        rating shown (``predicted``, else the score of a rating model), and ``because``: the
        two rated items above the user's threshold most similar to it (cosine)."""
        liked = rated[values > self._liked_threshold(values)] if len(rated) else rated
        kind = self.score_kind
        if predicted is not None:
            ratings: list[float | None] = [float(v) for v in predicted]
        elif kind == "rating":
            ratings = scores[top].tolist()
        else:
            ratings = [None] * len(top)
        because: list[tuple[Any, ...]] = [()] * len(top)
        if len(liked) and len(top):
            V = self._unit_item_vectors()
            # one product for every shown item, (len(top), len(liked)); each row is ordered
            # by the same argsort as one item at a time
            best = liked[np.argsort(-(V[top] @ V[liked].T), axis=1)[:, :2]]
            liked_ids = self.item_ids_[best].tolist()
            because = [tuple(row) for row in liked_ids]
        ids = self.item_ids_[top].tolist()
        return [Recommendation(item_id, score, reasons, kind, rating) for item_id, score,
                reasons, rating in zip(ids, scores[top].tolist(), because, ratings, strict=True)]

    def _liked_threshold(self, values: NDArray[np.floating]) -> float:
        """"Rated highly" means strictly above this: the user's own mean rating, or the
        training mean when all their ratings are equal (one rating of 1 explains nothing)."""
        if len(values) and float(np.ptp(values)) > 0:
            return float(np.mean(values))
        return float(self.fallback_mean_)

    def _rated_for(self, top: NDArray[np.int64], user_row: int = -1,
                   vector: NDArray[np.float64] | None = None) -> NDArray[np.float64] | None:
        """Predicted ratings ``(len(top),)`` shown beside a ranking that is not by rating (a
        blend's rating model; the user is a training row or a folded-in vector); None when the
        scores are the ratings (rating models) or there is no rating to show."""
        return None

    # --- new users ------------------------------------------------------------------------
    def _parse_profile(self, ratings: Mapping[Any, float]
                       ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(items (n,), values (n + m,))``: the rows of the rated items that have training
        ratings, their ratings, then the ``m`` ratings of items without any (an id the model
        never saw, or saw with no training rating), in the given order."""
        items: list[int] = []
        values: list[float] = []
        unrated: list[float] = []
        if not isinstance(ratings, Mapping):
            raise TypeError(f"ratings must be a mapping {{item id: rating}} such as {{50: 5}}, "
                            f"got {type(ratings).__name__} {ratings!r:.60}")
        for item, value in ratings.items():
            i = self.item_index(item)
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"rating for item {item!r} must be a number, got {value!r}"
                                 ) from None
            if not math.isfinite(v):
                raise ValueError(f"rating for item {item!r} must be a finite number, got {value!r}")
            if i < 0 or self.item_counts_[i] == 0:
                unrated.append(v)
                continue
            items.append(i)
            values.append(v)
        return np.asarray(items, dtype=np.int64), np.asarray(values + unrated)

    def fold_in(self, ratings: Mapping[Any, float]) -> NDArray[np.float64]:
        """A user vector for a new user from ``{original item id: rating}`` (no retraining).

        A rating of an item without training ratings (an id the model never saw, or saw with
        no rating) still tells the user's bias: a rating model counts it as an item with no
        learned bias or factors (zero: the prior's mean, :func:`rated_item_terms`); a ranking
        model, which has no row for it, leaves it out. The vector's meaning depends on the
        model (factors + bias for MF, an interaction row for EASE); pass it to
        :meth:`recommend_vector` or :meth:`predict_vector`.
        """
        self._check_fitted()
        items, values = self._parse_profile(ratings)
        return self._fold_in(items, values)

    def _fold_in(self, items: NDArray[np.int64], values: NDArray[np.float64]
                 ) -> NDArray[np.float64]:
        """The vector of a new user from the rows ``items (n,)`` of the rated items with
        training ratings and ``values (n + m,)``: their ratings, then those of ``m`` items
        without training ratings (see :meth:`_parse_profile`)."""
        # default: the user bias under the fallback baseline
        resid = (values - self.fallback_mean_
                 - rated_item_terms(self.fallback_item_bias_, items, len(values)))
        return np.array([resid.sum() / (self.fallback_reg + len(values))])

    def _score_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.fallback_mean_ + vector[0] + self.fallback_item_bias_
        return out

    def predict_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scores of every item ``(n_items,)`` for a folded-in user: for a rating model
        (``task == "rating"``) predicted ratings, clipped to the training scale
        ``rating_range_`` as :meth:`predict` is; for a ranking model unbounded scores."""
        self._check_fitted()
        out: NDArray[np.float64] = np.asarray(
            self._score_vector(np.asarray(vector, dtype=np.float64)), dtype=np.float64)
        if self.task == "rating":
            np.clip(out, *self.rating_range_, out=out)
        return out

    def _rank_vector(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        """What :meth:`recommend_vector` ranks by (a fresh array it may overwrite): the
        model's scores; a blend ranks by one model and rates with another."""
        return self.predict_vector(vector).astype(np.float64, copy=True)

    def recommend_vector(self, vector: NDArray[np.float64], n: int = 10,
                         exclude: Iterable[object] = (),
                         rated: Mapping[Any, float] | None = None) -> list[Recommendation]:
        """Top-``n`` items for a folded-in user; ``exclude`` original ids (e.g. those rated);
        ``rated`` gives the explanations."""
        scores = self._rank_vector(np.asarray(vector, dtype=np.float64))
        scores[self._never_rated_items()] = -np.inf
        for item in exclude:
            i = self.item_index(item)
            if i >= 0:
                scores[i] = -np.inf
        top = self._top(scores, n)
        items, values = self._parse_profile(rated or {})
        return self._with_reasons(top, scores, items, values[:len(items)],
                                  self._rated_for(top, vector=vector))

    def _never_rated_items(self) -> NDArray[np.int64]:
        """Rows of the items without a training rating (never recommended), computed once."""
        never: NDArray[np.int64] | None = getattr(self, "_never_rated", None)
        if never is None:
            never = self._never_rated = np.flatnonzero(self.item_counts_ == 0)
        return never

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, provenance: Provenance | None = None) -> Path:
        """Write the fitted model to one ``.npz`` file (its registry schema, a versioned header
        with a checksum and the release it was trained on), atomically. No pickle. See
        :func:`convrec.recsys.persistence.save_model`."""
        from convrec.recsys.persistence import save_model

        return save_model(self, path, provenance)

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a model written by :meth:`save` (any registered class when called on the base)."""
        model = load_model(path)
        if cls is not Recommender and not isinstance(model, cls):
            raise TypeError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def rated_item_terms(table: NDArray[np.generic], items: NDArray[np.int64], n_ratings: int,
                     axis: int = 0) -> NDArray[Any]:
    """A learned per-item term (item biases ``(n_items,)``, factors ``(n_items, k)``, a
    per-sample table along ``axis``) at a new user's ``n_ratings`` ratings: ``table`` at the
    rows ``items`` (the rated items with training ratings), then zeros for the
    ``n_ratings - len(items)`` ratings of items without any. Such an item has no learned
    bias or factors (what a model stores for a never-rated item was fitted to no rating;
    a ridge gives it bias 0): they are taken as zero, so
    its rating informs the user's bias alone. The one place fold-ins treat those ratings."""
    taken = np.take(table, items, axis=axis)
    extra = n_ratings - len(items)
    if extra == 0:
        return taken
    shape = list(taken.shape)
    shape[axis] = extra
    return np.concatenate([taken, np.zeros(shape, dtype=taken.dtype)], axis=axis)


def load_model(path: str | Path) -> Recommender:
    """Load any saved model (see :func:`convrec.recsys.persistence.load_model`)."""
    from convrec.recsys.persistence import load_model as _load

    return _load(path)
