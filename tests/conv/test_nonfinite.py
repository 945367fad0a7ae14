"""NaN and Inf propagate through every engine exactly as through ``F.conv2d`` (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from convrec.conv import conv2d, edge_weights, functional
from convrec.conv._padding import pad_torch

ENGINES = list(functional.ENGINES)
SPECIALS = (np.nan, np.inf, -np.inf)


@st.composite
def nonfinite_cases(draw: st.DrawFn) -> dict[str, object]:
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(kh, 10)), draw(st.integers(kw, 10))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 3)), c_in, h, w)).astype(np.float32)
    weight = rng.standard_normal((c_out, c_in // groups, kh, kw)).astype(np.float32)
    # zero weights: what the stencil engine used to skip, hiding 0 * NaN and 0 * Inf
    weight[rng.random(weight.shape) < 0.4] = 0.0
    for array, most in ((x, 6), (weight, 2)):
        for _ in range(draw(st.integers(0, most))):
            index = tuple(int(rng.integers(s)) for s in array.shape)
            array[index] = draw(st.sampled_from(SPECIALS))
    mode = draw(st.sampled_from(["zeros", "zeros", "replicate", "circular"]))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    if mode == "circular":  # wraps around at most once, as PyTorch requires
        ph, pw = min(ph, h), min(pw, w)
    return {
        "x": x,
        "w": weight,
        "b": rng.standard_normal(c_out).astype(np.float32) if draw(st.booleans()) else None,
        "stride": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "padding": (ph, pw),
        "groups": groups,
        "mode": mode,
    }


def _torch(case: dict[str, object]) -> np.ndarray:
    ph, pw = case["padding"]  # type: ignore[misc]
    x = pad_torch(torch.from_numpy(case["x"]), (ph, ph, pw, pw), case["mode"])  # type: ignore[arg-type]
    b = case["b"]
    return F.conv2d(
        x, torch.from_numpy(case["w"]),  # type: ignore[arg-type]
        None if b is None else torch.from_numpy(b),  # type: ignore[arg-type]
        case["stride"], 0, 1, case["groups"],  # type: ignore[arg-type]
    ).numpy()


def assert_same_nonfinite(got: np.ndarray, expected: np.ndarray) -> None:
    """NaN where torch has NaN, Inf of the same sign where torch has Inf, close elsewhere."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=25, deadline=None)
@given(case=nonfinite_cases())
def test_nan_and_inf_propagate_as_in_torch(engine: str, case: dict[str, object]) -> None:
    got = conv2d(
        case["x"], case["w"], case["b"], case["stride"], case["padding"],  # type: ignore[arg-type]
        groups=case["groups"], padding_mode=case["mode"], engine=engine,  # type: ignore[arg-type]
    )
    assert_same_nonfinite(got, _torch(case))


@pytest.mark.parametrize("engine", ENGINES)
def test_one_nan_pixel_of_mnist_digits_reaches_its_36_windows(engine: str) -> None:
    # issue 12: the stencil engine gave 22 NaN outputs where torch gives 36 (9 windows × 4)
    # 8 digits instead of 64: the same 36, and the pure-Python direct engine stays quick
    batch = np.random.default_rng(0).random((8, 1, 28, 28), dtype=np.float32)
    batch[5, 0, 10, 10] = np.nan
    got = conv2d(batch, edge_weights(), engine=engine)  # type: ignore[arg-type]
    expected = F.conv2d(torch.from_numpy(batch), torch.from_numpy(edge_weights())).numpy()
    assert int(np.isnan(expected).sum()) == 36
    assert_same_nonfinite(got, expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_one_nan_weight_makes_its_whole_output_channel_nan(engine: str) -> None:
    # issue 12: 0 NaN outputs from the stencil engine. 0 * NaN is NaN, padding zeros included
    # (2 × 6 × 6 = 72 here), as F.conv2d computes on the padded input; F.conv2d's own
    # padding= gives 72 or 50 depending on its backend (oneDNN skips the padding taps).
    x = np.random.default_rng(1).random((2, 1, 6, 6), dtype=np.float32)
    w = edge_weights()
    w[2, 0, 0, 0] = np.nan  # a zero weight of diag1_edge becomes NaN
    got = conv2d(x, w, padding=1, engine=engine)  # type: ignore[arg-type]
    assert int(np.isnan(got).sum()) == 72 and np.isnan(got[:, 2]).all()
    padded = F.pad(torch.from_numpy(x), (1, 1, 1, 1))
    assert_same_nonfinite(got, F.conv2d(padded, torch.from_numpy(w)).numpy())


@pytest.mark.parametrize("engine", ENGINES)
def test_inf_times_a_zero_weight_is_nan_and_opposite_infs_cancel_to_nan(engine: str) -> None:
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 1] = np.inf
    k = np.array([[[[1.0, 0.0], [0.0, 0.0]]]], np.float32)  # the Inf meets the 0s of 3 windows
    got = conv2d(x, k, engine=engine)  # type: ignore[arg-type]
    assert np.isposinf(got[0, 0, 1, 1]) and np.isnan(got[0, 0, :1]).all()
    x[0, 0, 1, 2] = -np.inf
    both = conv2d(x, np.ones((1, 1, 1, 2), np.float32), engine=engine)  # type: ignore[arg-type]
    assert np.isnan(both[0, 0, 1, 1]) and np.isposinf(both[0, 0, 1, 0])
