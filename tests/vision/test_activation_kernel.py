"""The one-pass activation statistics agree with torch's own operations on inputs of every kind."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from convrec.vision._activation_kernel import summarise
from convrec.vision.watch import HIST_BINS, HIST_RANGE, NEAR_ZERO, _layer_summary


def torch_reference(x: torch.Tensor) -> tuple[float, float, float, np.ndarray]:
    """What ``ActivationStats`` recorded before the kernel: five torch passes."""
    x = x.float()
    return (float(x.mean()), float(x.std()), float((x.abs() <= NEAR_ZERO).float().mean()),
            torch.histc(x, HIST_BINS, *HIST_RANGE).numpy())


@pytest.mark.parametrize("make", [
    lambda g: torch.relu(torch.randn(512, 8, 14, 14, generator=g)),  # the simple CNN's first ReLU
    lambda g: torch.randn(3, 5, generator=g) * 4,  # negatives, values past the top
    lambda g: torch.rand(100_003, generator=g) * 10,  # not a multiple of 4 or of a task
    lambda g: torch.full((7,), 10.0),  # the top edge goes in the last bin, as histc
    lambda g: torch.arange(41, dtype=torch.float32) * 0.25,  # every bin edge exactly
    lambda g: torch.randn(2, 3, 9, 9, generator=g, dtype=torch.float64) + 1e4,  # large mean
], ids=["relu", "negatives", "odd-length", "top-edge", "bin-edges", "float64-large-mean"])
def test_the_kernel_matches_torch(make: object) -> None:
    g = torch.Generator().manual_seed(0)
    x = make(g)  # type: ignore[operator]
    mean, std, zero, hist = _layer_summary(x)
    ref_mean, ref_std, ref_zero, ref_hist = torch_reference(x)
    assert mean == pytest.approx(ref_mean, rel=1e-6, abs=1e-6)
    assert std == pytest.approx(ref_std, rel=1e-5)
    assert zero == pytest.approx(ref_zero)
    np.testing.assert_array_equal(hist, ref_hist)
    assert hist.dtype == np.float32 and hist.shape == (HIST_BINS,)


def test_channels_last_and_strided_tensors_give_the_same_numbers() -> None:
    x = torch.relu(torch.randn(16, 8, 10, 10, generator=torch.Generator().manual_seed(1)))
    expected = _layer_summary(x)
    for view in (x.contiguous(memory_format=torch.channels_last), x[:, ::2], x.half()):
        got = _layer_summary(view)
        ref = torch_reference(view)
        assert got[0] == pytest.approx(ref[0], rel=1e-5) and got[1] == pytest.approx(ref[1],
                                                                                    rel=1e-4)
        np.testing.assert_array_equal(got[3], ref[3])
    got = _layer_summary(x.contiguous(memory_format=torch.channels_last))
    assert got[:3] == pytest.approx(expected[:3]) and (got[3] == expected[3]).all()


def test_nan_and_inf_are_kept_out_of_the_histogram_and_spoil_the_mean() -> None:
    x = np.array([0.0, 1.0, np.nan, np.inf, -np.inf, 2.0], np.float32)
    mean, std, zero, hist = summarise(x, NEAR_ZERO, *HIST_RANGE, HIST_BINS)
    assert math.isnan(mean) and math.isnan(std)
    assert zero == pytest.approx(1 / 6) and hist.sum() == 3  # 0, 1 and 2; not NaN or ±inf
    finite = np.array([1.0, np.inf], np.float32)
    assert summarise(finite, NEAR_ZERO, *HIST_RANGE, HIST_BINS)[0] == math.inf


def test_one_value_and_no_values() -> None:
    mean, std, zero, hist = summarise(np.array([3.0], np.float32), NEAR_ZERO, 0, 10, HIST_BINS)
    # n - 1 = 0: the std is NaN, as torch.std
    assert mean == 3.0 and math.isnan(std) and zero == 0.0 and hist[12] == 1
    empty = summarise(np.zeros(0, np.float32), NEAR_ZERO, 0, 10, HIST_BINS)
    assert all(math.isnan(v) for v in empty[:3]) and empty[3].sum() == 0
