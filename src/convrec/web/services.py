"""The models and datasets the studio serves, loaded once and shared by every request.

The digit classifier and the recommender come from :mod:`convrec.vision` and
:mod:`convrec.recsys` (their ``get_default_*`` functions load a saved model or train one on
first start, with a progress bar). Tests pass small ready-made objects instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convrec.settings import Settings

__all__ = ["ServiceUnavailableError", "Services"]


class ServiceUnavailableError(RuntimeError):
    """A model or dataset the request needs cannot be loaded; the message says why (HTTP 503)."""


Loader = Callable[[], Any]


class _Lazy:
    """A value built once, on first use, under a lock; a failure is remembered and re-raised."""

    def __init__(self, what: str, loader: Loader | None, value: Any = None) -> None:
        self.what = what
        self.loader = loader
        self.value = value
        self.error: str | None = None
        self.lock = threading.Lock()

    def get(self) -> Any:
        if self.value is not None:
            return self.value
        with self.lock:
            if self.value is None:
                if self.error is not None:
                    raise ServiceUnavailableError(self.error)
                if self.loader is None:
                    raise ServiceUnavailableError(
                        f"the {self.what} is not configured in this studio"
                    )
                try:
                    self.value = self.loader()
                except Exception as exc:
                    self.error = f"the {self.what} could not be loaded: {exc}"
                    raise ServiceUnavailableError(self.error) from exc
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

    @classmethod
    def defaults(cls, settings: Settings, progress: bool = False) -> Services:
        """Services loading the default models through ``convrec.vision`` and ``convrec.recsys``."""

        def load_classifier() -> Any:
            from convrec.vision import get_default_classifier  # type: ignore[attr-defined]

            return get_default_classifier(
                settings=settings, data_dir=settings.data_dir, progress=progress
            )

        def load_recommender() -> Any:
            from convrec.recsys import get_default_recommender  # type: ignore[attr-defined]

            return get_default_recommender(
                settings=settings, data_dir=settings.data_dir, progress=progress
            )

        def load_mnist() -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
            from convrec.data.mnist import load_mnist_idx

            return load_mnist_idx(
                "test", data_dir=settings.data_dir, settings=settings,
                download=not settings.offline,
            )

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


def _recommender_title(recommender: Any, movie_id: int) -> str | None:
    """A title from the recommender's movie metadata (``None`` for an unknown id)."""
    raise ServiceUnavailableError("movie metadata is not available yet")
