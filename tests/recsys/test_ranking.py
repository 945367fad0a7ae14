"""Ranking: the one top-N routine, honest score kinds and explanations, the hybrid default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.recsys.test_models import _synthetic

from convrec.recsys import EASE, BayesianMF, Popularity, Ratings
from convrec.recsys._topn import top_n
from convrec.recsys.models.hybrid import Hybrid
from convrec.recsys.models.topn import ease_item_weights


def _reference_top(row: np.ndarray, n: int) -> list[int]:
    """Stable sort on the negated scores (ties: lower index first), excluded items dropped."""
    order = [int(j) for j in np.argsort(-row, kind="stable") if np.isfinite(row[j])]
    return order[:n]


@pytest.mark.parametrize("rows", [1, 3, 40])  # one request, a small block, the kernel path
def test_top_n_matches_a_stable_sort(rows: int) -> None:
    rng = np.random.default_rng(rows)
    scores = rng.integers(0, 6, (rows, 50)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[0, :] = -np.inf  # a row with nothing left to recommend
    got = top_n(scores, 7)
    for r in range(rows):
        ref = _reference_top(scores[r], 7)
        assert got[r, :len(ref)].tolist() == ref
        assert (got[r, len(ref):] == -1).all()
    assert top_n(scores[-1], 7).tolist() == _reference_top(scores[-1], 7)
    with pytest.raises(ValueError, match="n must be a positive integer, got n=0"):
        top_n(scores, 0)


def test_ease_weights_match_the_closed_form() -> None:
    data = _synthetic()
    X = np.zeros((data.n_users, data.n_items))
    X[data.users, data.items] = 1.0
    P = np.linalg.inv(X.T @ X + 10.0 * np.eye(data.n_items))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    np.testing.assert_allclose(ease_item_weights(data, 10.0), B, atol=1e-6)


@pytest.fixture(scope="module")
def data() -> Ratings:
    return _synthetic()


@pytest.fixture(scope="module")
def hybrid(data: Ratings) -> Hybrid:
    return Hybrid(lam=10.0, recency_half_life=None, n_factors=3, n_samples=10,
                  burn_in=3).fit(data)


def test_scores_that_are_not_ratings_are_called_score(data: Ratings, hybrid: Hybrid) -> None:
    profile = {1000: 5.0, 1001: 1.0, 1002: 4.0}
    ease = EASE(lam=10.0).fit(data)
    for rec in ease.recommend(101, n=3) + ease.recommend_vector(ease.fold_in(profile), 3):
        assert rec.kind == "score" and rec.rating is None
    bmf = BayesianMF(n_factors=3, n_samples=10, burn_in=3).fit(data)
    for rec in bmf.recommend(101, n=3):
        assert rec.kind == "rating" and rec.rating == rec.score
    # the hybrid ranks by EASE's score and shows its rating model's prediction
    recs = hybrid.recommend_vector(hybrid.fold_in(profile), 4, exclude=profile, rated=profile)
    shown = hybrid.predict_vector(hybrid.fold_in(profile))
    lo, hi = hybrid.rating_range_
    for rec in recs:
        assert rec.kind == "score" and rec.rating is not None and lo <= rec.rating <= hi
        assert rec.rating == pytest.approx(shown[hybrid.item_index(rec.item_id)])
    known = hybrid.recommend(101, n=3)
    pred = hybrid.predict([101] * 3, [r.item_id for r in known]).ratings
    np.testing.assert_allclose(np.array([r.rating for r in known], dtype=float), pred)


def test_because_only_names_items_rated_above_the_users_mean(hybrid: Hybrid) -> None:
    profile = {1000: 5.0, 1001: 1.0, 1002: 4.0, 1003: 2.0}  # mean 3
    for rec in hybrid.recommend_vector(hybrid.fold_in(profile), 5, exclude=profile,
                                       rated=profile):
        assert set(rec.because) <= {1000, 1002}
    lonely = {1001: 1.0}  # a single low rating explains nothing
    for rec in hybrid.recommend_vector(hybrid.fold_in(lonely), 3, exclude=lonely, rated=lonely):
        assert rec.because == ()


def test_predictions_for_new_users_stay_on_the_scale(data: Ratings, hybrid: Hybrid) -> None:
    lover = {1000 + i: 5.0 for i in range(10)}
    for model in (hybrid, BayesianMF(n_factors=3, n_samples=10, burn_in=3).fit(data)):
        values = model.predict_vector(model.fold_in(lover))
        lo, hi = model.rating_range_
        assert values.min() >= lo and values.max() <= hi


def test_support_shrinkage_is_ease_times_n_over_n_plus_c(data: Ratings, hybrid: Hybrid) -> None:
    ease = EASE(lam=10.0).fit(data)
    profile = {1000: 5.0, 1004: 3.0}
    n = hybrid.item_counts_.astype(np.float64)
    plain = ease.predict_vector(ease.fold_in(profile))
    for c in (0.0, 5.0):
        hybrid.set_params(support_shrinkage=c)
        ranked = hybrid._rank_vector(hybrid.fold_in(profile))
        np.testing.assert_allclose(ranked, plain * (n / (n + c) if c else 1.0), atol=1e-6)
    hybrid.set_params(support_shrinkage=5.0)
    # no ratings at all: the most-rated items
    top = [r.item_id for r in hybrid.recommend_vector(hybrid.fold_in({}), 3)]
    pop = [r.item_id for r in Popularity().fit(data).recommend_vector(np.zeros(30), 3)]
    assert top == pop


@pytest.mark.data
def test_hybrid_ranks_new_users_better_than_popularity(shared_data: Path) -> None:
    from convrec.data.movielens import load_movielens

    data = load_movielens("ml-100k", data_dir=shared_data)
    ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
    users = np.random.default_rng(1).permutation(ratings.n_users)[:120]
    train = ratings.subset(~np.isin(ratings.users, users))
    assert ratings.timestamps is not None
    models = {"hybrid": Hybrid(n_samples=2, burn_in=0, implicit=False).fit(train),
              "pop": Popularity().fit(train)}
    hits = dict.fromkeys(models, 0)
    for u in users:
        rows = np.flatnonzero(ratings.users == u)
        rows = rows[np.lexsort((rows, ratings.timestamps[rows]))]
        profile = {ratings.item_ids[ratings.items[t]].item(): float(ratings.ratings[t])
                   for t in rows[:-1]}
        target = ratings.item_ids[ratings.items[rows[-1]]].item()
        for name, model in models.items():
            recs = model.recommend_vector(model.fold_in(profile), 10, exclude=profile)
            hits[name] += target in [r.item_id for r in recs]
    assert hits["hybrid"] > hits["pop"], hits
