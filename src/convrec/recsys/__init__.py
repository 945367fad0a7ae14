"""The movie recommender: ratings with id maps, models behind one interface, evaluation.

Public API (original ids in and out everywhere; users are rows internally)::

    from convrec.recsys import load_recommender
    rec = load_recommender(model_path=None, dataset="ml-latest-small", data_dir=None)
        # -> MovieRecommender: the model file's own release decides the titles; without a
        #    file, settings.cache_dir/"models"/<dataset>-hybrid.npz, trained on first use
    rec.parse_ratings(["id:318=5", "amelie=4.5"]) -> {318: 5.0, 4973: 4.5}  # scale-checked
    rec.catalog.get(movie_id) -> MovieInfo(movie_id, title, year, genres)
    rec.catalog.search(query, n=5) -> list[(MovieInfo, score 0..1)]   # [] means no match
    rec.catalog.find(query) -> MovieInfo    # NoMatchError / AmbiguousTitleError (KeyError)
    rec.fold_in(ratings: dict[movie_id, rating]) -> np.ndarray         # user vector, < 20 ms
    rec.recommend_for_ratings(ratings, n=10, exclude_seen=True) -> list[ScoredMovie]
        # ScoredMovie(movie_id, title, score, explanation) for a brand-new user
    rec.recommend(user_id, n=10) -> list[ScoredMovie]                  # a known user
    rec.similar_items(movie_id, n=10) -> list[ScoredMovie]             # cosine on item factors

Models (``fit(Ratings) -> self``; ``predict``, ``recommend``, ``similar_items``, ``fold_in``,
``recommend_vector``, ``save``, ``load``): :class:`Hybrid` (the default, what the CLI, the
studio and the API train and serve: EASE with recency ranks, Bayesian MF gives the ratings
shown), :class:`GlobalMean`, :class:`Biases`, :class:`ItemKNNBaseline`, :class:`BayesianMF`,
:class:`EmbeddingDotBias` (fastai's, in PyTorch; imported on first use), :class:`Popularity`,
:class:`EASE`, :class:`ImplicitALS`, :class:`ALS` (explicit, biased; ``engine="local"`` or
``"spark"``). The model registry (:mod:`convrec.recsys.registry`) names them for the CLI;
load any saved model with :func:`load_model` (:mod:`convrec.recsys.persistence`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

from convrec.recsys.base import (
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
    RecommenderLike,
    ScoredMovie,
    get_default_recommender,
    load_recommender,
)
from convrec.recsys.persistence import ModelFileError, Provenance
from convrec.recsys.ratings import (
    Ratings,
    leave_last_out_split,
    random_split,
    temporal_split,
)
from convrec.recsys.registry import MODELS

__all__ = [
    "ALS",
    "EASE",
    "BayesianMF",
    "Biases",
    "EmbeddingDotBias",
    "GlobalMean",
    "Hybrid",
    "ImplicitALS",
    "ItemKNNBaseline",
    "ModelFileError",
    "MovieCatalog",
    "MovieInfo",
    "MovieRecommender",
    "NotFittedError",
    "Popularity",
    "Predictions",
    "Provenance",
    "Ratings",
    "Recommendation",
    "Recommender",
    "RecommenderLike",
    "ScoredMovie",
    "get_default_recommender",
    "leave_last_out_split",
    "load_model",
    "load_recommender",
    "random_split",
    "temporal_split",
]


#: the model classes, imported on first use (numba and torch load only with a model), so that
#: ``convrec --help`` and the model registry stay light; the registry says where each class
#: lives (PEP 562 via lazy_loader)
_MODEL_HOMES: dict[str, list[str]] = {}
for _spec in MODELS.values():
    _MODEL_HOMES.setdefault(_spec.module.removeprefix(f"{__name__}."), []).append(_spec.class_name)
del _spec
__getattr__, _, _ = lazy_loader.attach(__name__, submod_attrs=_MODEL_HOMES)

if TYPE_CHECKING:
    from convrec.recsys.models.als import ALS
    from convrec.recsys.models.baselines import Biases, GlobalMean
    from convrec.recsys.models.bayes import BayesianMF
    from convrec.recsys.models.hybrid import Hybrid
    from convrec.recsys.models.knn import ItemKNNBaseline
    from convrec.recsys.models.topn import EASE, ImplicitALS, Popularity
    from convrec.recsys.models.torch_mf import EmbeddingDotBias
