"""The Spark engine: ALS in Spark MLlib, factors written back into convrec's model format.

``ALS(engine="spark")`` (explicit ratings) and ``ImplicitALS(engine="spark")`` call
:func:`fit_spark_als`; everything after the fit (predict, recommend, similar items, fold-in,
evaluation, ``save``/``load``, the studio) runs on the numpy factors it returns, so a
Spark-trained model is an ordinary convrec model.

How the usual Spark pitfalls are handled:

* **ids**: MLlib needs 32-bit integer ids. :class:`~convrec.recsys.Ratings` already maps any
  original ids (strings, 64-bit integers) to contiguous row and column indices, and only those
  indices travel to Spark; the id maps stay in the model.
* **cold start**: Spark predicts NaN for a user or item it never saw. Spark's ``transform`` is
  never used here: factors are collected into arrays with a zero row for every id without
  training ratings, and the model's shared fallback (``μ + known bias``, flagged
  ``fallback=True``) answers for them. Non-finite factors from Spark raise.
* **stack overflow**: many iterations grow the RDD lineage until the JVM throws
  ``StackOverflowError``; a checkpoint directory is always set and the factors are
  checkpointed every ``checkpoint_interval`` iterations.

pyspark is imported inside the functions (install the ``spark`` extra:
``pip install 'convrec[spark]'``).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.ratings import Ratings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DEFAULT_MASTER", "fit_spark_als", "ratings_frame", "spark_session"]

DEFAULT_MASTER = "local[*]"


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError("engine='spark' needs pyspark: pip install 'convrec[spark]' "
                          "(and Java 17 on the PATH)") from exc


def spark_session(master: str | None = None, app_name: str = "convrec",
                  config: dict[str, str] | None = None) -> SparkSession:
    """The active SparkSession, or a new one on ``master`` (default ``local[*]``).

    An already active session is reused whatever ``master`` says (Spark allows one per
    process; under ``spark-submit`` it is the cluster's). A checkpoint directory is set when
    the session has none, so that long ALS runs can truncate their lineage.

    Args:
        master: Spark master URL, e.g. ``local[2]``, ``spark://host:7077``, ``yarn``.
        app_name: the application name shown in the Spark UI.
        config: extra Spark settings (``{"spark.driver.memory": "8g"}``) for a new session.

    Returns:
        The session.
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    if master is not None and (not isinstance(master, str) or not master.strip()):
        raise ValueError(f"master must be a Spark master URL such as 'local[*]' or "
                         f"'spark://host:7077', got master={master!r}")
    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.appName(app_name).master(master or DEFAULT_MASTER)
        builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        builder = builder.config("spark.ui.showConsoleProgress", "false")
        for key, value in (config or {}).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    if not sc.getCheckpointDir():
        sc.setCheckpointDir(tempfile.mkdtemp(prefix="convrec-spark-checkpoints-"))
    return spark


def ratings_frame(spark: SparkSession, ratings: Ratings,
                  values: NDArray[np.floating] | None = None) -> DataFrame:
    """A Spark DataFrame ``(user int, item int, rating float)`` in index space.

    Args:
        spark: the session.
        ratings: the ratings; their row/column indices become Spark's integer ids.
        values: ``(N,)`` values to use instead of ``ratings.ratings`` (e.g. residuals).

    Returns:
        The DataFrame (built through Arrow, no per-row Python objects).
    """
    import pyarrow as pa

    vals = ratings.ratings if values is None else np.asarray(values, dtype=np.float32)
    if vals.shape != ratings.ratings.shape:
        raise ValueError(f"values must have one entry per rating ({len(ratings)}), "
                         f"got shape {vals.shape}")
    table = pa.table({"user": ratings.users.astype(np.int32),
                      "item": ratings.items.astype(np.int32),
                      "rating": vals.astype(np.float32)})
    return spark.createDataFrame(table)


def _factors(frame: DataFrame, n: int, k: int, what: str) -> NDArray[np.float64]:
    """Collect Spark's ``(id, features)`` rows into ``(n, k)``; missing ids stay 0."""
    rows = frame.collect()
    out = np.zeros((n, k))
    if rows:
        ids = np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows))
        out[ids] = np.asarray([r["features"] for r in rows], dtype=np.float64)
    if not np.isfinite(out).all():
        raise ValueError(f"Spark returned non-finite {what} factors; lower reg or iterations")
    return out


def fit_spark_als(
    ratings: Ratings,
    values: NDArray[np.floating] | None = None,
    *,
    factors: int = 10,
    reg: float = 0.1,
    iterations: int = 10,
    implicit: bool = False,
    alpha: float = 1.0,
    seed: int = 0,
    master: str | None = None,
    checkpoint_interval: int = 5,
    session: SparkSession | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fit Spark MLlib ALS and return ``(user factors (n_users, k), item factors (n_items, k))``.

    Args:
        ratings: training ratings (ids already mapped to indices).
        values: the values Spark fits (default ``ratings.ratings``; residuals for biased ALS,
            ones for implicit feedback).
        factors: ``rank``.
        reg: ``regParam`` (Spark multiplies it by each row's rating count).
        iterations: ``maxIter``.
        implicit: ``implicitPrefs`` (Hu, Koren & Volinsky's confidence model).
        alpha: confidence scale for implicit feedback.
        seed: Spark's random seed.
        master: Spark master URL when no session is active (default ``local[*]``).
        checkpoint_interval: checkpoint the factors every so many iterations (≥ 1).
        session: use this SparkSession instead of the active or a new one.

    Returns:
        Float64 factor arrays in index order; rows of users or items without ratings are 0.
    """
    if checkpoint_interval < 1:
        raise ValueError(f"checkpoint_interval must be >= 1, got "
                         f"checkpoint_interval={checkpoint_interval}")
    if ratings.n_users >= 2**31 or ratings.n_items >= 2**31:
        raise ValueError(f"Spark ALS needs fewer than 2**31 users and items, got "
                         f"{ratings.n_users} users and {ratings.n_items} items")
    spark = session or spark_session(master)
    from pyspark.ml.recommendation import ALS as SparkALS  # noqa: N811

    frame = ratings_frame(spark, ratings, values)
    params: dict[str, Any] = {
        "rank": factors, "maxIter": iterations, "regParam": reg, "implicitPrefs": implicit,
        "alpha": alpha, "seed": seed, "userCol": "user", "itemCol": "item",
        "ratingCol": "rating", "coldStartStrategy": "drop",
        "checkpointInterval": checkpoint_interval,
    }
    model = SparkALS(**params).fit(frame)
    user = _factors(model.userFactors, ratings.n_users, factors, "user")
    item = _factors(model.itemFactors, ratings.n_items, factors, "item")
    return user, item
