"""The playground's and ``conv animate``'s numbers, checked against PyTorch (an independent
reference): padded grids against ``F.pad``, every window's products against ``F.conv2d``,
the transposed view against ``F.conv_transpose2d``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convrec.conv import PADDING_MODES
from convrec.conv.shapes import ShapeError
from convrec.conv.sliding import CELL_INPUT, CELL_INSERTED, CELL_PADDING, slide, slide_transposed

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}


def _torch_conv(x: np.ndarray, k: np.ndarray, mode: str, pads: tuple[int, int, int, int],
                stride: int, dilation: int) -> np.ndarray:
    top, bottom, left, right = pads
    xt = torch.from_numpy(x)[None]  # (1, C, H, W)
    if mode == "symmetric":  # torch has no symmetric mode: NumPy's is the reference
        xt = torch.from_numpy(np.pad(x, ((0, 0), (top, bottom), (left, right)), "symmetric"))[None]
    else:
        xt = F.pad(xt, (left, right, top, bottom), mode=TORCH_MODE[mode])
    return F.conv2d(xt, torch.from_numpy(k)[None], stride=stride, dilation=dilation)[0, 0].numpy()


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize(("k", "stride", "padding", "dilation"),
                         [(3, 1, 1, 1), (2, 2, 1, 1), (5, 2, 2, 1), (3, 1, 2, 2), (4, 3, 3, 1),
                          (1, 2, 0, 1), (7, 1, 3, 1)])
def test_every_window_sums_to_the_torch_output(
    mode: str, k: int, stride: int, padding: int, dilation: int
) -> None:
    rng = np.random.default_rng(k * 100 + stride * 10 + padding)
    x = rng.random((3, 8, 9))
    w = rng.normal(size=(3, k, k))
    s = slide(x, w, stride=stride, padding=padding, dilation=dilation, padding_mode=mode)
    pads = (padding,) * 4
    expected = _torch_conv(x, w, mode, pads, stride, dilation)
    np.testing.assert_allclose(s.output, expected, atol=1e-9)
    assert s.grid.shape == (3, 8 + 2 * padding, 9 + 2 * padding)
    for i in range(s.output.shape[0]):
        for j in range(s.output.shape[1]):
            assert s.products(i, j).sum() == pytest.approx(expected[i, j], abs=1e-9)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_the_padding_holds_the_modes_actual_values(mode: str) -> None:
    x = np.arange(20.0).reshape(4, 5)
    s = slide(x, np.ones((3, 3)), padding=2, padding_mode=mode)
    expected = F.pad(torch.from_numpy(x)[None, None], (2, 2, 2, 2), mode=mode)[0].numpy()
    np.testing.assert_array_equal(s.grid, expected)
    # each grid cell names the input pixel it copies
    np.testing.assert_array_equal(s.grid[0], x[np.ix_(s.source_rows, s.source_cols)])
    assert (s.cell_kind == CELL_PADDING).sum() == 8 * 9 - 20


def test_symmetric_repeats_the_edge_and_zeros_have_no_source() -> None:
    x = np.array([[1.0, 2.0, 3.0]])
    sym = slide(x, np.ones((1, 1)), padding=(0, 0, 2, 2), padding_mode="symmetric")
    assert sym.grid[0, 0].tolist() == [2, 1, 1, 2, 3, 3, 2]  # b a | a b c | c b
    zeros = slide(x, np.ones((1, 1)), padding=1)
    assert zeros.source_cols.tolist() == [-1, 0, 1, 2, -1]
    assert (zeros.cell_kind == CELL_INPUT).sum() == 3


def test_true_convolution_flips_the_kernel_like_scipy() -> None:
    from scipy.signal import convolve2d

    rng = np.random.default_rng(1)
    x, w = rng.random((6, 7)), rng.normal(size=(3, 2))
    s = slide(x, w, padding="full", flip=True)
    np.testing.assert_allclose(s.output, convolve2d(x, w, mode="full"), atol=1e-12)
    np.testing.assert_array_equal(s.kernel[0], w[::-1, ::-1])


def test_windows_taps_follow_stride_and_dilation() -> None:
    s = slide(np.zeros((9, 9)), np.ones((3, 3)), stride=2, dilation=2)
    assert s.window_origin(1, 2) == (2, 4)
    assert s.taps(1, 2)[:, :, 0][:, 0].tolist() == [2, 4, 6]  # rows 2, 4, 6
    assert s.taps(1, 2)[0, :, 1].tolist() == [4, 6, 8]
    with pytest.raises(ShapeError, match="outside the 3×3 output"):
        s.window(3, 0)


def test_same_with_stride_two_explains_its_asymmetric_padding() -> None:
    s = slide(np.zeros((28, 28)), np.ones((3, 3)), stride=2, padding="same")
    assert s.pads == (0, 1, 0, 1) and s.output.shape == (14, 14)
    assert "1 is odd, so 0 goes before and 1 after" in s.padding_note
    assert slide(np.zeros((5, 5)), np.ones((3, 3)), padding="same").padding_note == ""


def test_rgb_sums_over_the_three_channels() -> None:
    rng = np.random.default_rng(2)
    x, w = rng.random((3, 5, 5)), rng.normal(size=(3, 3, 3))
    s = slide(x, w, padding=1)
    per_channel = sum(slide(x[c], w[c], padding=1).output for c in range(3))
    np.testing.assert_allclose(s.output, per_channel, atol=1e-12)
    assert s.products(2, 2).shape == (3, 3, 3)
    with pytest.raises(ShapeError, match="3×kH×kW kernel"):
        slide(x, w[:2])


@pytest.mark.parametrize(("k", "stride", "padding", "dilation", "output_padding"),
                         [(3, 1, 0, 1, 0), (3, 2, 1, 1, 1), (3, 2, 0, 1, 0), (4, 3, 1, 1, 2),
                          (3, 1, 1, 2, 1), (2, 2, 2, 1, 0), (5, 2, 2, 1, 1)])
def test_transposed_view_equals_conv_transpose2d(
    k: int, stride: int, padding: int, dilation: int, output_padding: int
) -> None:
    rng = np.random.default_rng(k + stride + padding)
    x, w = rng.random((3, 4, 5)), rng.normal(size=(3, k, k))
    s = slide_transposed(x, w, stride, padding, dilation, output_padding)
    expected = F.conv_transpose2d(
        torch.from_numpy(x)[None], torch.from_numpy(w)[:, None], stride=stride, padding=padding,
        output_padding=output_padding, dilation=dilation,
    )[0, 0].numpy()
    np.testing.assert_allclose(s.output, expected, atol=1e-9)
    assert (s.rows.result, s.cols.result) == expected.shape
    i, j = expected.shape[0] - 1, expected.shape[1] // 2
    assert s.products(i, j).sum() == pytest.approx(expected[i, j], abs=1e-9)


def test_transposed_grid_inserts_stride_minus_one_zeros() -> None:
    s = slide_transposed(np.ones((2, 2)), np.ones((3, 3)), stride=2, padding=0)
    # 2×2 input, one zero between pixels, k - 1 = 2 zeros around: 7×7
    assert s.grid.shape == (1, 7, 7)
    assert s.grid[0, 2].tolist() == [0, 0, 1, 0, 1, 0, 0]
    assert s.cell_kind[2, 3] == CELL_INSERTED and s.cell_kind[2, 2] == CELL_INPUT
    assert s.source_rows.tolist() == [-1, -1, 0, -1, 1, -1, -1]
    with pytest.raises(ShapeError, match="output_padding must be smaller"):
        slide_transposed(np.ones((2, 2)), np.ones((3, 3)), stride=2, output_padding=2)


def test_impossible_and_unknown_settings_are_one_clear_error() -> None:
    with pytest.raises(ShapeError, match="must fit"):
        slide(np.zeros((2, 2)), np.ones((5, 5)))
    with pytest.raises(ValueError, match="padding size should be less than"):
        slide(np.zeros((2, 6)), np.ones((3, 3)), padding=2, padding_mode="reflect")
    with pytest.raises(ValueError, match="wrap around more than once"):
        slide(np.zeros((2, 6)), np.ones((3, 3)), padding=3, padding_mode="symmetric")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        slide(np.zeros((4, 4)), np.ones((3, 3)), padding_mode="mirror")
