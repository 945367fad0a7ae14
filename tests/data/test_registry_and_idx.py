"""Dataset registry resolution order and the IDX reader's validation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from convrec.data import DatasetNotFoundError, locate
from convrec.data.idx import IdxFormatError, read_idx, write_idx
from convrec.data.mnist import read_mnist_split
from convrec.settings import get_settings


def test_locate_prefers_data_dir_then_env(shared_data: Path, tmp_path: Path) -> None:
    assert locate("mnist", data_dir=shared_data) == shared_data / "mnist"
    settings = get_settings(data_dir=shared_data)
    assert locate("mnist", settings=settings) == shared_data / "mnist"


def test_locate_offline_without_data_names_the_fixes() -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        locate("mnist")
    message = str(info.value)
    assert "--data-dir" in message and "CONVREC_DATA" in message and "convrec" in message


def test_locate_incomplete_data_dir_lists_missing_files(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"train-images-idx3-ubyte\.gz"):
        locate("mnist", data_dir=tmp_path)


def test_locate_unknown_dataset_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="mnist"):
        locate("imagenet")


def test_real_mnist_matches_the_published_facts(shared_data: Path) -> None:
    images, labels = read_mnist_split(shared_data / "mnist", "test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_idx_round_trip_raw_and_gzip(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, arr)
        assert np.array_equal(read_idx(tmp_path / name), arr)


def test_idx_wrong_magic_truncated_and_trailing_bytes(tmp_path: Path) -> None:
    arr = np.zeros((3, 28, 28), np.uint8)
    write_idx(tmp_path / "img.idx", arr)
    with pytest.raises(IdxFormatError, match="magic number 2051, expected 2049"):
        read_idx(tmp_path / "img.idx", expect_magic=2049)
    blob = (tmp_path / "img.idx").read_bytes()
    (tmp_path / "short.idx").write_bytes(blob[:-10])
    with pytest.raises(IdxFormatError, match=r"short\.idx: truncated"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "long.idx").write_bytes(blob + b"xx")
    with pytest.raises(IdxFormatError, match="trailing bytes"):
        read_idx(tmp_path / "long.idx")
    (tmp_path / "text.idx").write_bytes(b"hello world")
    with pytest.raises(IdxFormatError, match="bad magic number"):
        read_idx(tmp_path / "text.idx")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(blob)[:40])
    with pytest.raises(IdxFormatError, match="gzip"):
        read_idx(tmp_path / "bad.gz")
