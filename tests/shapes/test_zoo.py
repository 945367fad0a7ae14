"""The zoo: real architectures traced, checked against torchinfo and input gradients."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch
from torch import nn

from convrec.shapes import Trace, trace
from tests.shapes.rf_check import gradient_boxes, positive_copy
from tests.shapes.zoo import ZOO, Entry

# found, not imported: the zoo imports transformers (0.6 s) when it builds those models, so
# that every xdist worker does not pay for it at collection
if importlib.util.find_spec("transformers") is None:
    pytest.skip("transformers is not installed (make test installs it)", allow_module_level=True)
torchinfo = pytest.importorskip("torchinfo")

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)


@pytest.fixture(scope="module")
def traced() -> dict[str, tuple[nn.Module, Trace]]:
    """Every zoo model built and traced once."""
    out: dict[str, tuple[nn.Module, Trace]] = {}
    for entry in ZOO:
        model = entry.build()
        out[entry.name] = (model, trace(model, entry.input_size, dtypes=entry.dtypes))
    return out


def _torchinfo(entry: Entry, model: nn.Module) -> Any:
    data = entry.input_data()
    if isinstance(data, dict):
        return torchinfo.summary(model, input_data=data, verbose=0)
    return torchinfo.summary(model, input_data=[data], verbose=0)


def test_the_zoo_has_at_least_12_working_models() -> None:
    assert len([e for e in ZOO if not e.broken]) >= 12
    assert {e.broken for e in ZOO if e.broken} == {"add", "cat", "matmul"}


@pytest.mark.parametrize("entry", [e for e in ZOO if not e.broken], ids=lambda e: e.name)
def test_trace_completes_and_equals_torchinfo(entry: Entry, traced: dict[str, Any]) -> None:
    model, t = traced[entry.name]
    assert t.ok, t.failure.to_text() if t.failure else ""
    with torch.no_grad():
        data = entry.input_data()
        out = model(**data) if isinstance(data, dict) else model(data)
    first = out if isinstance(out, torch.Tensor) else next(
        v for v in (out.values() if hasattr(out, "values") else out)
        if isinstance(v, torch.Tensor))
    assert t.output_shape == tuple(first.shape)
    ref = _torchinfo(entry, model)
    # convrec counts every parameter tensor once; torchinfo counts T5's tied embedding
    # twice (once in encoder.embed_tokens, once in decoder.embed_tokens, both executed)
    tied = model.shared.weight.numel() if entry.name == "hf T5" else 0
    assert t.total_params == sum(p.numel() for p in model.parameters())
    assert t.total_params + tied == ref.total_params
    assert t.total_mult_adds == ref.total_mult_adds
    # every known layer's formula agreed with what PyTorch produced
    assert not [r.notes for r in t.rows if any("formula" in n for n in r.notes)]


@pytest.mark.parametrize("entry", [e for e in ZOO if e.cnn], ids=lambda e: e.name)
def test_receptive_field_of_every_conv_equals_the_gradient(entry: Entry) -> None:
    model = positive_copy(entry.build())
    t = trace(model, entry.input_size)
    convs = {n for n, m in model.named_modules() if isinstance(m, _CONVS)}
    rows = {r.name: r for r in t.layers if r.name in convs}
    assert set(rows) == convs  # every conv got a row
    measured = gradient_boxes(model, entry.input_size, sorted(rows))
    spatial = slice(2, None) if len(entry.input_size) >= 3 else slice(1, None)
    for name, row in rows.items():
        (box,) = t.receptive_box(row.index).values()
        assert box[spatial] == measured[name], name
        # the row's field (the hull over all positions) is what the centre pixel sees when
        # it fits inside the input
        assert row.receptive_field is not None, name
        for (lo, hi), size, n in zip(measured[name], row.receptive_field,
                                     entry.input_size[spatial], strict=True):
            if lo > 0 and hi < n - 1:
                assert hi - lo + 1 <= size, name
                if row.rf_note != "at most":  # an exact field is what the centre sees
                    assert hi - lo + 1 == size, name


def test_shortcut_before_the_main_path_does_not_leak_its_jump(
        traced: dict[str, Any]) -> None:
    """The issue's example: the 1×1 stride-2 shortcut runs first; the main path's fields
    must not inherit its jump."""
    _, t = traced["small ResNet"]
    by = {r.name: r for r in t.layers}
    # stem 3, layer1 3 + 2 + 2 = 7 (the union with its identity is 7), a 1×1 keeps 7
    assert by["layer2.shortcut.0"].receptive_field == (7, 7)
    assert by["layer2.shortcut.0"].jump == (2, 2)
    # layer2 main path 7 + 2 + 2·2 = 13 (jump 2); layer3: 13 + 2·2 + 2·4 = 25 (jump 4), as
    # the issue measured by gradients (execution order gave 67, jump 16)
    assert by["layer3.conv2"].receptive_field == (25, 25)
    assert by["layer3.conv2"].jump == (4, 4)
    add = next(r for r in t.layers if r.name == "layer3.add()")
    assert t.source_names(add) == ("layer3.bn2 (BatchNorm2d)", "layer3.shortcut.1 (BatchNorm2d)")


def test_transposed_convs_have_fields_and_unet_cats_are_rows(traced: dict[str, Any]) -> None:
    _, t = traced["U-Net"]
    up = next(r for r in t.layers if r.name == "up2")
    assert up.receptive_field is not None and up.jump == (2, 2)  # 4 → 2: back up the ladder
    cats = [r for r in t.layers if r.type == "torch.cat"]
    assert [r.formulas[0] for r in cats] == ["dim 1: 8 + 8 = 16", "dim 1: 4 + 4 = 8"]
    assert t.source_names(cats[0]) == ("up2 (ConvTranspose2d)", "down2.5 (ReLU)")


def test_transformers_rows_show_attention_and_ids(traced: dict[str, Any]) -> None:
    _, bert = traced["hf BERT"]
    assert [i.name for i in bert.inputs] == ["input_ids", "attention_mask"]
    emb = next(r for r in bert.layers if r.name == "embeddings.word_embeddings")
    assert emb.formulas == ("(2, 16) ids in [0, 100) → one 32-vector each: (2, 16, 32)",)
    attn = [r for r in bert.layers if r.type in ("F.scaled_dot_product_attention",
                                                 "Tensor.matmul", "torch.matmul")]
    assert attn and all(r.rf_note == "whole input" for r in attn)
    _, tagger = traced["LSTM tagger"]
    lstm = next(r for r in tagger.layers if r.type == "LSTM")
    assert lstm.output_shape == (4, 20, 24)
    assert "2·hidden_size = 2·12 = 24" in lstm.formulas[1]
    _, t5 = traced["hf T5"]
    assert [i.name for i in t5.inputs] == ["input_ids", "decoder_input_ids"]


@pytest.mark.parametrize("entry", [e for e in ZOO if e.broken], ids=lambda e: e.name)
def test_broken_merges_are_explained_with_both_shapes(entry: Entry) -> None:
    model = entry.build()
    t = trace(model, entry.input_size)
    f = t.failure
    assert f is not None
    with pytest.raises(RuntimeError) as info:
        model(entry.input_data())
    assert f.error == str(info.value).splitlines()[0]
    if entry.broken == "add":
        assert f.kind == "broadcast" and f.layer == "layer2.add()"
        assert f.cause[:2] == ("input 0: (1, 16, 16, 16) from layer2.bn2 (BatchNorm2d)",
                               "input 1: (1, 8, 32, 32) from layer2.shortcut (Identity)")
        assert "16 vs 8 channels and 16×16 vs 32×32 maps" in f.summary
        fix = next(x for x in f.fixes if x.startswith("a 1×1 stride-2 conv"))
        assert "nn.Conv2d(8, 16, 1, stride=2)" in fix
        fixed = entry.build()
        fixed.layer2.shortcut = nn.Conv2d(8, 16, 1, stride=2)  # the proposal really runs
        assert fixed(torch.zeros(entry.input_size)).shape == (1, 10)
    elif entry.broken == "cat":
        assert f.kind == "cat" and "dim 2 is 14 vs 15" in f.summary
        assert "up2 (ConvTranspose2d)" in f.cause[0] and "down2.5 (ReLU)" in f.cause[1]
        assert any(x.startswith("crop the larger tensor") for x in f.fixes)
        assert any(x.startswith("pad the smaller tensor") for x in f.fixes)
    else:
        assert f.kind == "matmul" and "(2, 5, 8) @ (2, 5, 8)" in f.summary
        assert "q (Linear)" in f.cause[0] and "k (Linear)" in f.cause[1]
        assert any("b.transpose(-2, -1)" in x for x in f.fixes)


def test_pieces_keep_their_fields_and_resampled_fields_are_bounds(
        traced: dict[str, Any]) -> None:
    """A chunk keeps the stem's field (it once became "whole input"); a layer wrapping one
    op (nn.Upsample around F.interpolate) has that op's field; after a resize the field is
    a bound, and says so."""
    _, t = traced["pieces and resamplers"]
    by = {r.name: r for r in t.layers}
    assert (by["a"].receptive_field, by["a"].jump) == ((5, 5), (2, 2))
    assert (by["b"].receptive_field, by["b"].rf_note) == ((7, 7), "")
    assert by["up"].receptive_field == by["up.interpolate()"].receptive_field == (10, 10)
    assert by["up"].sources == (by["avg_pool2d()"].index,)
    assert {by[n].rf_note for n in ("shuffle", "up", "mix", "top", "head")} == {"at most"}
