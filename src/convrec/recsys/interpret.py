"""Interpretation as in fastai's book: learned movie biases and a 2-D PCA map of factors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.base import Recommender
from convrec.recsys.catalog import MovieCatalog

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["bias_extremes", "pca_coordinates", "pca_map_figure", "pca_map_png", "plot_pca_map"]


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


def pca_map_figure(model: Recommender, catalog: MovieCatalog, n_movies: int = 50,
                   coords: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None
                   ) -> Figure:
    """The 2-D PCA map of movie factors, titles as labels, as a matplotlib ``Figure`` built
    with the object API (no pyplot state, no global backend switch: safe in a server thread).

    Args:
        model: the fitted model.
        catalog: the titles of the release it was trained on.
        n_movies: the most-rated movies shown.
        coords: ``(item indices (m,), coords (m, 2))`` from :func:`pca_coordinates` computed
            for at least ``n_movies`` movies (a caller drawing several sizes reuses one SVD).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    top, xy = coords if coords is not None else pca_coordinates(model, n_movies)
    top, xy = top[:n_movies], xy[:n_movies]
    fig = Figure(figsize=(9, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=10, color="#2f6fdd")
    for (x, y), i in zip(xy, top, strict=True):
        title = catalog.title(model.item_ids_[i].item())
        short = title if len(title) <= 32 else title[:31] + "…"
        ax.annotate(short, (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel("first principal component of the movie factors")
    ax.set_ylabel("second principal component")
    ax.set_title(f"the {len(top)} most-rated movies, placed by their learned factors")
    return fig


def pca_map_png(model: Recommender, catalog: MovieCatalog, n_movies: int = 50,
                coords: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None) -> bytes:
    """:func:`pca_map_figure` as PNG bytes (what the studio serves)."""
    import io

    buffer = io.BytesIO()
    pca_map_figure(model, catalog, n_movies, coords).savefig(buffer, format="png")
    return buffer.getvalue()


def plot_pca_map(model: Recommender, catalog: MovieCatalog, path: str | Path,
                 n_movies: int = 50) -> Path:
    """Write :func:`pca_map_figure` to a PNG file (its folder is created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pca_map_png(model, catalog, n_movies))
    return path
