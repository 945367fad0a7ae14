"""Receptive boxes over every dimension of the input (batch and channels, not only H and
W), checked against input gradients of one output element."""

from __future__ import annotations

import pytest
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
