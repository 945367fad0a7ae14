"""The local engine at scale: explicit ALS, lean loading, batched top-N, synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.recsys import test_models as shared

from convrec.recsys import ALS, Ratings
from convrec.recsys.registry import MODELS
from convrec.recsys.scale import load_ratings, recommend_all, synthetic_ratings


def test_local_als_passes_the_shared_interface_test(tmp_path: Path) -> None:
    shared.test_shared_interface(ALS(factors=4, iterations=5), shared._synthetic(), tmp_path)


def test_cg_solves_match_exact_solves() -> None:
    data = shared._synthetic(2)
    exact = ALS(factors=3, iterations=10, cg_steps=0).fit(data)
    cg = ALS(factors=3, iterations=10, cg_steps=3).fit(data)
    a = exact.predict_index(data.users, data.items)[0]
    b = cg.predict_index(data.users, data.items)[0]
    assert np.sqrt(np.mean((a - b) ** 2)) < 0.05
    # and the factors matter: the training error is well below the biases-only model's
    resid_biases = data.ratings - (exact.global_mean_ + exact.user_bias_[data.users]
                                   + exact.item_bias_[data.items])
    assert np.sqrt(np.mean((data.ratings - a) ** 2)) < 0.7 * np.sqrt(np.mean(resid_biases**2))


def test_bad_als_parameters_are_named() -> None:
    data = shared._synthetic()
    for change, message in [({"factors": 0}, r"factors must be a positive integer, got factors=0"),
                            ({"iterations": 1.5}, r"iterations must be a positive integer"),
                            ({"cg_steps": -1}, r"cg_steps must be an integer >= 0"),
                            ({"reg": -0.1}, r"reg must be a finite number >= 0, got reg=-0.1")]:
        with pytest.raises(ValueError, match=message):
            ALS(**change).fit(data)


def test_load_ratings_csv_parquet_and_cache(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "r.csv"
    csv.write_text("userId,movieId,rating,timestamp\n"
                   "alice,1099511627776,4.5,10\nbob,7,3,11\nalice,7,2,12\n")
    ratings = load_ratings(csv, cache_dir=tmp_path / "cache")
    assert ratings.user_ids.tolist() == ["alice", "bob"]
    assert ratings.item_ids.tolist() == [7, 2**40]
    assert ratings.ratings.dtype == np.float32 and ratings.users.dtype == np.int32
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    again = load_ratings(csv, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.items, ratings.items)
    assert again.timestamps is not None and again.timestamps.tolist() == [10, 11, 12]
    parquet = tmp_path / "r.parquet"
    pq.write_table(pa.table({"user": [3, 1], "item": [9, 9], "rating": [1.0, 5.0]}), parquet)
    p = load_ratings(parquet)
    assert p.user_ids.tolist() == [1, 3] and p.ratings.tolist() == [1.0, 5.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what,rating\n1,2,3\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: no user column in the header \(who, wh"):
        load_ratings(bad)
    with pytest.raises(ValueError, match=r"unknown ratings format '\.json'"):
        (tmp_path / "r.json").write_text("{}")
        load_ratings(tmp_path / "r.json")
    with pytest.raises(FileNotFoundError):
        load_ratings(tmp_path / "missing.csv")


@pytest.mark.parametrize("name", [n for n, spec in MODELS.items() if not spec.heavy])
def test_recommend_all_matches_recommend(name: str) -> None:
    # every model of the registry: the factor fast path (item bias + P Qᵀ in float32) and the
    # generic one must rank as the model's own recommend does
    data = shared._synthetic()
    model = MODELS[name].create(**shared.SMALL.get(name, {})).fit(data)
    top = recommend_all(model, n=5, batch_size=7)
    assert top.shape == (data.n_users, 5)
    for u in (0, 13, 39):
        expected = [r.item_id for r in model.recommend(model.user_ids_[u].item(), n=5)]
        assert model.item_ids_[top[u]].tolist() == expected
    with pytest.raises(ValueError, match=r"n must be a positive integer, got n=0"):
        recommend_all(model, n=0)


def test_synthetic_ratings_shape_and_uniqueness() -> None:
    users, items, ratings = synthetic_ratings(60_000, n_users=600, n_items=2_500, seed=1)
    assert len(users) == len(items) == len(ratings) == 60_000
    key = users.astype(np.int64) * 2_500 + items
    assert len(np.unique(key)) == len(key)  # one rating per (user, item)
    counts = np.bincount(users, minlength=600)
    assert counts.min() >= 20
    pop = np.sort(np.bincount(items, minlength=2_500))[::-1]
    assert pop[:25].sum() > 0.05 * len(items)  # a power-law head
    assert set(np.unique(ratings * 2).astype(int)) <= set(range(1, 11))
    again = synthetic_ratings(60_000, n_users=600, n_items=2_500, seed=1)
    np.testing.assert_array_equal(again[1], items)
    r = Ratings.from_arrays(users, items, ratings)
    assert r.n_users == 600
    with pytest.raises(ValueError, match=r"n_ratings=10 cannot be spread over n_users=600"):
        synthetic_ratings(10, n_users=600, n_items=2_500)
