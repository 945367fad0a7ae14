"""Figures of MNIST models (matplotlib, PNG): confusion matrix, learned vs hand-made kernels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from convrec.vision.colours import DIVERGING_CMAP, diverging_bound

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

__all__ = ["confusion_figure", "draw_kernels", "kernels_figure", "new_figure", "predictions_figure"]


def new_figure(
    width: float, height: float,
    layout: Literal["constrained", "compressed", "tight"] | None = "constrained",
) -> Any:
    """A matplotlib ``Figure`` on its own Agg canvas: the object API, no pyplot state and no
    global backend switch (so a notebook's backend is left alone and threads are safe)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def confusion_figure(confusion: NDArray[np.int64], path: str | Path, title: str = "") -> Path:
    """Save a 10×10 confusion matrix (rows: actual digit, columns: predicted) as a PNG."""
    confusion = np.asarray(confusion)
    if confusion.shape != (10, 10):
        raise ValueError(f"confusion must be (10, 10), got {confusion.shape}")
    fig = new_figure(6, 5.5)
    ax = fig.subplots()
    shown = np.log1p(confusion)  # log scale so that the few errors are visible
    ax.imshow(shown, cmap="Blues")
    for i in range(10):
        for j in range(10):
            v = int(confusion[i, j])
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > shown.max() * 0.6 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    acc = np.trace(confusion) / max(1, confusion.sum())
    ax.set_title(title or f"confusion matrix, accuracy {acc:.2%}")
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path


def draw_kernels(model: nn.Module, max_kernels: int = 32) -> Figure:
    """The learned first-layer kernels (top rows) next to fastai's four edge kernels (bottom),
    as a matplotlib ``Figure`` (a notebook shows it; :func:`kernels_figure` saves it).

    Shape:
        the first ``Conv2d``'s weight ``(C, 1, k, k)``; up to ``max_kernels`` are drawn, each
        with its own symmetric colour scale (red +, blue −).
    """
    from convrec.conv import EDGE_KERNEL_NAMES, edge_kernels
    from convrec.vision.models import first_conv

    weight = first_conv(model).weight.detach().cpu().numpy()  # (C, C_in, k, k)
    learned = weight[:max_kernels, 0]  # (C', k, k)
    cols = 8
    learned_rows = -(-len(learned) // cols)
    fig: Figure = new_figure(cols * 1.2, (learned_rows + 1) * 1.35 + 0.3)
    axes = fig.subplots(learned_rows + 1, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)

    def show(ax: Any, k: NDArray[Any], title: str) -> None:
        bound = diverging_bound(k)  # the one diverging scale (vision.colours)
        ax.imshow(k, cmap=DIVERGING_CMAP, vmin=-bound, vmax=bound)
        ax.set_title(title, fontsize=7)
        ax.set_frame_on(True)

    for i, k in enumerate(learned):
        show(axes[i // cols, i % cols], k, f"learned {i}")
    for i, (name, k) in enumerate(zip(EDGE_KERNEL_NAMES, edge_kernels, strict=True)):
        show(axes[learned_rows, i], k, name)
    fig.suptitle(f"first layer: {weight.shape[0]} learned {weight.shape[2]}×{weight.shape[3]} "
                 "kernels (top) vs fastai's hand-made 3×3 edge kernels (bottom)", fontsize=9)
    return fig


def kernels_figure(model: nn.Module, path: str | Path, max_kernels: int = 32) -> Path:
    """Save :func:`draw_kernels` as a PNG at ``path``.

    Shape:
        the first ``Conv2d``'s weight ``(C, 1, k, k)``.
    """
    path = Path(path)
    draw_kernels(model, max_kernels).savefig(path, dpi=100)
    return path


def predictions_figure(
    originals: Sequence[NDArray[Any]], inputs: Sequence[NDArray[np.uint8]],
    titles: Sequence[str], path: str | Path, columns: int = 6,
) -> Path:
    """Each user image above the 28×28 input the model saw, titled with the prediction; many
    images wrap into a grid of ``columns`` (each cell: the image, then the model's input)."""
    if not (len(originals) == len(inputs) == len(titles)) or not originals:
        raise ValueError("originals, inputs and titles must be non-empty and of the same length")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got columns={columns}")
    n = len(originals)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig = new_figure(2 * cols, 4 * rows)
    axes = fig.subplots(2 * rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for i in range(n):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        top.imshow(originals[i], cmap="gray")
        top.set_title(titles[i], fontsize=8)
        bottom.imshow(inputs[i], cmap="gray", vmin=0, vmax=255)
        bottom.set_title("model input 28×28", fontsize=7)
    path = Path(path)
    fig.savefig(path, dpi=100)
    return path
