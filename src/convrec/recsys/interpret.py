"""Interpretation as in fastai's book: learned movie biases and a 2-D PCA map of factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender
from convrec.recsys.catalog import MovieCatalog

__all__ = ["bias_extremes", "pca_coordinates", "plot_pca_map"]


def bias_extremes(model: Recommender, catalog: MovieCatalog, n: int = 5, min_ratings: int = 20
                  ) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The ``n`` movies with the lowest and the highest learned item bias (among movies with
    at least ``min_ratings`` training ratings): "liked less/more than their ratings' users
    would predict"."""
    bias = getattr(model, "item_bias_", None)
    if bias is None:
        raise ValueError(f"{type(model).__name__} has no item biases; use a biased model")
    ok = np.flatnonzero(model.item_counts_ >= min_ratings)
    order = ok[np.argsort(np.asarray(bias)[ok])]
    def pick(idx: NDArray[np.int64]) -> list[tuple[str, float]]:
        return [(catalog.title(model.item_ids_[i].item()), float(bias[i])) for i in idx]
    return pick(order[:n]), pick(order[::-1][:n])


def pca_coordinates(model: Recommender, n_movies: int = 50
                    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The ``n_movies`` most-rated movies and their item vectors projected on the first two
    principal components: ``(item indices (n,), coords (n, 2))``."""
    V = np.asarray(model.item_vectors(), dtype=np.float64)
    V = V - V.mean(axis=0)
    _, _, vt = np.linalg.svd(V, full_matrices=False)
    top = np.argsort(-model.item_counts_, kind="stable")[:n_movies]
    return top.astype(np.int64), V[top] @ vt[:2].T


def plot_pca_map(model: Recommender, catalog: MovieCatalog, path: str | Path,
                 n_movies: int = 50) -> Path:
    """Write a PNG of the 2-D PCA map of movie factors, titles as labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top, xy = pca_coordinates(model, n_movies)
    fig, ax = plt.subplots(figsize=(12, 12))
    ax.scatter(xy[:, 0], xy[:, 1], s=8, color="tab:blue")
    for (x, y), i in zip(xy, top, strict=True):
        ax.annotate(catalog.title(model.item_ids_[i].item()), (x, y), fontsize=8)
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    ax.set_title(f"{type(model).__name__}: movie factors, {n_movies} most-rated movies")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
