"""Golden traces of the CNNs convrec ships (convrec.vision.models), checked against running them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convrec.shapes import trace
from convrec.vision.models import fast_cnn, simple_cnn


def _spatial_chain(model: nn.Module) -> list[int]:
    t = trace(model, (64, 1, 28, 28))
    assert t.ok and t.failure is None
    sizes = [28]
    for row in t.rows:
        if row.type == "Conv2d":
            sizes.append(row.output_shape[-1])
    return sizes


@pytest.mark.parametrize("batchnorm", [False, True])
def test_bundled_simple_cnn_traces_28_14_7_4_2_1(batchnorm: bool) -> None:
    model = simple_cnn(batchnorm=batchnorm)
    assert _spatial_chain(model) == [28, 14, 7, 4, 2, 1]
    t = trace(model, (64, 1, 28, 28))
    first_conv = next(r for r in t.rows if r.type == "Conv2d")
    assert str(first_conv.explanations[0]) == "(28 + 2*2 - 5)//2 + 1 = 14"
    assert t.output_shape == (64, 10)
    assert t.total_params == sum(p.numel() for p in model.parameters())


def test_bundled_fast_cnn_trace_matches_running_it() -> None:
    model = fast_cnn().eval()
    t = trace(model, (64, 1, 28, 28))
    with torch.no_grad():
        out = model(torch.zeros(64, 1, 28, 28))
    assert t.output_shape == tuple(out.shape) == (64, 10)
    assert t.total_params == sum(p.numel() for p in model.parameters())
