"""One behavioural test that every model runs (as implicit's RecommenderBase tests do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convrec.recsys import (
    EASE,
    BayesianMF,
    Biases,
    GlobalMean,
    ItemKNNBaseline,
    NotFittedError,
    Ratings,
    Recommender,
    load_model,
    random_split,
)
from convrec.recsys.ratings import leave_last_out_split, temporal_split
from convrec.recsys.registry import MODELS


def _synthetic(seed: int = 0) -> Ratings:
    """40 users × 30 items (ids 100+u, 1000+i), rank-2 tastes, ~60% observed."""
    rng = np.random.default_rng(seed)
    P, Q = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    R = np.clip(np.rint(3 + P @ Q.T + rng.normal(0, 0.3, (40, 30))), 1, 5)
    u, i = np.nonzero(rng.random((40, 30)) < 0.6)
    times = rng.integers(0, 10**6, len(u))
    return Ratings.from_arrays(100 + u, 1000 + i, R[u, i], timestamps=times)


#: smaller settings so the suite stays fast; every registry entry is tested, listed here or not
SMALL: dict[str, dict[str, Any]] = {
    "knn": {"k": 10},
    "bayesian-mf": {"n_factors": 3, "n_samples": 20, "burn_in": 5},
    "ease": {"lam": 10.0, "recency_half_life": 3.0},
    "ease-plain": {"lam": 10.0},
    "als": {"factors": 4, "iterations": 3},
    "explicit-als": {"factors": 4, "iterations": 3},
    "embedding-dot-bias": {"n_factors": 4, "epochs": 2, "batch_size": 32},
    "hybrid": {"lam": 10.0, "recency_half_life": 3.0, "n_factors": 3, "n_samples": 20,
               "burn_in": 5},
}


def _models() -> list[Recommender]:
    """One model per entry of the model registry (so a new model is tested at once)."""
    return [spec.create(**SMALL.get(name, {})) for name, spec in MODELS.items()]


@pytest.fixture(scope="module")
def data() -> Ratings:
    return _synthetic()


@pytest.mark.parametrize("model", _models(), ids=list(MODELS))
def test_shared_interface(model: Recommender, data: Ratings, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        model.predict([100], [1000])
    assert model.fit(data) is model
    assert all(not k.endswith("_") for k in model.get_params())
    # known pairs: no fallback; unknown user and unknown item: fallback with reasons
    pred = model.predict([100, 9999, 100], [1000, 1000, 4242])
    lo, hi = model.rating_range_
    assert np.all((pred.ratings >= lo) & (pred.ratings <= hi))
    assert pred.fallback.tolist()[1:] == [True, True]
    assert pred.reasons[1] is not None and "user 9999" in pred.reasons[1]
    assert pred.reasons[2] is not None and "item 4242" in pred.reasons[2]
    # recommend excludes what the user rated and returns original ids
    u = model.user_index(101)
    seen = set(model.item_ids_[model.seen_items_[model.seen_indptr_[u]:model.seen_indptr_[u + 1]]]
               .tolist())
    recs = model.recommend(101, n=5)
    assert len(recs) == 5 and not seen & {r.item_id for r in recs}
    assert all(1000 <= r.item_id < 1030 for r in recs)
    scores = [r.score for r in recs]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(KeyError, match="unknown user id"):
        model.recommend(5555)
    # similar items: not the item itself, sorted
    sim = model.similar_items(1003, n=4)
    assert len(sim) == 4 and 1003 not in [s for s, _ in sim]
    assert [v for _, v in sim] == sorted((v for _, v in sim), reverse=True)
    with pytest.raises(KeyError, match="unknown item id"):
        model.similar_items(77)
    # fold-in: a new user from a few ratings, rated items excluded
    profile = {1000: 5.0, 1001: 1.0, 1002: 4.0, 31337: 5.0}
    vec = model.fold_in(profile)
    new = model.recommend_vector(vec, n=3, exclude=profile, rated=profile)
    assert len(new) == 3 and not {r.item_id for r in new} & set(profile)
    # save/load round trip gives the same predictions, without pickle
    path = model.save(tmp_path / "m.npz")
    again = load_model(path)
    assert type(again) is type(model) and again.get_params() == model.get_params()
    np.testing.assert_allclose(again.predict([100, 101], [1000, 1005]).ratings,
                               model.predict([100, 101], [1000, 1005]).ratings)
    assert [r.item_id for r in again.recommend(101, n=5)] == [r.item_id for r in recs]
    with np.load(path, allow_pickle=False) as z:
        assert "__header__" in z.files


def test_rating_models_beat_global_mean(data: Ratings) -> None:
    train, test = random_split(data, 0.2, seed=1)
    errors = {}
    for model in (GlobalMean(), Biases(), ItemKNNBaseline(k=10),
                  BayesianMF(n_factors=3, n_samples=40, burn_in=10)):
        p, _ = model.fit(train).predict_index(test.users, test.items)
        errors[type(model).__name__] = float(np.sqrt(np.mean((p - test.ratings) ** 2)))
    assert errors["BayesianMF"] < errors["ItemKNNBaseline"] < errors["GlobalMean"]


def test_fold_in_recovers_a_known_user(data: Ratings) -> None:
    model = BayesianMF(n_factors=3, n_samples=30, burn_in=10).fit(data)
    u = model.user_index(105)
    lo, hi = model.seen_indptr_[u], model.seen_indptr_[u + 1]
    profile = {int(model.item_ids_[i]): float(r) for i, r in
               zip(model.seen_items_[lo:hi], model.seen_ratings_[lo:hi], strict=True)}
    folded = model.predict_vector(model.fold_in(profile))
    own = model.score_users(np.array([u]), exclude_seen=False)[0]
    assert np.corrcoef(folded, own)[0, 1] > 0.9


def test_bad_parameters_are_named(data: Ratings) -> None:
    with pytest.raises(ValueError, match="n_factors must be a positive integer"):
        BayesianMF(n_factors=0).fit(data)
    with pytest.raises(ValueError, match="lam must be > 0"):
        EASE(lam=-1).fit(data)
    with pytest.raises(ValueError, match="has no parameter 'bogus'"):
        Biases().set_params(bogus=1)
    with pytest.raises(TypeError, match="Ratings"):
        Biases().fit([1, 2, 3])  # type: ignore[arg-type]


def test_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.zeros(2))
    with pytest.raises(ValueError, match="not a convrec model file"):
        load_model(bad)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.npz")


def test_splits(data: Ratings) -> None:
    train, test = leave_last_out_split(data)
    assert len(test) == data.n_users and len(train) + len(test) == len(data)
    assert data.timestamps is not None and train.timestamps is not None
    assert test.timestamps is not None
    for u in range(data.n_users):  # the held-out rating is the user's latest
        assert test.timestamps[test.users == u].min() >= train.timestamps[train.users == u].max()
    tr, te = temporal_split(data, 0.25)
    assert len(tr) + len(te) == len(data) and 0.15 < len(te) / len(data) < 0.3
    a = random_split(data, 0.2, seed=3)[1].ratings
    b = random_split(data, 0.2, seed=3)[1].ratings
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(data, 1.5)
