"""Convolution as matrix multiplication: im2col and the Toeplitz matrix agree with conv2d."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from convrec.conv import conv2d, conv_matrix, conv_transpose_via_matrix, im2col, top_edge


@pytest.mark.parametrize(("stride", "padding", "dilation"), [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_matrix_times_flat_input_equals_conv2d(
    stride: int, padding: int, dilation: int
) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 6)).astype(np.float32)
    k = rng.standard_normal((3, 3)).astype(np.float32)
    m = conv_matrix(k, x.shape, stride, padding, dilation)
    expected = conv2d(x, k, stride=stride, padding=padding, dilation=dilation)
    assert m.shape == (expected.size, x.size)
    np.testing.assert_allclose(m @ x.ravel(), expected.ravel(), atol=1e-5)


def test_paper_example_4x4_input_3x3_kernel_gives_4x16_matrix() -> None:
    m = conv_matrix(top_edge, (4, 4))
    assert isinstance(m, np.ndarray) and m.shape == (4, 16)
    assert np.count_nonzero(m) == 4 * 6  # top_edge has 6 non-zero taps


def test_large_conv_matrix_is_sparse() -> None:
    m = conv_matrix(top_edge, (64, 64))
    assert sp.issparse(m) and m.shape == (62 * 62, 64 * 64)
    x = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    np.testing.assert_allclose(m @ x.ravel(), conv2d(x, top_edge).ravel(), atol=1e-4)


def test_im2col_matches_torch_unfold_and_gives_conv_by_one_gemm() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    cols = im2col(x, (3, 2), stride=(2, 1), padding=1)
    ref = F.unfold(torch.from_numpy(x), (3, 2), padding=1, stride=(2, 1)).numpy()
    np.testing.assert_array_equal(cols, ref)
    out = w.reshape(4, -1) @ cols  # (N, O, L)
    expected = conv2d(x, w, stride=(2, 1), padding=1)
    np.testing.assert_allclose(out.reshape(expected.shape), expected, atol=1e-5)


def test_unbatched_im2col_shape() -> None:
    assert im2col(np.zeros((4, 4)), 3).shape == (9, 4)


def test_transposed_convolution_is_the_transpose_of_the_conv_matrix() -> None:
    rng = np.random.default_rng(3)
    k = rng.standard_normal((3, 3)).astype(np.float32)
    y = rng.standard_normal((3, 3)).astype(np.float32)
    for input_hw, output_padding in (((5, 5), 0), ((6, 6), 1)):  # the floor's two pre-images
        got = conv_transpose_via_matrix(y, k, input_hw, stride=2, padding=1)
        expected = F.conv_transpose2d(
            torch.from_numpy(y)[None, None],
            torch.from_numpy(k)[None, None],
            stride=2,
            padding=1,
            output_padding=output_padding,
        )[0, 0].numpy()
        np.testing.assert_allclose(got, expected, atol=1e-5)
