"""The movie recommender: ratings with id maps, models behind one interface, evaluation.

Public API (original ids in and out everywhere; users are rows internally)::

    from convrec.recsys import get_default_recommender
    rec = get_default_recommender(settings=None, data_dir=None, progress=True)
        # -> MovieRecommender: loads settings.cache_dir/"models"/ml-100k-bayesian-mf.npz,
        #    or trains BayesianMF on ML-100K (a few seconds) and saves it there
    rec.catalog.get(movie_id) -> MovieInfo(movie_id, title, year, genres)
    rec.catalog.search(query, n=5) -> list[(MovieInfo, score 0..1)]   # fuzzy title search
    rec.catalog.find(query) -> MovieInfo                               # best match or KeyError
    rec.fold_in(ratings: dict[movie_id, rating]) -> np.ndarray         # user vector, < 20 ms
    rec.recommend_for_ratings(ratings, n=10, exclude_seen=True) -> list[ScoredMovie]
        # ScoredMovie(movie_id, title, score, explanation) for a brand-new user
    rec.recommend(user_id, n=10) -> list[ScoredMovie]                  # a known user
    rec.similar_items(movie_id, n=10) -> list[ScoredMovie]             # cosine on item factors

Models (``fit(Ratings) -> self``; ``predict``, ``recommend``, ``similar_items``, ``fold_in``,
``recommend_vector``, ``save``, ``load``): :class:`GlobalMean`, :class:`Biases`,
:class:`ItemKNNBaseline`, :class:`BayesianMF` (the default rating model),
:class:`EmbeddingDotBias` (fastai's, in PyTorch; imported on first use), :class:`Popularity`,
:class:`EASE`, :class:`ImplicitALS`, :class:`ALS` (explicit, biased; ``engine="local"`` or
``"spark"``). Load any saved model with :func:`load_model`.
"""

from __future__ import annotations

from typing import Any

from convrec.recsys.base import (
    MODEL_CLASSES,
    NotFittedError,
    Predictions,
    Recommendation,
    Recommender,
    load_model,
)
from convrec.recsys.catalog import (
    MovieCatalog,
    MovieInfo,
    MovieRecommender,
    ScoredMovie,
    get_default_recommender,
)
from convrec.recsys.models.als import ALS
from convrec.recsys.models.baselines import Biases, GlobalMean
from convrec.recsys.models.bayes import BayesianMF
from convrec.recsys.models.knn import ItemKNNBaseline
from convrec.recsys.models.topn import EASE, ImplicitALS, Popularity
from convrec.recsys.ratings import (
    Ratings,
    leave_last_out_split,
    random_split,
    temporal_split,
)

__all__ = [
    "ALS",
    "EASE",
    "MODEL_CLASSES",
    "BayesianMF",
    "Biases",
    "EmbeddingDotBias",
    "GlobalMean",
    "ImplicitALS",
    "ItemKNNBaseline",
    "MovieCatalog",
    "MovieInfo",
    "MovieRecommender",
    "NotFittedError",
    "Popularity",
    "Predictions",
    "Ratings",
    "Recommendation",
    "Recommender",
    "ScoredMovie",
    "get_default_recommender",
    "leave_last_out_split",
    "load_model",
    "random_split",
    "temporal_split",
]


def __getattr__(name: str) -> Any:
    if name == "EmbeddingDotBias":  # torch is imported only when this model is asked for
        from convrec.recsys.models.torch_mf import EmbeddingDotBias

        return EmbeddingDotBias
    raise AttributeError(f"module 'convrec.recsys' has no attribute {name!r}")
