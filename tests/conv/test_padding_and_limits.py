"""The one padding parser, the one limits guard, torch's padding rules, out= and the plan."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from convrec.conv import (
    PADDING_MODES,
    PADDING_NAMES,
    ConvLimits,
    LimitError,
    ShapeError,
    conv2d,
    conv2d_plan,
    edge_weights,
    explain,
    functional,
    kernels as K,
    load_kernel,
    parse_padding,
    top_edge,
)
from convrec.conv.shapes import explain_padded
from convrec.settings import Limits
from tests.cli.helpers import run_cli

ENGINES = [e for e in functional.ENGINES if e != "auto"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1, (1, 1, 1, 1)),
        (np.int64(2), (2, 2, 2, 2)),
        ((1, 2), (1, 1, 2, 2)),
        ([1, 2, 3, 4], (1, 2, 3, 4)),
        ("3", (3, 3, 3, 3)),
        ("1,2", (1, 1, 2, 2)),
        (" 1, 0, 2 ,2 ", (1, 0, 2, 2)),
        ("(1, 2)", (1, 1, 2, 2)),
        ("SAME", "same"),
        ("valid", "valid"),
        (" full", "full"),
    ],
)
def test_parse_padding_accepts_every_form(given: object, expected: object) -> None:
    assert parse_padding(given) == expected


@pytest.mark.parametrize("bad", [-1, "-1", True, 1.5, "half", "1,2,3", (1, 2, 3), "", "1;2", None])
def test_parse_padding_refuses_in_one_line_naming_the_value(bad: object) -> None:
    with pytest.raises(ShapeError) as info:
        parse_padding(bad)
    message = str(info.value)
    assert "\n" not in message and message.startswith("padding must be")
    assert repr(bad) in message


def test_one_dimension_forms_for_the_shape_command() -> None:
    assert parse_padding("1,2", ndim=1) == (1, 2)
    assert parse_padding(3, ndim=1) == (3, 3)
    with pytest.raises(ShapeError, match="'before,after'"):
        parse_padding("1,2,3,4", ndim=1)
    # 'same' with stride 2 on 28: ceil(28/2) = 14 outputs, the odd pixel after
    assert str(explain_padded(28, 3, 2, "same")) == str(explain(28, 3, 2, (0, 1)))
    assert explain_padded(5, 3, padding="full").result == 7


def test_the_names_and_modes_are_the_ones_conv2d_accepts() -> None:
    x = np.ones((1, 1, 6, 6), np.float32)
    for name in PADDING_NAMES:
        conv2d(x, top_edge, padding=name)
    for mode in PADDING_MODES:
        conv2d(x, top_edge, padding=1, padding_mode=mode)  # type: ignore[arg-type]


def test_text_padding_equals_the_tuple() -> None:
    x = np.random.default_rng(0).standard_normal((2, 1, 7, 9)).astype(np.float32)
    np.testing.assert_array_equal(conv2d(x, top_edge, padding="1,2"), conv2d(x, top_edge,
                                                                              padding=(1, 2)))


def test_return_plan_gives_the_explanations_of_the_call() -> None:
    x = np.zeros((28, 28), np.float32)
    out, plan = conv2d(x, edge_weights(), stride=2, padding="same", return_plan=True)
    assert out.shape == (4, 14, 14) and plan.output_shape == (1, 4, 14, 14)
    assert plan.pads == (0, 1, 0, 1)
    assert str(plan.rows) == str(explain(28, 3, 2, (0, 1)))
    assert plan.cols.result == 14
    assert plan.multiply_adds == 4 * 14 * 14 * 9


# ------------------------------------------------------------------ limits
def test_multiply_add_budget_is_exact_at_the_boundary() -> None:
    x = np.zeros((64, 1, 28, 28), np.float32)
    work = 64 * 4 * 26 * 26 * 9  # hand-computed: N * O * H_out * W_out * taps = 1,557,504
    conv2d(x, edge_weights(), limits=ConvLimits(max_multiply_adds=work))
    with pytest.raises(LimitError, match="1,557,504 multiply-adds") as info:
        conv2d(x, edge_weights(), limits=ConvLimits(max_multiply_adds=work - 1))
    assert info.value.parameter == "multiply_adds" and info.value.limit == work - 1


def test_kernel_padding_and_pixel_limits_name_the_parameter() -> None:
    x = np.zeros((1, 1, 10, 10), np.float32)
    with pytest.raises(LimitError, match=r"kernels may be at most 2×2"):
        conv2d(x, top_edge, limits=ConvLimits(max_kernel_size=2))
    with pytest.raises(LimitError, match=r"padding=5 adds 5 pixels on one side.*limit of 4"):
        conv2d(x, top_edge, padding=5, limits=ConvLimits(max_padding=4))
    with pytest.raises(LimitError, match=r"padded input would be 30×30 = 900 pixels"):
        conv2d(x, top_edge, padding=10, limits=ConvLimits(max_pixels=899))


def test_an_impossible_allocation_is_one_line_not_a_memory_error() -> None:
    # 10^6 padding per side: a (2000010)² output is 16 TB; refused from the shapes alone
    with pytest.raises(LimitError, match=r"would allocate .* GiB"):
        conv2d(np.zeros((4, 4), np.float32), top_edge, padding=10**6)


def test_settings_limits_feed_the_guard() -> None:
    limits = ConvLimits.from_settings(Limits())
    assert limits.max_multiply_adds == Limits().max_multiply_adds == 10**8
    assert limits.max_kernel_size == 31 and limits.max_pixels == Limits().max_image_pixels
    assert limits.max_padding == getattr(Limits(), "max_padding", None)
    assert ConvLimits.from_settings(Limits(), budget=False).max_multiply_adds is None


def test_a_huge_named_kernel_is_refused_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = K.gaussian
    monkeypatch.setattr(K, "gaussian", lambda size=5, sigma=1.0: built.append(size) or real(
        size, sigma))
    limits = ConvLimits(max_kernel_size=31)
    for spec in ("gaussian:6001", "gaussian:99999:2", "box:5000"):
        with pytest.raises(LimitError, match=r"kernels may be at most 31×31"):
            load_kernel(spec, limits=limits)
    with pytest.raises(LimitError):
        load_kernel(";".join(["1," * 40 + "1"] * 2), limits=limits)  # 2×41 inline text
    assert built == []
    assert load_kernel("gaussian:31", limits=limits).shape == (31, 31)


def test_a_large_npy_kernel_is_measured_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((40, 3), np.float32))
    with pytest.raises(LimitError, match="40×3"):
        load_kernel(path, limits=ConvLimits(max_kernel_size=31))


# ------------------------------------------------------------------ torch's padding rules
@pytest.mark.parametrize("mode", ["reflect", "circular"])
@pytest.mark.parametrize(
    "pad", [(2, 0, 0, 0), (3, 3, 0, 0), (0, 0, 4, 1), (0, 0, 5, 5), (1, 1, 1, 1)]
)
def test_reflect_and_circular_padding_refused_exactly_where_torch_refuses(
    mode: str, pad: tuple[int, int, int, int]
) -> None:
    x = torch.randn(1, 1, 3, 4)
    top, bottom, left, right = pad
    try:
        expected = F.conv2d(F.pad(x, (left, right, top, bottom), mode=mode), torch.ones(1, 1, 1, 1))
    except RuntimeError:
        expected = None
    for engine in ENGINES:
        if expected is None:
            with pytest.raises(ValueError, match=f"padding_mode='{mode}'"):
                conv2d(x.numpy(), np.ones((1, 1), np.float32), padding=pad,
                       padding_mode=mode, engine=engine)  # type: ignore[arg-type]
        else:
            got = conv2d(x.numpy(), np.ones((1, 1, 1, 1), np.float32), padding=pad,
                         padding_mode=mode, engine=engine)  # type: ignore[arg-type]
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-6)


def test_reflect_message_has_torchs_shape() -> None:
    with pytest.raises(ValueError) as info:
        conv2d(np.zeros((1, 1, 3, 4), np.float32), top_edge, padding=(0, 4), padding_mode="reflect")
    assert re.search(
        r"padding size should be less than the corresponding input dimension, but got: "
        r"padding \(4, 4\) at dimension 3 of input \[1, 1, 3, 4\]",
        str(info.value),
    )


# ------------------------------------------------------------------ out=
@pytest.mark.parametrize("engine", [*ENGINES, "auto"])
def test_out_buffer_is_filled_in_place_and_equals_a_fresh_result(engine: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    fresh = conv2d(x, w, b, padding=1, stride=(1, 2), engine=engine)  # type: ignore[arg-type]
    buffer = np.full(fresh.shape, np.nan, np.float32)
    got = conv2d(x, w, b, padding=1, stride=(1, 2), engine=engine, out=buffer)  # type: ignore[arg-type]
    assert got is buffer
    np.testing.assert_allclose(buffer, fresh, atol=1e-5)
    # reused: a second call overwrites every value
    conv2d(x * 2, w, b, padding=1, stride=(1, 2), engine=engine, out=buffer)  # type: ignore[arg-type]
    np.testing.assert_allclose(buffer, conv2d(x * 2, w, b, padding=1, stride=(1, 2)), atol=1e-4)


def test_out_tensor_for_tensor_input_and_unbatched_shapes() -> None:
    x = torch.rand(28, 28)
    buffer = torch.empty(4, 26, 26)
    assert conv2d(x, torch.from_numpy(edge_weights()), out=buffer) is buffer
    np.testing.assert_allclose(buffer.numpy(), conv2d(x.numpy(), edge_weights()), atol=1e-5)


@pytest.mark.parametrize(
    ("buffer", "message"),
    [
        (np.empty((1, 4, 25, 26), np.float32), r"shape \(1, 4, 26, 26\) and dtype float32"),
        (np.empty((1, 4, 26, 26), np.float64), "dtype float32"),
        (np.empty((1, 26, 26, 4), np.float32).transpose(0, 3, 1, 2), "C-contiguous"),
        (torch.empty(1, 4, 26, 26), "must be a NumPy array like x"),
    ],
)
def test_a_wrong_out_buffer_is_one_clear_line(buffer: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        conv2d(np.zeros((1, 1, 28, 28), np.float32), edge_weights(), out=buffer)


# ------------------------------------------------------------------ the faces
def test_conv2d_plan_is_what_faces_call_first() -> None:
    plan = conv2d_plan((28, 28), (3, 3), padding="same")
    assert plan.output_shape == (1, 1, 28, 28)
    with pytest.raises(LimitError):
        conv2d_plan((28, 28), (3, 3), padding="100000", limits=ConvLimits(max_padding=64))


@pytest.fixture
def digit_png(tmp_path: Path) -> Path:
    path = tmp_path / "digit.png"
    Image.fromarray((np.arange(28 * 28) % 255).astype(np.uint8).reshape(28, 28)).save(path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-k", "gaussian:99999"], r"'gaussian:99999' is 99999×99999: kernels may be at most 31"),
        (["-k", "gaussian:6001"], r"kernels may be at most 31×31"),
        # refused by the padding limit where Settings has one, else by the pixel limit
        (["-p", "100000"], r"padding='100000' adds 100000 pixels|padded input would be 200028×"),
        (["-p", "2,x"], r"--padding must be an int"),
        (["-k", "gaussian:31"], r"impossible convolution: \(28 \+ 2\*0 - 31\)//1 \+ 1"),
        (["-p", "40", "--padding-mode", "reflect"], r"padding size should be less than"),
    ],
)
def test_cli_apply_refuses_in_one_line_before_any_output(
    args: list[str], message: str, digit_png: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[int] = []
    real = K.gaussian
    monkeypatch.setattr(K, "gaussian", lambda size=5, sigma=1.0: built.append(size) or real(
        size, sigma))
    out_dir = tmp_path / "maps"
    code, out, err = run_cli(["conv", "apply", str(digit_png), *args, "-o", str(out_dir)], capsys)
    text = out + err
    assert code == 2, text
    assert re.search(message, text), text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert not out_dir.exists()  # nothing written
    assert all(size <= 31 for size in built)


def test_cli_apply_accepts_text_padding_and_symmetric(
    digit_png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["conv", "apply", str(digit_png), "-k", "top_edge", "-p", "1,2",
                            "--padding-mode", "symmetric", "-o", str(tmp_path / "m")], capsys)
    assert code == 0, out
    assert "(28, 28) → (28, 30)" in out


def test_cli_shape_takes_before_after_padding(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["conv", "shape", "28", "-k", "3", "-p", "0,1", "-s", "2"], capsys)
    assert code == 0 and "(28 + 0 + 1 - 3)//2 + 1 = 14" in out
    code, out, err = run_cli(["conv", "shape", "28", "-p", "half"], capsys)
    assert code == 2 and "--padding must be" in out + err
