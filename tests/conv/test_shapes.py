"""Shape arithmetic: formulas with the user's numbers, floors, impossible configurations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from convrec.conv import shapes as S


def test_explain_writes_the_formula_with_the_users_numbers() -> None:
    e = S.explain(28, kernel=3, stride=2, padding=1)
    assert str(e) == "(28 + 2*1 - 3)//2 + 1 = 14"
    assert e.dropped == 1
    assert any("27/2 = 13.5" in note and "never visited" in note for note in e.notes)


def test_seed_full_padding_example_5_to_7() -> None:
    e = S.explain(5, kernel=3, stride=1, padding=2)
    assert str(e) == "(5 + 2*2 - 3)//1 + 1 = 7"
    assert any("full padding" in n for n in e.notes)


def test_valid_28_with_3x3_gives_26_as_in_chapter_13() -> None:
    assert S.output_size(28, 3) == 26


def test_simple_cnn_chain_28_14_7_4_2_1() -> None:
    sizes = [28]
    for _ in range(5):
        sizes.append(S.output_size(sizes[-1], 3, stride=2, padding=1))
    assert sizes == [28, 14, 7, 4, 2, 1]


def test_floor_makes_5_and_6_give_the_same_size() -> None:
    assert S.output_size(5, 3, 2, 1) == S.output_size(6, 3, 2, 1) == 3
    assert S.transposed_output_size(3, 3, 2, 1, output_padding=0) == 5
    assert S.transposed_output_size(3, 3, 2, 1, output_padding=1) == 6


def test_dilation_uses_the_effective_kernel() -> None:
    e = S.explain(10, kernel=3, dilation=2)
    assert e.effective_kernel == 5
    assert e.result == 6
    assert "(2*(3 - 1) + 1)" in e.formula


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 5, "kernel": 3, "stride": 0}, "stride"),
        ({"n": 5, "kernel": 3, "padding": -1}, "padding"),
        ({"n": 5, "kernel": 0}, "kernel"),
        ({"n": 0, "kernel": 3}, "n"),
        ({"n": 5, "kernel": 3, "dilation": 0}, "dilation"),
    ],
)
def test_bad_parameters_name_the_parameter_and_value(kwargs: dict[str, int], param: str) -> None:
    with pytest.raises(ValueError, match=rf"{param}.*got {param}="):
        S.explain(**kwargs)


def test_kernel_larger_than_padded_input_raises_with_formula_and_rule() -> None:
    with pytest.raises(S.ShapeError) as info:
        S.explain(2, kernel=5, padding=1)
    message = str(info.value)
    assert "(2 + 2*1 - 5)//1 + 1 = 0" in message
    assert "rule" in message
    assert info.value.explanation is not None and not info.value.explanation.valid


def test_check_false_returns_the_broken_rule_instead_of_raising() -> None:
    e = S.explain(2, kernel=5, check=False)
    assert not e.valid and e.rule_broken and "fit" in e.rule_broken
    assert e.to_dict()["text"].endswith("= -2")


def test_same_padding_with_stride_puts_the_extra_pixel_after() -> None:
    assert S.same_padding(28, 3, 1) == (1, 1)
    assert S.same_padding(28, 4, 1) == (1, 2)
    assert S.same_padding(28, 3, 2) == (0, 1)  # ceil(28/2)=14: total 1, after gets it
    top, bottom = S.same_padding(28, 3, 2)
    assert S.output_size(28, 3, 2, (top, bottom)) == 14


def test_pool_output_matches_torch_including_ceil_mode() -> None:
    for n, k, s, p, ceil in [
        (7, 2, 2, 0, False),
        (7, 2, 2, 0, True),
        (8, 3, 2, 1, True),
        (5, 3, 3, 1, True),
    ]:
        x = torch.zeros(1, 1, n, n)
        expected = torch.nn.functional.max_pool2d(x, k, s, p, ceil_mode=ceil).shape[-1]
        assert S.pool_output_size(n, k, s, p, ceil_mode=ceil) == expected


def test_pool_sizes_equal_torch_on_every_small_case_and_say_when_torch_refuses() -> None:
    """Every (n, k, s, p, d, ceil_mode) up to n=8, k=6: the size, or an error exactly where
    PyTorch raises one (with ceil_mode a window larger than the input still pools once, as
    EfficientNet's AvgPool2d(2560, ceil_mode=True) does on a 1x1 map)."""
    import itertools

    mismatches = []
    for n, k, s, p, d, ceil in itertools.product(range(1, 9), range(1, 7), range(1, 5),
                                                 range(4), range(1, 3), (False, True)):
        try:
            ours: int | None = S.pool_output_size(n, k, s, p, d, ceil_mode=ceil)
        except ValueError:
            ours = None
        try:
            theirs: int | None = torch.nn.functional.max_pool1d(
                torch.zeros(1, 1, n), k, s, p, d, ceil_mode=ceil).shape[-1]
        except RuntimeError:
            theirs = None
        if ours != theirs:
            mismatches.append((n, k, s, p, d, ceil, ours, theirs))
    assert not mismatches
    assert S.pool_output_size(1, 2560, 2560, ceil_mode=True) == 1


def test_pool_padding_over_half_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="kernel // 2"):
        S.explain_pool(8, 2, padding=2)


def test_transposed_output_padding_rule() -> None:
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        S.explain_transposed(3, 3, stride=2, output_padding=2)


def test_receptive_field_of_simple_cnn() -> None:
    fields = S.receptive_field([(3, 2, 1)] * 5)
    assert [f.size for f in fields] == [3, 7, 15, 31, 63]
    assert [f.jump for f in fields] == [2, 4, 8, 16, 32]


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_output_size_matches_torch_conv2d(n: int, k: int, s: int, p: int, d: int) -> None:
    e = S.explain(n, k, s, p, d, check=False)
    conv = torch.nn.Conv2d(1, 1, k, s, p, d, bias=False)
    if not e.valid:
        with pytest.raises(RuntimeError):
            conv(torch.zeros(1, 1, n, n))
        return
    assert conv(torch.zeros(1, 1, n, n)).shape[-1] == e.result


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(1, 12),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    op=st.integers(0, 2),
)
def test_transposed_output_size_matches_torch(
    n: int, k: int, s: int, p: int, d: int, op: int
) -> None:
    e = S.explain_transposed(n, k, s, p, d, op, check=False)
    if not e.valid:
        return
    layer = torch.nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d, bias=False)
    assert layer(torch.zeros(1, 1, n, n)).shape[-1] == e.result
