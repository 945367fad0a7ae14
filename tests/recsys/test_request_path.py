"""The studio's hot path, ``MovieRecommender.recommend_for_ratings``, against the plain
definitions it implements (the fast path caches per-model constants and batches its work;
these references recompute everything from the fitted parameters, one item at a time)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.recsys.test_models import _synthetic

from convrec.data.movielens import Movies
from convrec.data.registry import RatingScale
from convrec.recsys import Ratings
from convrec.recsys.catalog import MovieCatalog, MovieRecommender
from convrec.recsys.models.hybrid import Hybrid

#: a movie of the catalogue that no training user rated (the ranking has no row for it; the
#: rating model counts it with no item bias or factors)
UNRATED = 2000


@pytest.fixture(scope="module")
def data() -> Ratings:
    return _synthetic()


@pytest.fixture(scope="module")
def recommender(data: Ratings) -> MovieRecommender:
    model = Hybrid(lam=10.0, recency_half_life=3.0, n_factors=3, n_samples=6,
                   burn_in=2).fit(data)
    ids = np.array([*data.item_ids.tolist(), UNRATED], dtype=np.int64)
    movies = Movies(ids=ids, titles=tuple(f"Movie {i} (1990)" for i in ids),
                    years=np.full(len(ids), 1990), genres=tuple(() for _ in ids))
    return MovieRecommender(model, MovieCatalog(movies), RatingScale(1, 5, 1))


def _reference_fold_in(model: Hybrid, items: np.ndarray, values: np.ndarray,
                       unrated: list[float]) -> np.ndarray:
    """The rating part of the fold-in: one small posterior solve per stored sample; each
    rating of ``unrated`` has item row ``[0, …, 0, 1]`` and offset ``μ``."""
    S = model.n_stored_samples_
    k = model.item_factors_.shape[1] // S
    w = np.zeros((S, k + 1))
    for s in range(S):
        Lam = model.sample_user_precision_[s]
        mean = model.sample_user_mean_[s].copy()
        if len(items) and model.sample_side_coef_.shape[1]:
            mean += (model.sample_side_coef_[s, items].sum(axis=0)
                     / np.sqrt(len(items) + len(unrated)))
        A = np.zeros((k + 1, k + 1))
        A[:k, :k] = Lam
        A[k, k] = model.sample_bias_precision_[s]
        b = np.concatenate([Lam @ mean, [0.0]])
        alpha = model.sample_noise_precision_[s]
        for i, r in zip(items, values, strict=True):
            x = np.append(model.item_factors_[i].reshape(S, k)[s] * np.sqrt(S), 1.0)
            A += alpha * np.outer(x, x)
            b += alpha * (r - model.global_mean_ - model.sample_item_bias_[s, i]) * x
        for r in unrated:
            A[k, k] += alpha
            b[k] += alpha * (r - model.global_mean_)
        w[s] = np.linalg.solve(A, b)
    return np.concatenate([w[:, :k].ravel() / np.sqrt(S), [w[:, k].mean()]])


def _reference(rec: MovieRecommender, ratings: dict[int, float], n: int, exclude_seen: bool
               ) -> list[tuple[int, str, float, str, bool]]:
    """``recommend_for_ratings`` from its definitions: EASE's ``x·B`` times the support
    factor ranks (a stable sort, ties to the lower row), Bayesian MF's clipped prediction is
    shown, the two liked movies closest by cosine explain it."""
    model = rec.model
    assert isinstance(model, Hybrid)
    known = [(model.item_index(m), v) for m, v in ratings.items()
             if model.item_index(m) >= 0 and model.item_counts_[model.item_index(m)] > 0]
    items = np.array([i for i, _ in known], dtype=np.int64)
    values = np.array([v for _, v in known])
    x = np.zeros(len(model.item_ids_))
    assert model.recency_half_life is not None
    x[items] = 0.5 ** (np.arange(len(items))[::-1] / model.recency_half_life)
    counts = model.item_counts_.astype(np.float64)
    if len(items):
        scores = (x @ model.item_weights_.astype(np.float64)) * counts / (counts + 2.0)
    else:
        scores = counts.copy()
    scores[model.item_counts_ == 0] = -np.inf
    if exclude_seen:
        for m in ratings:
            if model.item_index(m) >= 0:
                scores[model.item_index(m)] = -np.inf
    order = [int(j) for j in np.argsort(-scores, kind="stable") if np.isfinite(scores[j])][:n]
    unrated = [v for m, v in ratings.items()
               if model.item_index(m) < 0 or model.item_counts_[model.item_index(m)] == 0]
    w = _reference_fold_in(model, items, values, unrated)
    S = model.n_stored_samples_
    lo, hi = model.rating_range_
    V = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    threshold = values.mean() if len(values) and np.ptp(values) > 0 else model.fallback_mean_
    liked = items[values > threshold] if len(items) else items
    mean = float(np.mean(list(ratings.values()))) if ratings else 0.0
    out = []
    for j in order:
        raw = (model.global_mean_ + w[-1] + model.item_bias_[j]
               + model.item_factors_[j] @ w[:-1])
        shown = float(np.clip(np.clip(raw, lo, hi), 1, 5))
        because = [int(model.item_ids_[b]) for b in
                   liked[np.argsort(-(V[liked] @ V[j]), kind="stable")[:2]]]
        named = [b for b in because if ratings[b] > mean or (len(ratings) == 1
                                                           and ratings[b] > 3)]
        if not because:
            why = "popular with users like you"
        elif not named:
            why = "liked by users who rated movies as you did"
        else:
            why = ("because you rated " + " and ".join(f"“Movie {b} (1990)”" for b in named)
                   + " highly")
        movie = int(model.item_ids_[j])
        out.append((movie, f"Movie {movie} (1990)", shown, why, True))
        assert S > 1  # the stacked samples really were averaged
    return out


def test_recommend_for_ratings_matches_its_definition_on_random_ratings(
        recommender: MovieRecommender, data: Ratings) -> None:
    rng = np.random.default_rng(7)
    movies = [*data.item_ids.tolist(), UNRATED]
    for trial in range(150):
        picks = rng.choice(movies, int(rng.integers(0, 9)), replace=False)
        ratings = {int(m): float(rng.integers(1, 6)) for m in picks}
        n, exclude_seen = (int(rng.integers(1, 12)), bool(trial % 3))
        got = [(r.movie_id, r.title, r.score, r.explanation, r.is_rating)
               for r in recommender.recommend_for_ratings(ratings, n, exclude_seen)]
        want = _reference(recommender, ratings, n, exclude_seen)
        assert [g[:2] + g[3:] for g in got] == [w[:2] + w[3:] for w in want], ratings
        np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=1e-9)


@pytest.mark.parametrize("ratings", [
    {1000: 5}, {1000: 4.0, UNRATED: 2}, {np.int64(1000): 5}, {"1000": 3}, {1000: True},
    {1000: 3.5}, {1000: 6}, {1000: float("nan")}, {99999: 3}, {1000: np.float32(4)},
    {1000: "4"}, {}, {1001: 2, 99999: 7}, {1001: 7, 99999: 2},
])
def test_check_ratings_fast_path_answers_as_the_loop_does(
        recommender: MovieRecommender, ratings: dict[Any, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def outcome() -> object:
        try:
            out = recommender.check_ratings(ratings)
            return out, [type(k) for k in out], [type(v) for v in out.values()]
        except (KeyError, ValueError) as exc:
            return type(exc), str(exc)

    fast = outcome()
    monkeypatch.setattr(recommender, "_check_plain", lambda _ratings: None)
    assert fast == outcome()


def test_a_refit_recomputes_the_cached_constants(data: Ratings) -> None:
    profile = {1000: 5.0, 1003: 2.0}
    model = Hybrid(lam=10.0, n_factors=3, n_samples=4, burn_in=1)
    model.fit(data).recommend_vector(model.fold_in(profile), 3, rated=profile)
    other = _synthetic(seed=1)
    model.fit(other)
    fresh = Hybrid(lam=10.0, n_factors=3, n_samples=4, burn_in=1).fit(other)
    np.testing.assert_allclose(model.fold_in(profile), fresh.fold_in(profile))
    assert ([r.item_id for r in model.recommend_vector(model.fold_in(profile), 5)]
            == [r.item_id for r in fresh.recommend_vector(fresh.fold_in(profile), 5)])
