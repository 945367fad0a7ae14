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


class _Pooled(nn.Module):
    """(N, 3, 8, 8) → conv → GroupNorm → a global pool and a mean → Linear: (N, 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.GroupNorm(2, 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mean = nn.Identity()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(x))
        return self.fc(self.pool(y).flatten(1)) + self.mean(y.mean((2, 3)))[:, :2]


class _OverLength(nn.Module):
    """(N, 2, 10): a Linear and a LayerNorm over the length (a spatial dim)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3)
        self.fc = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc(self.conv(x)))


class _Recurrent(nn.Module):
    """A two-layer GRU and a Linear head on its outputs."""

    def __init__(self, batch_first: bool, bidirectional: bool) -> None:
        super().__init__()
        self.rnn = nn.GRU(6, 10, num_layers=2, batch_first=batch_first,
                          bidirectional=bidirectional)
        self.head = nn.Linear(20 if bidirectional else 10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


class _Contractions(nn.Module):
    """(N, L, 16) → heads (N, 4, L, 4) → einsum scores, sdpa and a matmul, each kept by an
    Identity (a hook for the gradient) → (N, L, 16)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.scores, self.sdpa, self.gram = nn.Identity(), nn.Identity(), nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, c = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, 4, 4).permute(2, 0, 3, 1, 4).unbind(0)
        a = self.scores(torch.einsum("bhqd,bhkd->bhqk", q, k))
        o = self.sdpa(torch.nn.functional.scaled_dot_product_attention(q, k, v))
        g = self.gram(q @ k.transpose(-1, -2))
        return (a @ v + o).transpose(1, 2).reshape(n, length, c) + g.sum()


@pytest.mark.parametrize(("model", "shape", "layers"), [
    (_Pooled(), (3, 3, 8, 8), ("norm", "pool", "mean", "fc")),
    (_OverLength(), (3, 2, 10), ("fc", "norm")),
    (_Recurrent(True, False), (3, 7, 6), ("rnn", "head")),
    (_Recurrent(False, False), (7, 3, 6), ("rnn", "head")),
    (_Recurrent(True, True), (3, 7, 6), ("rnn", "head")),
    (_Contractions(), (3, 5, 16), ("scores", "sdpa", "gram")),
], ids=["global pool, GroupNorm, mean", "Linear and LayerNorm over a spatial dim",
        "GRU batch_first", "GRU sequence first", "bidirectional GRU",
        "einsum, sdpa, matmul"])
def test_ops_that_see_the_whole_input_keep_the_batch_and_what_they_do_not_mix(
        model: nn.Module, shape: tuple[int, ...], layers: tuple[str, ...]) -> None:
    """A global pool, a Linear over a spatial dim, an RNN, attention: one output element
    reads the whole input along what the op mixes, but only its own sample (the box was
    every sample), its own channel or group, and for a one-way RNN steps 0..t only."""
    positive = positive_copy(model)
    t = trace(positive, shape)
    rows = {r.name: r for r in t.rows}
    for layer in layers:
        out_shape = rows[layer].output_shape
        assert out_shape is not None
        element = tuple(0 if d == 0 else (n - 1) // 2 for d, n in enumerate(out_shape))
        (box,) = t.receptive_box(rows[layer].index, element).values()
        assert box == element_box(positive, shape, layer, element), layer


class _Mixed(nn.Module):
    """(N, 2, 12) → Conv1d(k=3) → an op along the length (10) → Identity (for the hook)."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 3, 3)
        self.softmax = nn.Softmax(dim=-1)
        self.out = nn.Identity()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.nn.functional
        y = self.conv(x)
        y = {"nn.Softmax": lambda: self.softmax(y), "Tensor.softmax": lambda: y.softmax(-1),
             "F.log_softmax": lambda: f.log_softmax(y, dim=2),
             "F.normalize": lambda: f.normalize(y, dim=-1),
             "F.instance_norm": lambda: f.instance_norm(y),
             "F.layer_norm": lambda: f.layer_norm(y, (10,)),
             "cumsum": lambda: y.cumsum(-1)}[self.op]()
        return self.out(y)


@pytest.mark.parametrize("op", ["nn.Softmax", "Tensor.softmax", "F.log_softmax",
                                "F.normalize", "F.instance_norm", "F.layer_norm", "cumsum"])
def test_same_shape_ops_that_mix_along_a_dim_widen_the_box_along_it(op: str) -> None:
    """A softmax (or a normalisation) along the length: every output position reads all
    10 conv outputs, so all 12 input positions; a cumsum reads positions 0..i. The box was
    the conv's 3 positions (element-wise), an under-estimate."""
    positive = positive_copy(_Mixed(op))
    t = trace(positive, (3, 2, 12))
    row = next(r for r in t.rows if r.name == "out")
    element = (0, 1, 4)
    (box,) = t.receptive_box(row.index, element).values()
    assert box == element_box(positive, (3, 2, 12), "out", element)
    assert box[2] == ((0, 6) if op == "cumsum" else (0, 11))
    assert row.receptive_field == (12,)
    assert row.rf_note == ("at most" if op == "cumsum" else "")
