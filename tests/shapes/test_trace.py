"""Golden traces and the numbers checked against running the model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from convrec.shapes import Trace, spec_of, trace
from tests.shapes import models as M


def _outputs_by_hook(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Leaf outputs recorded independently of convrec, with plain forward hooks."""
    seen: list[tuple[int, ...]] = []
    handles = [
        m.register_forward_hook(lambda _m, _i, o: seen.append(tuple(o.shape)))
        for m in model.modules()
        if next(iter(m.children()), None) is None
    ]
    model.eval()
    with torch.no_grad():
        model(torch.randn(shape))
    for h in handles:
        h.remove()
    return seen


def test_simple_cnn_golden_trace_28_14_7_4_2_1() -> None:
    t = trace(M.simple_cnn(), (64, 1, 28, 28))
    convs = [r for r in t.rows if r.type == "Conv2d"]
    assert [str(r.explanations[0]) for r in convs] == [
        "(28 + 2*1 - 3)//2 + 1 = 14",
        "(14 + 2*1 - 3)//2 + 1 = 7",
        "(7 + 2*1 - 3)//2 + 1 = 4",
        "(4 + 2*1 - 3)//2 + 1 = 2",
        "(2 + 2*1 - 3)//2 + 1 = 1",
    ]
    assert [r.output_shape for r in convs] == [
        (64, 4, 14, 14), (64, 8, 7, 7), (64, 16, 4, 4), (64, 32, 2, 2), (64, 10, 1, 1)
    ]
    # the floor drops one padded row where 27/2, 13/2, 3/2, 1/2 are not whole
    assert [r.explanations[0].dropped for r in convs] == [1, 1, 0, 1, 1]
    assert [r.receptive_field for r in convs] == [(3, 3), (7, 7), (15, 15), (31, 31), (63, 63)]
    assert [r.jump for r in convs] == [(2, 2), (4, 4), (8, 8), (16, 16), (32, 32)]
    assert [r.params for r in convs] == [40, 296, 1168, 4640, 2890]
    assert t.output_shape == (64, 10)
    assert t.rows[-1].type == "Flatten" and t.rows[-1].formulas == ("10·1·1 = 10",)
    assert t.total_params == sum(p.numel() for p in M.simple_cnn().parameters())
    assert t.ok and t.failure is None and t.mode == "run"
    assert [r.name for r in t.layers[:3]] == ["0.0", "0.1", "1.0"]
    assert [(r.name, r.kind, r.depth) for r in t.tree[:3]] == [
        ("0", "container", 0), ("0.0", "module", 1), ("0.1", "module", 1)]


def test_mult_adds_and_params_equal_torchinfo() -> None:
    torchinfo = pytest.importorskip("torchinfo")
    t = trace(nn.Conv2d(1, 4, 3), (64, 1, 28, 28))
    row = t.rows[0]
    # torchinfo counts the bias too: (4·1·3·3 + 4)·64·26·26
    assert row.mult_adds == (36 + 4) * 64 * 26 * 26 == 1_730_560
    assert row.mult_adds_formula.endswith("weight 36·43,264 + bias 4·43,264 = 1,730,560")
    for model, shape in [(nn.Conv2d(4, 8, 3, groups=2, bias=False), (2, 4, 5, 5)),
                         (nn.Linear(576, 10), (64, 576)), (M.simple_cnn(), (8, 1, 28, 28)),
                         (M.ResNetish(), (2, 3, 16, 16)), (M.everything(), (2, 1, 23, 30))]:
        ours = trace(model, shape)
        ref = torchinfo.summary(model, input_size=shape, verbose=0)
        assert (ours.total_params, ours.total_mult_adds) == (ref.total_params,
                                                             ref.total_mult_adds)


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (M.simple_cnn, (2, 1, 28, 28)),
        (M.LeNet, (3, 1, 32, 32)),
        (M.ResNetish, (2, 3, 17, 19)),
        (M.everything, (2, 1, 23, 30)),
    ],
)
def test_every_shape_matches_running_the_model(factory: object, shape: tuple[int, ...]) -> None:
    model = factory()  # type: ignore[operator]
    t = trace(model, shape)
    assert t.ok, t.failure
    module_rows = [r.output_shape for r in t.layers if r.kind == "module"]
    assert module_rows == _outputs_by_hook(model, shape)
    with torch.no_grad():
        assert t.output_shape == tuple(model(torch.zeros(shape)).shape)
    # every known layer's formula agrees with PyTorch (a mismatch adds a note)
    assert not [r.notes for r in t.rows if r.notes], [r.notes for r in t.rows]


@pytest.mark.parametrize("factory", [M.simple_cnn, M.everything, M.linear_mismatch])
def test_static_trace_equals_running_trace(factory: object) -> None:
    model = factory()  # type: ignore[operator]
    ran = trace(model, (2, 1, 28, 28))
    static = trace(model, (2, 1, 28, 28), run=False)
    assert static.mode == "static"
    strip = lambda t: [(r.name, r.input_shape, r.output_shape, r.why, r.mult_adds,  # noqa: E731
                        r.receptive_field, r.jump) for r in t.layers]
    assert strip(static) == strip(ran)
    assert (static.failure is None) == (ran.failure is None)


def test_custom_forward_without_running_uses_meta_tensors() -> None:
    t = trace(M.LeNet(), (8, 1, 32, 32), run=False)
    assert t.mode == "meta"
    assert [r.type for r in t.layers] == [
        "Conv2d", "F.max_pool2d", "Conv2d", "F.max_pool2d", "Tensor.view", "Linear", "Linear"]
    assert t.layers[4].formulas == ("-1 = 8·16·5·5 / 8 = 3200 / 8 = 400",)
    assert t.output_shape == (8, 10)


def test_functional_calls_and_nesting_are_traced() -> None:
    t = trace(M.ResNetish(), (2, 3, 16, 16))
    names = [r.name for r in t.tree]
    assert names == ["stem", "block", "block.body", "block.body.0", "block.body.1",
                     "block.body.2", "block.add()", "pool", "flatten()", "head"]
    assert [r.depth for r in t.tree] == [0, 0, 1, 2, 2, 2, 1, 0, 0, 0]
    assert [r.name for r in t.containers] == ["block", "block.body"]
    assert t.containers[0].params == 600 and t.containers[0].index == 1
    add = t.rows[4]
    assert add.type == "Tensor.add" and add.input_shapes == ((2, 8, 8, 8), (2, 8, 8, 8))
    assert t.source_names(add) == ("stem (Conv2d)", "block.body.2 (ReLU)")
    # the residual sum sees the union of the skip (3) and the body (3 + 2·2 = 7)
    assert add.receptive_field == (7, 7) and add.jump == (2, 2)
    pool = t.rows[5]
    assert str(pool.explanations[0]) == "(8 + 2*0 - 8)//8 + 1 = 1"  # adaptive 8 → 1
    assert pool.rf_note == "whole input"


def test_trace_restores_training_mode_and_buffers() -> None:
    model = M.ResNetish().train()
    before = model.block.body[1].running_mean.clone()
    trace(model, (4, 3, 8, 8))
    assert model.training and model.block.body[1].training
    assert torch.equal(model.block.body[1].running_mean, before)


def test_view_that_changes_the_batch_is_warned() -> None:
    class Squash(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.view(-1, 8)

    t = trace(Squash(), (4, 2, 2, 2))
    assert t.output_shape == (4, 8)
    assert not t.warnings
    t = trace(Squash(), (4, 4, 2, 2))
    assert t.output_shape == (8, 8)
    assert any("batch dimension changed from 4 to 8" in w for w in t.warnings)


def test_windows_folded_into_the_batch_are_not_warned() -> None:
    """Swin's window partition (2, 8, 8, 16) → (8, 4, 4, 16) and its reverse fold windows
    into the batch on purpose, keeping each window's pixels together: no warning. Only a
    flat (rows, features) view that changes the batch is the x.view(-1, 400) mistake."""

    class Windows(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, h, w, c = x.shape
            win = x.view(b, h // 4, 4, w // 4, 4, c).permute(0, 1, 3, 2, 4, 5)
            win = win.contiguous().view(-1, 4, 4, c)  # (B*windows, 4, 4, C)
            back = win.view(b, h // 4, w // 4, 4, 4, c).permute(0, 1, 3, 2, 4, 5)
            return back.reshape(b, h, w, c)

    t = trace(Windows(), (2, 8, 8, 16))
    assert t.ok and t.output_shape == (2, 8, 8, 16)
    assert (8, 4, 4, 16) in [r.output_shape for r in t.rows]
    assert not t.warnings


def test_outputs_markdown_json_and_dict() -> None:
    t = trace(M.simple_cnn(), (64, 1, 28, 28))
    md = t.to_markdown()
    assert "| 0 | &nbsp;&nbsp;0.0 | Conv2d | 3×3 | (64, 1, 28, 28) | (64, 4, 14, 14) |" in md
    assert "`H, W: (28 + 2*1 - 3)//2 + 1 = 14`" in md
    data = json.loads(t.to_json())
    assert data["output_shape"] == [64, 10]
    assert data["rows"][0]["explanations"][0]["text"] == "(28 + 2*1 - 3)//2 + 1 = 14"
    assert data["rows"][0]["receptive_field"] == [3, 3]
    assert data["total_params"] == t.total_params
    assert isinstance(t, Trace) and t.to_dict() == data


def test_bad_arguments_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="input_shape must hold positive ints"):
        trace(nn.ReLU(), (64, 0, 28))
    with pytest.raises(ValueError, match="input_shape must be a sequence"):
        trace(nn.ReLU(), "64,1,28,28")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_shape must have at least one"):
        trace(nn.ReLU(), ())
    with pytest.raises(ValueError, match=r"model must be a torch\.nn\.Module, got int"):
        trace(3, (1,))  # type: ignore[arg-type]


def test_unknown_layers_are_traced_by_their_observed_shapes() -> None:
    class Twice(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, x], dim=1)

    assert spec_of(Twice()) is None
    t = trace(nn.Sequential(nn.Conv2d(1, 2, 3), Twice()), (1, 1, 5, 5))
    assert [r.type for r in t.rows] == ["Conv2d", "Twice", "torch.cat"]
    assert t.rows[2].formulas == ("dim 1: 2 + 2 = 4",)
    assert t.rows[1].output_shape == (1, 4, 3, 3)
    assert trace(nn.Sequential(nn.Conv2d(1, 2, 3), Twice()), (1, 1, 5, 5), run=False).mode == "meta"


def test_import_does_not_load_torch() -> None:
    code = "import sys, convrec.shapes, convrec.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_norm_rows_state_their_rule_and_groupnorm_sees_the_whole_map() -> None:
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.GroupNorm(2, 8),
                          nn.Flatten(2), nn.LayerNorm(36))
    t = trace(model, (2, 1, 8, 8))
    assert t.rows[1].formulas == ("one scale and shift per channel (8); shape kept",)
    assert t.rows[1].receptive_field == (3, 3)
    assert t.rows[2].formulas == ("8 channels in 2 groups of 4, each normalized over its "
                                  "channels and all positions; shape kept",)
    assert t.rows[2].rf_note == "whole input"
    assert t.rows[4].formulas == ("normalizes each 36 slice (the last 1 dim); shape kept",)
    # the gradient agrees: a GroupNorm output pixel depends on every input pixel
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    model.eval()[:3](x)[0, :, 3, 3].sum().backward()
    assert bool((x.grad[0, 0].abs() > 0).all())


def test_a_forward_that_returns_a_dataclass_has_an_output_shape() -> None:
    """A plain ``@dataclass`` output (not a HuggingFace ModelOutput) holds tensors too: the
    trace's output is its first tensor field, (2, 4) here, as for a tuple."""
    import dataclasses

    @dataclasses.dataclass
    class Out:
        logits: torch.Tensor
        features: torch.Tensor

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> Out:
            return Out(logits=self.fc(x), features=x)

    t = trace(Head(), (2, 8))
    assert t.ok
    assert t.output_shape == (2, 4)


def test_an_embedding_subclass_with_its_own_forward_is_traced_by_what_it_produces() -> None:
    """BART's learned positions: an ``nn.Embedding`` whose forward looks up the positions
    0..L-1 of (N, L) ids, giving (1, L, E). The Embedding formula ((N, L) → (N, L, E))
    says nothing about it: no "the formula gives" note, the produced shape."""

    class Positions(nn.Embedding):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            return super().forward(torch.arange(ids.shape[1]).unsqueeze(0))

    t = trace(Positions(64, 32), (2, 9), dtypes="long")
    assert t.ok and t.output_shape == (1, 9, 32)
    assert not [n for r in t.rows for n in r.notes if "formula" in n]
