"""MNIST in its original IDX files: registry entry and reader of the four files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IdxFormatError, read_idx
from convrec.data.registry import DatasetEntry, FileSpec, locate, register
from convrec.settings import Settings

__all__ = ["MNIST", "MNIST_FILES", "load_mnist_idx", "read_mnist_split"]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

MNIST = register(
    DatasetEntry(
        name="mnist",
        folder="mnist",
        files=(
            FileSpec(
                "train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            FileSpec(
                "train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            FileSpec(
                "t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            FileSpec(
                "t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ),
        urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        licence="MNIST by Y. LeCun, C. Cortes and C. Burges (CC BY-SA 3.0).",
    )
)


def read_mnist_split(folder: Path, split: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read one split (``"train"`` or ``"test"``) of an MNIST IDX folder.

    Returns:
        ``images`` uint8 ``(N, 28, 28)`` and ``labels`` int64 ``(N,)``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got split={split!r}")
    img_name, lbl_name = MNIST_FILES[split]
    images = read_idx(folder / img_name, IMAGES_MAGIC)
    labels = read_idx(folder / lbl_name, LABELS_MAGIC)
    if images.ndim != 3:
        raise IdxFormatError(f"{folder / img_name}: expected 3 dims (N, H, W), got {images.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{folder}: {img_name} has {len(images)} images but {lbl_name} has {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{folder / lbl_name}: label {int(labels.max())} is not a digit 0-9")
    return images, labels.astype(np.int64)


def load_mnist_idx(
    split: str = "train",
    data_dir: Path | str | None = None,
    settings: Settings | None = None,
    download: bool = True,
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Locate MNIST (local folder, cache or verified download) and read one split."""
    folder = locate("mnist", data_dir=data_dir, settings=settings, download=download)
    return read_mnist_split(folder, split)
