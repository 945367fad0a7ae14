"""conv2d: every engine equals torch.nn.functional.conv2d; golden cases; SciPy agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from convrec.conv import PADDING_NAMES, conv2d, edge_weights, functional, top_edge
from convrec.conv.shapes import ShapeError

ENGINES = list(functional.ENGINES)
FIXED_ENGINES = [e for e in ENGINES if e != "auto"]
ATOL = RTOL = 1e-4  # float32, values of order 1 (documented in conv2d's docstring)


# the same values in the memory layouts arrays arrive in: flipped views (``img[::-1]``,
# ``np.flip``) have negative strides, which torch.from_numpy refuses
LAYOUTS = {
    "C order": lambda a: a,
    "negative strides": lambda a: np.ascontiguousarray(a[..., ::-1, ::-1])[..., ::-1, ::-1],
    "Fortran order": np.asfortranarray,
}


@st.composite
def conv_cases(draw: st.DrawFn) -> dict[str, object]:
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(dilation[0] * (kh - 1) + 1, 12))
    w = draw(st.integers(dilation[1] * (kw - 1) + 1, 12))
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    layout = draw(st.sampled_from(list(LAYOUTS)))
    rng = np.random.default_rng(seed)
    return {
        "x": LAYOUTS[layout](rng.standard_normal((n, c_in, h, w)).astype(np.float32)),
        "w": LAYOUTS[layout](rng.standard_normal((c_out, c_in // groups, kh, kw))
                             .astype(np.float32)),
        "b": rng.standard_normal(c_out).astype(np.float32) if draw(st.booleans()) else None,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }


def _torch_ref(case: dict[str, object]) -> np.ndarray:
    b = case["b"]
    return F.conv2d(
        torch.from_numpy(np.ascontiguousarray(case["x"])),
        torch.from_numpy(np.ascontiguousarray(case["w"])),
        None if b is None else torch.from_numpy(b),  # type: ignore[arg-type]
        case["stride"],
        case["padding"],
        case["dilation"],
        case["groups"],  # type: ignore[arg-type]
    ).numpy()


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_every_engine_matches_torch_on_random_shapes(engine: str, case: dict[str, object]) -> None:
    expected = _torch_ref(case)
    got = conv2d(
        case["x"],
        case["w"],
        case["b"],
        case["stride"],
        case["padding"],  # type: ignore[arg-type]
        case["dilation"],
        case["groups"],
        engine=engine,
    )  # type: ignore[arg-type]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)


def test_top_edge_on_a_5x5_step_image_golden() -> None:
    # dark top rows (0), bright bottom rows (1): top_edge fires where the step is
    step = np.zeros((5, 5), dtype=np.float32)
    step[3:] = 1.0
    out = conv2d(step, top_edge)
    # each output row i sums rows i..i+2 weighted -1, 0, +1 over 3 columns
    expected = np.array([[0, 0, 0], [3, 3, 3], [3, 3, 3]], dtype=np.float32)
    assert out.tolist() == expected.tolist()


def test_all_ones_kernel_sums_each_window() -> None:
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = conv2d(x, np.ones((3, 3), np.float32), engine="direct")
    assert out.tolist() == [[45.0, 54.0], [81.0, 90.0]]


def test_seed_batch_64x1x28x28_with_four_edge_kernels_gives_64x4x26x26() -> None:
    batch = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    out = conv2d(batch, edge_weights())
    assert out.shape == (64, 4, 26, 26)
    t = conv2d(torch.from_numpy(batch), torch.from_numpy(edge_weights()))
    assert isinstance(t, torch.Tensor) and t.shape == torch.Size([64, 4, 26, 26])


@pytest.mark.parametrize("mode", PADDING_NAMES)
@pytest.mark.parametrize("engine", FIXED_ENGINES)
def test_agrees_with_scipy_correlate2d_and_convolve2d(mode: str, engine: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 11))
    k = rng.standard_normal((3, 3))  # odd kernel: scipy's 'same' centring equals ours
    import scipy.signal  # here, not at the top: 0.8 s that every xdist worker would collect
    corr = conv2d(x, k, padding=mode, engine=engine)
    conv = conv2d(x, k, padding=mode, flip=True, engine=engine)
    np.testing.assert_allclose(corr, scipy.signal.correlate2d(x, k, mode=mode), atol=1e-9)
    np.testing.assert_allclose(conv, scipy.signal.convolve2d(x, k, mode=mode), atol=1e-9)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("engine", FIXED_ENGINES)
def test_padding_modes_match_torch_conv2d_module(mode: str, engine: str) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(2, 3, 3, padding=2, padding_mode=mode, bias=False)
    x = torch.randn(2, 2, 7, 8)
    expected = layer(x).detach().numpy()
    got = conv2d(
        x.numpy(),
        layer.weight.detach().numpy(),
        padding=2,
        padding_mode=mode,  # type: ignore[arg-type]
        engine=engine,
    )
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)


def test_symmetric_mode_repeats_the_edge_pixel() -> None:
    x = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    k = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)  # picks the left neighbour
    assert conv2d(x, k, padding=(0, 1), padding_mode="symmetric").tolist() == [[1.0, 1.0, 2.0]]
    assert conv2d(x, k, padding=(0, 1), padding_mode="reflect").tolist() == [[2.0, 1.0, 2.0]]


def test_same_padding_with_stride_2_gives_ceil_n_over_s_and_matches_explicit_pad() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    out = conv2d(x, w, stride=2, padding="same")
    assert out.shape == (1, 2, 14, 14)
    explicit = conv2d(x, w, stride=2, padding=(0, 1, 0, 1))  # top, bottom, left, right
    np.testing.assert_array_equal(out, explicit)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_same_padding_stride_1_matches_torch_same_even_kernel() -> None:
    x = torch.randn(1, 1, 9, 9)
    w = torch.randn(1, 1, 4, 4)
    expected = F.conv2d(x, w, padding="same").numpy()
    np.testing.assert_allclose(
        conv2d(x.numpy(), w.numpy(), padding="same"), expected, atol=ATOL, rtol=RTOL
    )


def test_four_tuple_padding_is_top_bottom_left_right() -> None:
    x = np.ones((1, 1, 2, 2), np.float32)
    out = conv2d(x, np.ones((1, 1, 1, 1), np.float32), padding=(1, 0, 0, 2))
    assert out.shape == (1, 1, 3, 4)
    assert out[0, 0, 0].tolist() == [0, 0, 0, 0] and out[0, 0, 1].tolist() == [1, 1, 0, 0]


def test_unbatched_shapes() -> None:
    x = np.zeros((28, 28), np.float32)
    assert conv2d(x, top_edge).shape == (26, 26)
    assert conv2d(x, edge_weights()[:, 0]).shape == (4, 26, 26)
    assert conv2d(np.zeros((1, 28, 28), np.float32), edge_weights()).shape == (4, 26, 26)


def test_uint8_input_is_computed_in_float32() -> None:
    x = np.full((5, 5), 200, dtype=np.uint8)
    out = conv2d(x, top_edge)
    assert out.dtype == np.float32 and np.all(out == 0)
    assert conv2d(np.zeros((3, 3)), top_edge).dtype == np.float64


def test_tensor_in_tensor_out_and_gradients_flow_through_auto() -> None:
    x = torch.randn(2, 1, 6, 6, requires_grad=True)
    w = torch.from_numpy(edge_weights())
    out = conv2d(x, w, padding=1)
    assert isinstance(out, torch.Tensor)
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    with pytest.raises(ValueError, match="cannot carry gradients"):
        conv2d(x, w, engine="im2col")


def test_channel_mismatch_names_the_likely_cause() -> None:
    with pytest.raises(ShapeError, match="grayscale"):
        conv2d(np.zeros((1, 1, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "fast"}, "engine must be one of"),
        ({"padding_mode": "mirror"}, "padding_mode must be one of"),
        ({"padding": "half"}, "padding must be"),
        ({"padding": -1}, "padding must be >= 0"),
        ({"stride": 0}, "stride must be >= 1"),
        ({"groups": 3}, "groups=3 must divide"),
        ({"bias": np.zeros(3, np.float32)}, r"bias must have shape \(4,\)"),
    ],
)
def test_bad_arguments_raise_clear_value_errors(kwargs: dict[str, object], message: str) -> None:
    x = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match=message):
        conv2d(x, edge_weights(), **kwargs)  # type: ignore[arg-type]


def test_kernel_larger_than_input_is_a_shape_error_with_formula() -> None:
    with pytest.raises(ShapeError, match=r"\(2 \+ 2\*0 - 3\)//1 \+ 1"):
        conv2d(np.zeros((2, 2), np.float32), top_edge)


def test_wrong_rank_input_is_refused() -> None:
    with pytest.raises(ShapeError, match="input must be"):
        conv2d(np.zeros((1, 1, 1, 4, 4), np.float32), top_edge)


def test_auto_routes_few_channel_kernels_to_stencil_and_wide_layers_to_torch() -> None:
    from convrec.conv import choose_engine

    assert choose_engine((64, 1, 28, 28), (4, 1, 3, 3)) == "stencil"  # the seed batch
    assert choose_engine((1, 1, 2048, 2048), (4, 1, 3, 3)) == "stencil"
    assert choose_engine((32, 64, 56, 56), (64, 64, 3, 3)) == "torch"  # a ResNet layer
    # measured (bench_conv_crossover, 2026-12-02): the stencil 0.59 ms, torch 0.97 ms
    assert choose_engine((16, 1, 56, 56), (16, 1, 3, 3)) == "stencil"
    assert choose_engine((16, 16, 56, 56), (4, 16, 3, 3)) == "stencil"  # 1.93 against 3.87 ms
    assert choose_engine((16, 16, 56, 56), (16, 16, 3, 3)) == "torch"  # 4.76 against 3.82 ms
    assert choose_engine((64, 1, 28, 28), (4, 1, 3, 3), needs_grad=True) == "torch"


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ({"padding": 1}, {"padding": True}),
        ({"stride": (1, 1)}, {"stride": (1, True)}),
        ({"dilation": 1}, {"dilation": 1.0}),
        ({"groups": 1}, {"groups": True}),
    ],
)
def test_a_bad_argument_equal_to_a_good_one_is_refused_after_it(
    good: dict[str, object], bad: dict[str, object]
) -> None:
    # plans of repeated calls are remembered by their arguments, and True == 1 == 1.0 with
    # one hash: the remembered plan of the good call must not answer the bad one
    x = np.ones((1, 1, 8, 8), np.float32)
    first = conv2d(x, edge_weights(), **good)  # type: ignore[call-overload]
    assert first.shape[1] == 4
    with pytest.raises(ShapeError, match=next(iter(bad))):
        conv2d(x, edge_weights(), **bad)  # type: ignore[call-overload]
