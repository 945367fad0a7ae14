"""Figures of feature maps: inputs in the first column, one column per kernel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.vision.colours import DIVERGING_CMAP, diverging_bound

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["draw_feature_maps", "feature_map_grid", "save_map_png"]


def save_map_png(feature_map: NDArray[Any], path: str | Path) -> Path:
    """Save one 2-D map as an 8-bit PNG, scaled so that 0 is mid-grey when signs differ."""
    from PIL import Image

    m = np.asarray(feature_map, dtype=np.float64)
    lo, hi = float(m.min()), float(m.max())
    if lo < 0 < hi:
        bound = max(-lo, hi)
        scaled = (m / bound + 1) / 2
    else:
        scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    path = Path(path)
    Image.fromarray(np.round(scaled * 255).astype(np.uint8)).save(path)
    return path


def draw_feature_maps(
    images: NDArray[Any],
    maps: NDArray[Any],
    kernel_names: Sequence[str],
    titles: Sequence[str] | None = None,
    max_rows: int = 8,
    title: str | None = None,
) -> Figure:
    """A grid, each row an input image followed by its maps (red +, blue −, each map on its
    own symmetric scale), as a matplotlib ``Figure`` (object API: a notebook shows it, a
    server thread can render it; :func:`feature_map_grid` saves it).

    Shape:
        ``images``: ``(N, H, W)``; ``maps``: ``(N, K, H_out, W_out)`` with ``K`` equal to
        ``len(kernel_names)``. At most ``max_rows`` rows are drawn.

    Args:
        titles: one per row (default "input").
        title: the figure's title (default ``(H, W) → (H_out, W_out) per kernel``).
    """
    from convrec.vision.figures import new_figure

    images = np.asarray(images)
    maps = np.asarray(maps)
    if maps.ndim != 4 or images.ndim != 3 or len(images) != len(maps):
        raise ValueError(
            f"expected images (N, H, W) and maps (N, K, H_out, W_out) with the same N, got "
            f"{images.shape} and {maps.shape}"
        )
    if maps.shape[1] != len(kernel_names):
        raise ValueError(f"{maps.shape[1]} maps per image but {len(kernel_names)} kernel names")
    rows = min(len(images), max_rows)
    cols = 1 + maps.shape[1]
    fig: Figure = new_figure(1.6 * cols, 1.6 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        axes[r, 0].imshow(images[r], cmap="gray")
        axes[r, 0].set_title(titles[r] if titles else "input", fontsize=8)
        for k in range(maps.shape[1]):
            m = maps[r, k]
            bound = diverging_bound(m)  # the one diverging scale (vision.colours)
            axes[r, k + 1].imshow(m, cmap=DIVERGING_CMAP, vmin=-bound, vmax=bound)
            if r == 0:
                axes[r, k + 1].set_title(kernel_names[k], fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title or f"{images.shape[1:]} → {maps.shape[2:]} per kernel (red +, blue −)",
                 fontsize=9)
    return fig


def feature_map_grid(
    images: NDArray[Any],
    maps: NDArray[Any],
    kernel_names: Sequence[str],
    path: str | Path,
    titles: Sequence[str] | None = None,
    max_rows: int = 8,
) -> Path:
    """Save :func:`draw_feature_maps` as a PNG at ``path``.

    Shape:
        ``images``: ``(N, H, W)``; ``maps``: ``(N, K, H_out, W_out)``.
    """
    path = Path(path)
    draw_feature_maps(images, maps, kernel_names, titles, max_rows).savefig(path, dpi=100)
    return path
