"""MNIST in its original IDX files: registry entry, checksum check and reader of the four files.

A local folder may hold the files as published (``train-images-idx3-ubyte.gz``) or unzipped
(``train-images-idx3-ubyte``, or Kaggle's ``train-images.idx3-ubyte``). Every local folder is
checked against MNIST's sha256 values (the registry's for the ``.gz`` files, :data:`RAW_SHA256`
for the unzipped ones), so a folder of another IDX dataset is never reported as MNIST: reading
it through :func:`load_mnist_idx` is an error that names it as "unknown IDX data", and
:func:`describe_idx_folder` names it for ``--source`` (which trains on any IDX dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IdxFormatError, read_idx
from convrec.data.registry import (
    DatasetEntry,
    DatasetNotFoundError,
    FileSpec,
    locate,
    register,
    sha256_of,
)
from convrec.settings import Settings, resolve_settings

__all__ = [
    "MNIST",
    "MNIST_FILES",
    "RAW_SHA256",
    "IdxFolder",
    "MnistChecksumError",
    "describe_idx_folder",
    "find_idx_files",
    "find_mnist_folder",
    "load_mnist_idx",
    "read_mnist_split",
]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: sha256 of the four files once unzipped (the registry holds those of the ``.gz`` files).
RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
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


class MnistChecksumError(DatasetNotFoundError):
    """A local folder with the MNIST file names but other contents; the message names it."""


def _variants(gz_name: str) -> tuple[str, ...]:
    """The names one MNIST file may have locally: as published, unzipped, Kaggle's spelling."""
    raw = gz_name.removesuffix(".gz")  # train-images-idx3-ubyte
    kaggle = raw.replace("-idx", ".idx")  # train-images.idx3-ubyte
    return gz_name, raw, kaggle, kaggle + ".gz", raw + ".idx"


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four MNIST-named IDX files in ``folder`` (``.gz`` or raw), keyed by the published
    ``.gz`` name, or ``None`` when any is missing."""
    found: dict[str, Path] = {}
    for pair in MNIST_FILES.values():
        for name in pair:
            path = next((folder / v for v in _variants(name) if (folder / v).is_file()), None)
            if path is None:
                return None
            found[name] = path
    return found


def _expected_sha(published: str, path: Path) -> str:
    if path.name.endswith(".gz"):
        return next(f.sha256 for f in MNIST.files if f.name == published)
    return RAW_SHA256[published.removesuffix(".gz")]


@dataclass(frozen=True)
class IdxFolder:
    """What a folder of four MNIST-named IDX files holds.

    Attributes:
        folder: the folder.
        files: the four files, keyed by MNIST's published ``.gz`` names.
        is_mnist: every file has MNIST's sha256.
        mismatch: the first file whose sha256 differs, with both values (``None`` for MNIST).
    """

    folder: Path
    files: dict[str, Path]
    is_mnist: bool
    mismatch: tuple[Path, str, str] | None = None

    @property
    def name(self) -> str:
        """``"MNIST"`` or ``"unknown IDX data"``: what the folder holds, in words."""
        return "MNIST" if self.is_mnist else "unknown IDX data"


def describe_idx_folder(folder: Path) -> IdxFolder | None:
    """Check a folder's four MNIST-named IDX files against MNIST's sha256 values.

    Returns ``None`` when the folder lacks any of the four files.
    """
    files = find_idx_files(folder)
    if files is None:
        return None
    for published, path in files.items():
        expected = _expected_sha(published, path)
        got = sha256_of(path)
        if got != expected:
            return IdxFolder(folder, files, False, (path, got, expected))
    return IdxFolder(folder, files, True)


def _checked(folder: Path, how: str) -> Path:
    info = describe_idx_folder(folder)
    assert info is not None  # callers pass folders where find_idx_files succeeded
    if not info.is_mnist and info.mismatch is not None:
        path, got, expected = info.mismatch
        images = read_idx(info.files[MNIST_FILES["train"][0]], IMAGES_MAGIC)
        raise MnistChecksumError(
            f"{how} {folder}: {path.name} is not MNIST's (sha256 {got[:12]}…, MNIST's is "
            f"{expected[:12]}…): unknown IDX data ({len(images):,} train images of "
            f"{'×'.join(map(str, images.shape[1:]))}). Fix: to train on it anyway pass "
            f"--source {folder}; for MNIST, point --data-dir or CONVREC_DATA at a folder "
            "holding the original mnist/ files"
        )
    return folder


def find_mnist_folder(
    data_dir: Path | str | None = None, settings: Settings | None = None, download: bool = True
) -> Path:
    """The folder holding MNIST's four files, checked against their sha256 values.

    Looks in ``--data-dir`` (``DIR/mnist`` or ``DIR`` itself; ``data_dir`` is a notebook's
    shortcut for it, folded into ``settings``), else ``$CONVREC_DATA/mnist``, then the cache;
    downloads (verified) when allowed. Unzipped files are accepted beside ``.gz`` ones.

    Raises:
        DatasetNotFoundError: ``--data-dir`` does not exist or holds no MNIST (an explicit
            folder never falls back to anything else); nothing local and no download (the
            message says which folders were searched and where each came from).
        MnistChecksumError: a folder with MNIST's file names but other contents.
    """
    settings = resolve_settings(settings, data_dir)
    root = settings.explicit_data_dir
    if root is not None:
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"--data-dir {root} does not exist. Fix: pass a folder holding mnist/ "
                "(the four IDX files, .gz or unzipped)"
            )
        for folder in (root / MNIST.folder, root):
            if find_idx_files(folder) is not None:
                return _checked(folder, "--data-dir")
        raise DatasetNotFoundError(
            f"--data-dir {root} has no MNIST: expected {root / MNIST.folder}/ holding "
            f"{', '.join(n for pair in MNIST_FILES.values() for n in pair)} (.gz or unzipped; "
            f"looked in {root / MNIST.folder} and {root}). Fix: pass the folder holding mnist/"
        )
    if settings.data_dir is not None and find_idx_files(settings.data_dir / MNIST.folder):
        return _checked(settings.data_dir / MNIST.folder,
                        settings.data_dir_origin or "the data folder")
    cache = settings.cache_dir / "data" / MNIST.folder
    if find_idx_files(cache) is not None:
        return _checked(cache, "the cache folder")
    return locate("mnist", settings=settings, download=download)  # verified download


def read_mnist_split(folder: Path, split: str) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Read one split (``"train"`` or ``"test"``) of an MNIST-named IDX folder (any dataset).

    Returns:
        ``images`` uint8 ``(N, H, W)`` and ``labels`` int64 ``(N,)``.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got split={split!r}")
    files = find_idx_files(Path(folder))
    img_name, lbl_name = MNIST_FILES[split]
    if files is None:
        raise DatasetNotFoundError(
            f"{folder}: no {img_name} and {lbl_name} (.gz or unzipped) in this folder"
        )
    images = read_idx(files[img_name], IMAGES_MAGIC)
    labels = read_idx(files[lbl_name], LABELS_MAGIC)
    if images.ndim != 3:
        raise IdxFormatError(f"{files[img_name]}: expected 3 dims (N, H, W), got {images.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{folder}: {img_name} has {len(images)} images but {lbl_name} has {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{files[lbl_name]}: label {int(labels.max())} is not a digit 0-9")
    return images, labels.astype(np.int64)


def load_mnist_idx(
    split: str = "train",
    data_dir: Path | str | None = None,
    settings: Settings | None = None,
    download: bool = True,
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Find MNIST (see :func:`find_mnist_folder`: checked local folder, cache or verified
    download) and read one split: uint8 ``(N, 28, 28)``, int64 ``(N,)``."""
    folder = find_mnist_folder(settings=resolve_settings(settings, data_dir), download=download)
    return read_mnist_split(folder, split)
