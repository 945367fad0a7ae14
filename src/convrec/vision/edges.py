"""Edges as features: fastai's four hand-made kernels on MNIST, and what they buy a linear model.

Chapter 13's walk-through: a batch ``(64, 1, 28, 28)`` convolved with the four edge kernels
(``left``, ``top``, ``diag1``, ``diag2``; :func:`convrec.conv.edge_weights`) gives
``(64, 4, 26, 26)``: ``(28 - 3)//1 + 1 = 26`` per side (no padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.conv import EDGE_KERNEL_NAMES, edge_weights

if TYPE_CHECKING:
    import torch

    from convrec.vision.mnist import MnistData

__all__ = [
    "FeatureComparison",
    "compare_features",
    "edge_features",
    "edge_figure",
    "pooled_edge_features",
]


def edge_features(batch: torch.Tensor | NDArray[Any]) -> torch.Tensor:
    """The four edge maps of every digit in a batch.

    Shape:
        ``batch``: ``(N, 1, H, W)`` float (a tensor or array; uint8 is scaled to [0, 1]).
        Returns a float32 tensor ``(N, 4, H-2, W-2)``: channel order ``left_edge, top_edge,
        diag1_edge, diag2_edge``; ``(64, 1, 28, 28)`` → ``(64, 4, 26, 26)``.
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(batch)
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(
            f"batch must be (N, 1, H, W) grayscale, got shape {tuple(x.shape)}; a grayscale MNIST "
            "batch has one channel (add it with x[:, None])"
        )
    if x.shape[2] < 3 or x.shape[3] < 3:
        raise ValueError(f"batch images must be at least 3×3 for 3×3 kernels, got {tuple(x.shape)}")
    w = torch.from_numpy(edge_weights())  # (4, 1, 3, 3)
    return F.conv2d(x.to(torch.float32), w)  # (N, 4, H-2, W-2)


def pooled_edge_features(images: NDArray[np.uint8], pool: int = 2, chunk: int = 4096) -> NDArray[
    np.float32
]:
    """Engineered features for a linear model: edge maps split by sign, then average-pooled.

    Each of the four maps is split into its positive and negative part (ReLU of ``m`` and of
    ``-m``: "dark above light" is not "light above dark"), then average-pooled ``pool × pool``.

    Shape:
        ``images`` uint8 ``(N, 28, 28)`` → float32 ``(N, 8 * (26 // pool)**2)``; with
        ``pool=2``: ``(N, 8 * 13 * 13) = (N, 1352)``.
    """
    import torch
    import torch.nn.functional as F

    if pool < 1:
        raise ValueError(f"pool must be >= 1, got pool={pool}")
    out: list[NDArray[np.float32]] = []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            part = np.require(images[i : i + chunk], np.uint8, ["C", "W"])  # (B, 28, 28)
            x = torch.from_numpy(part)[:, None]  # (B, 1, 28, 28)
            e = edge_features(x)  # (B, 4, 26, 26)
            signed = torch.cat([F.relu(e), F.relu(-e)], dim=1)  # (B, 8, 26, 26)
            pooled = F.avg_pool2d(signed, pool)  # (B, 8, 26//pool, 26//pool)
            out.append(pooled.flatten(1).numpy())  # (B, 8*(26//pool)**2)
    return np.concatenate(out) if out else np.zeros((0, 8 * (26 // pool) ** 2), np.float32)


@dataclass(frozen=True)
class FeatureComparison:
    """Test accuracy of one linear classifier on raw pixels and on pooled edge features."""

    n_train: int
    n_test: int
    pixel_accuracy: float
    edge_accuracy: float
    pixel_features: int
    edge_features: int
    model: str

    def lines(self) -> list[str]:
        return [
            f"{self.model}, trained on {self.n_train:,} digits, tested on {self.n_test:,}",
            f"raw pixels    ({self.pixel_features:>5} features): {self.pixel_accuracy:.2%}",
            f"pooled edges  ({self.edge_features:>5} features): {self.edge_accuracy:.2%}",
        ]


def compare_features(
    data: MnistData, n_train: int | None = 10_000, pool: int = 2, seed: int = 0,
    max_iter: int = 100, n_test: int | None = None,
) -> FeatureComparison:
    """Fit the same linear classifier (scikit-learn logistic regression) twice.

    Once on raw pixels scaled to [0, 1] (784 features) and once on
    :func:`pooled_edge_features`, then score both on the whole valid split.

    Args:
        n_train: train digits to use (a seeded random subset); ``None`` for all.
        n_test: score on the first ``n_test`` valid digits; ``None`` for all.
        max_iter: L-BFGS iterations (100 is near convergence on [0, 1] features).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    images, labels = data.train_images, data.train_labels
    if n_train is not None:
        if n_train < 10:
            raise ValueError(f"n_train must be at least 10, got n_train={n_train}")
        take = np.random.default_rng(seed).permutation(len(labels))[:n_train]
        images, labels = images[take], labels[take]
    test_x, test_y = data.valid_images[:n_test], data.valid_labels[:n_test]

    def fit_score(train_f: NDArray[np.float32], test_f: NDArray[np.float32]) -> float:
        clf = LogisticRegression(max_iter=max_iter, C=1.0)
        # one BLAS thread: on a shared 2-core machine threaded OpenBLAS spins and runs ~30×
        # slower on these small matrices
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(train_f, labels)
        return float(clf.score(test_f, test_y))

    raw_train = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)  # (n, 784)
    raw_test = test_x.reshape(len(test_x), -1).astype(np.float32) / np.float32(255)  # (m, 784)
    edge_train = pooled_edge_features(images, pool)  # (n, 8*(26//pool)**2)
    edge_test = pooled_edge_features(test_x, pool)
    return FeatureComparison(
        n_train=len(labels), n_test=len(test_y),
        pixel_accuracy=fit_score(raw_train, raw_test),
        edge_accuracy=fit_score(edge_train, edge_test),
        pixel_features=raw_train.shape[1], edge_features=edge_train.shape[1],
        model=f"LogisticRegression(max_iter={max_iter})",
    )


def edge_figure(batch: torch.Tensor | NDArray[Any], path: str | Path, rows: int = 8) -> Path:
    """A PNG grid: ``rows`` digits, each followed by its four edge maps (red +, blue −).

    Shape:
        ``batch``: ``(N, 1, 28, 28)``; the figure shows ``min(N, rows)`` rows × 5 columns.
    """
    from convrec.vision.feature_maps import feature_map_grid

    maps = edge_features(batch).numpy()  # (N, 4, 26, 26)
    images = np.asarray(batch, dtype=np.float32)[:, 0]  # (N, 28, 28)
    return feature_map_grid(images, maps, list(EDGE_KERNEL_NAMES), path, max_rows=rows)
