"""The Spark engine in local mode: same model format, same metrics as the local engine.

One SparkSession (local[2], 2 shuffle partitions) serves the whole module: starting the JVM
costs about 10 s, each small ALS fit a few seconds more.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.recsys import test_models as shared

from convrec.recsys import ALS, Biases, ImplicitALS, Ratings, load_model
from convrec.recsys.evaluate import load_fold, ranking_scores, rating_scores
from convrec.recsys.ratings import leave_last_out_split

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - depends on the machine
    pytest.skip("Spark needs Java on the PATH", allow_module_level=True)

pytestmark = [
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark.*"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("convrec-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_models_pass_the_shared_interface_test(spark: Any, tmp_path: Path) -> None:
    data = shared._synthetic()
    for model in (ALS(factors=4, iterations=5, engine="spark"),
                  ImplicitALS(factors=4, iterations=3, engine="spark")):
        shared.test_shared_interface(model, data, tmp_path)
        assert model.get_params()["engine"] == "spark"


def test_session_has_a_checkpoint_dir_and_many_iterations_run(spark: Any) -> None:
    from convrec.recsys.spark import spark_session

    assert spark_session() is spark  # the active session is reused
    assert spark.sparkContext.getCheckpointDir()
    model = ALS(factors=3, iterations=12, engine="spark").fit(shared._synthetic(1))
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()


def test_string_and_64bit_ids_and_cold_start(spark: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    u, i = np.nonzero(rng.random((30, 20)) < 0.5)
    big = 2**40 + 7 * i  # item ids far beyond Spark's int range
    names = np.array([f"user-{k:03d}" for k in u])
    ratings = Ratings.from_arrays(names, big, rng.integers(1, 6, len(u)).astype(float))
    # hold out every rating of one item and one user: both stay in the vocabulary, unseen
    cold_item, cold_user = int(ratings.items[0]), int(ratings.users[-1])
    train = ratings.subset((ratings.items != cold_item) & (ratings.users != cold_user))
    model = ALS(factors=3, iterations=5, engine="spark").fit(train)
    assert model.item_counts_[cold_item] == 0 and model.user_counts_[cold_user] == 0
    assert not model.item_factors_[cold_item].any()  # a zero row, not NaN
    pred, fallback = model.predict_index(np.arange(ratings.n_users),
                                         np.full(ratings.n_users, cold_item))
    assert np.isfinite(pred).all() and fallback.all()
    pred, fallback = model.predict_index(ratings.users, ratings.items)
    assert np.isfinite(pred).all()
    assert fallback.sum() == ((ratings.items == cold_item) | (ratings.users == cold_user)).sum()
    recs = model.recommend("user-001", n=3)
    assert all(isinstance(r.item_id, int) and r.item_id >= 2**40 for r in recs)
    assert int(ratings.item_ids[cold_item]) not in {r.item_id for r in recs}
    # the saved file is the ordinary model format and loads without Spark-specific code
    loaded = load_model(model.save(tmp_path / "spark-als.npz"))
    assert isinstance(loaded, ALS) and loaded.engine_ == "spark"
    np.testing.assert_array_equal(loaded.predict_index(ratings.users, ratings.items)[0],
                                  model.predict_index(ratings.users, ratings.items)[0])


@pytest.mark.data
def test_ml100k_u1_local_and_spark_give_the_same_metrics(spark: Any, shared_data: Path) -> None:
    train, test = load_fold("u1", shared_data)
    local = rating_scores(ALS(factors=10, iterations=8, cg_steps=0), train, test)
    remote = rating_scores(ALS(factors=10, iterations=8, engine="spark"), train, test)
    baseline = rating_scores(Biases(), train, test)
    # same objective, different random starts: the same accuracy to a few thousandths
    assert abs(local["rmse"] - remote["rmse"]) < 0.01
    assert abs(local["mae"] - remote["mae"]) < 0.01
    assert remote["rmse"] < baseline["rmse"] - 0.005
    assert remote["rmse"] < 0.95


@pytest.mark.data
def test_ml100k_implicit_spark_ranks_like_local(spark: Any, shared_data: Path) -> None:
    from convrec.data.movielens import load_movielens

    data = load_movielens("ml-100k", data_dir=shared_data)
    train, test = leave_last_out_split(Ratings.from_raw(data.ratings, None, data.movies.ids))
    kw: dict[str, Any] = {"factors": 32, "reg": 0.01, "alpha": 1.0, "iterations": 8}
    local, _ = ranking_scores(ImplicitALS(**kw), train, test)
    remote, _ = ranking_scores(ImplicitALS(**kw, engine="spark"), train, test)
    # popularity scores hr@10 0.086 here; both engines must clearly beat it and agree within
    # the noise of one held-out item per user (SE about 0.012)
    assert remote["hr@10"] > 0.11 and local["hr@10"] > 0.11
    assert abs(local["hr@10"] - remote["hr@10"]) < 0.04


def test_bad_engine_and_spark_arguments_are_named(spark: Any) -> None:
    from convrec.recsys.spark import fit_spark_als, spark_session

    data = shared._synthetic()
    with pytest.raises(ValueError, match=r"engine must be one of local, spark.*'hadoop'"):
        ALS(engine="hadoop").fit(data)
    with pytest.raises(ValueError, match=r"engine must be one of local, spark.*'gpu'"):
        ImplicitALS(engine="gpu").fit(data)
    with pytest.raises(ValueError, match=r"checkpoint_interval must be >= 1.*=0"):
        fit_spark_als(data, checkpoint_interval=0)
    with pytest.raises(ValueError, match=r"master must be a Spark master URL.*''"):
        spark_session("")
    with pytest.raises(ValueError, match="one entry per rating"):
        fit_spark_als(data, np.ones(3))
