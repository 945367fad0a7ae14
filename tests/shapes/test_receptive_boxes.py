"""Receptive boxes over every dimension of the input (batch and channels, not only H and
W), checked against input gradients of one output element."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convrec.shapes import trace
from tests.shapes.rf_check import element_box, positive_copy


@pytest.mark.parametrize(("model", "shape", "element"), [
    # 2 groups: output channel 3 of 8 reads input channels 0-1 of 4
    (nn.Sequential(nn.Conv1d(4, 8, 5, dilation=3, padding=2, groups=2)), (2, 4, 50),
     (0, 3, 20)),
    # depthwise: output channel 1 reads input channel 1 only
    (nn.Sequential(nn.Conv2d(3, 3, 3, groups=3, padding="same", dilation=2)), (1, 3, 15, 16),
     (0, 1, 7, 7)),
    # transposed, 3 groups of 2 output channels: output channel 2 reads input channel 1
    (nn.Sequential(nn.ConvTranspose2d(3, 6, (3, 4), stride=(2, 3), padding=(1, 2),
                                      output_padding=(1, 2), groups=3, dilation=(1, 2))),
     (1, 3, 7, 8), (0, 2, 6, 12)),
])
def test_a_grouped_conv_reads_only_its_groups_channels(
        model: nn.Module, shape: tuple[int, ...], element: tuple[int, ...]) -> None:
    """``(N, C_in, ...)`` → ``(N, C_out, ...)`` with ``groups``: the box's channel interval
    is the output channel's group, as the gradient says (it was every channel)."""
    positive = positive_copy(model)
    (box,) = trace(positive, shape).receptive_box(0, element).values()
    assert box == element_box(positive, shape, "0", element)


class _SelfAttention(nn.Module):
    """``x`` (N, L, E) or (L, N, E) → ``MultiheadAttention(x, x, x)`` → Linear."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.att = nn.MultiheadAttention(16, 4, batch_first=batch_first)
        self.out = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.att(x, x, x)[0])


@pytest.mark.parametrize(("batch_first", "shape", "element"), [
    (True, (3, 5, 16), (0, 2, 7)),
    (False, (5, 3, 16), (2, 1, 7)),
])
def test_multihead_attention_sees_every_position_of_its_own_sample(
        batch_first: bool, shape: tuple[int, ...], element: tuple[int, ...]) -> None:
    """Query token 2, feature 7 of self-attention reads every token and feature of its
    sample, and no other sample (the box was the one element (2, 7): element-wise)."""
    positive = positive_copy(_SelfAttention(batch_first))
    t = trace(positive, shape)
    att = next(r for r in t.rows if r.name == "att")
    assert att.rf_note == "whole input"
    for layer in ("att", "out"):
        row = next(r for r in t.rows if r.name == layer)
        (box,) = t.receptive_box(row.index, element).values()
        assert box == element_box(positive, shape, layer, element), layer
