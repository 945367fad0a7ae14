"""The classic shape errors: the trace stops at the failing layer and explains it."""

from __future__ import annotations

import pytest
import torch

from convrec.shapes import trace
from tests.shapes import models as M


def _torch_error(model: torch.nn.Module, shape: tuple[int, ...]) -> str:
    with pytest.raises(RuntimeError) as info:
        model(torch.zeros(shape))
    return str(info.value)


@pytest.mark.parametrize("run", [True, False])
def test_linear_in_features_576_vs_1024(run: bool) -> None:
    model = M.linear_mismatch()
    t = trace(model, (64, 1, 28, 28), run=run)
    f = t.failure
    assert f is not None and not t.ok and t.output_shape is None
    assert f.kind == "linear_in_features" and f.layer == "9" and f.input_shape == (64, 576)
    assert "expects in_features=1024 but gets 576 = 64·3·3" in f.summary
    assert "the feature map is 3×3, not 4×4" in f.summary
    assert any("576 comes from 8 (Flatten)" in c for c in f.cause)
    assert any("1024 = 64·4·4 needs a 4×4 map" in c for c in f.cause)
    # the formula chain 28 → 26 → 13 → 11 → 5 → 3
    chain = "\n".join(f.chain)
    for step in ("(28 + 2*0 - 3)//1 + 1 = 26", "(26 + 2*0 - 2)//2 + 1 = 13",
                 "(13 + 2*0 - 3)//1 + 1 = 11", "(11 + 2*0 - 2)//2 + 1 = 5 (the floor drops 1)",
                 "(5 + 2*0 - 3)//1 + 1 = 3", "64·3·3 = 576"):
        assert step in chain
    assert f.fixes[0].startswith("nn.Linear(576, 10) instead of nn.Linear(1024, 10)")
    assert any(x.startswith("input (64, 1, 30, 30)") for x in f.fixes)
    assert "padding=1 in 0 (Conv2d)" in f.fixes
    if run:
        assert f.error == "mat1 and mat2 shapes cannot be multiplied (64x576 and 1024x10)"
        assert f.error == _torch_error(model, (64, 1, 28, 28))
    else:
        assert f.source == "convrec (static)"
    assert len(t.rows) == 9  # the trace stops at the failing layer


def test_suggested_fixes_really_fit() -> None:
    """Apply the proposed input size and padding: the real model then runs."""
    model = M.linear_mismatch()
    model(torch.zeros(2, 1, 30, 30))
    padded = M.linear_mismatch()
    padded[0] = torch.nn.Conv2d(1, 64, 3, padding=1)
    assert padded(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_channel_mismatch_grayscale_into_rgb() -> None:
    t = trace(M.rgb_model(), (1, 1, 256, 256))
    f = t.failure
    assert f is not None and f.kind == "channels"
    assert f.error == ("Given groups=1, weight of size [64, 3, 3, 3], expected input"
                       "[1, 1, 256, 256] to have 3 channels, but got 1 channels instead")
    assert "grayscale (1-channel) image fed to a layer built for RGB" in f.summary
    assert "repeat the gray channel: x.expand(-1, 3, -1, -1) → (1, 3, 256, 256)" in f.fixes
    assert "in_channels=1 in 0 (Conv2d): nn.Conv2d(1, 64, ...)" in f.fixes


def test_channel_mismatch_deep_in_the_stack_names_the_producer() -> None:
    f = trace(M.chained_channels(), (2, 1, 28, 28)).failure
    assert f is not None and f.kind == "channels" and f.layer == "2"
    assert f.cause == ("0 (Conv2d) outputs (2, 8, 26, 26): 8 channels",)
    assert "out_channels=16 in 0 (Conv2d)" in f.fixes


@pytest.mark.parametrize("run", [True, False])
def test_kernel_larger_than_input_deep_in_the_stack(run: bool) -> None:
    t = trace(M.too_deep(), (1, 1, 10, 10), run=run)
    f = t.failure
    assert f is not None and f.kind == "kernel_too_large" and f.layer == "2"
    if run:
        assert "Kernel size can't be greater than actual input size" in f.error
    assert "the 5×5 kernel of 2 (Conv2d) does not fit its 2×2 input" in f.summary
    assert str(f.explanations[0]) == "(2 + 2*0 - 5)//1 + 1 = -2"
    assert f.explanations[0].rule_broken is not None
    assert f.fixes[0].startswith("input (1, 1, 13, 13) instead of (1, 1, 10, 10)")
    assert "padding=2 in 2 (Conv2d)" in f.fixes
    M.too_deep()(torch.zeros(1, 1, 13, 13))  # the proposed smallest input works
    with pytest.raises(RuntimeError):
        M.too_deep()(torch.zeros(1, 1, 12, 12))  # and one less does not


def test_flatten_forgotten_before_linear() -> None:
    t = trace(M.no_flatten(), (64, 1, 28, 28))
    f = t.failure
    assert f is not None and f.kind == "flatten_missing"
    assert f.error == "mat1 and mat2 shapes cannot be multiplied (13312x26 and 5408x10)"
    assert "nn.Flatten() is missing before 2 (Linear)" in f.summary
    assert "insert nn.Flatten() before 2 (Linear): 8·26·26 = 5408 = in_features, it fits" \
        in f.fixes


def test_wrong_rank_28x28_into_conv2d() -> None:
    f = trace(M.mnist_conv(), (28, 28)).failure
    assert f is not None and f.kind == "rank"
    assert "Expected 3D (unbatched) or 4D (batched) input to conv2d" in f.error
    assert "no batch and no channel dimension" in f.summary
    assert f.fixes[0].startswith("x[None, None] (x.unsqueeze(0).unsqueeze(0)) → (1, 1, 28, 28)")


def test_missing_channel_dim_is_read_as_64_channels() -> None:
    f = trace(M.mnist_conv(), (64, 28, 28)).failure
    assert f is not None and f.kind == "channels"
    assert "(64, 28, 28) has no channel dimension" in f.summary
    assert f.fixes[0] == "x.unsqueeze(1) → (64, 1, 28, 28)"


@pytest.mark.parametrize("run", [True, False])
def test_maxpool_output_too_small(run: bool) -> None:
    t = trace(M.too_much_pooling(), (1, 1, 28, 28), run=run)
    f = t.failure
    assert f is not None and f.kind == "pool_too_small" and f.layer == "4"
    if run:
        assert "Output size is too small" in f.error
    assert str(f.explanations[0]) == "(1 + 2*0 - 2)//2 + 1 = 0"
    # 5 poolings need 32 pixels after the stride-2 conv, so 63: no smaller input, padding or
    # kernel of the failing layer lets the WHOLE model through (each candidate was checked)
    assert f.fixes == ("input (1, 1, 63, 63) instead of (1, 1, 28, 28) (the smallest size "
                       "that reaches this layer with room for its window)",)
    assert M.too_much_pooling()(torch.zeros(1, 1, 63, 63)).shape == (1, 8, 1, 1)
    with pytest.raises(RuntimeError):
        M.too_much_pooling()(torch.zeros(1, 1, 62, 62))


def test_a_single_pooling_too_many_can_be_removed() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, stride=2, padding=1),
                                *[torch.nn.MaxPool2d(2) for _ in range(4)], torch.nn.Flatten())
    f = trace(model, (1, 1, 28, 28)).failure
    assert f is not None and f.kind == "pool_too_small" and f.layer == "4"
    assert "remove 1 (MaxPool2d) (one downsampling step fewer)" in f.fixes
    assert "padding=1 in 4 (MaxPool2d)" in f.fixes


def test_view_with_the_wrong_size_inside_forward() -> None:
    t = trace(M.wrong_view(), (8, 1, 32, 32))
    f = t.failure
    assert f is not None and f.kind == "reshape" and f.layer == "view()"
    assert "shape '[-1, 784]' is invalid for input of size 3200" in f.error
    assert any("per sample the tensor holds 16·5·5 = 400 values" in c for c in f.cause)
    assert f.fixes[0].startswith("x.view(x.size(0), -1) (or nn.Flatten()) → (8, 400)")


def test_functional_linear_failure_in_custom_forward() -> None:
    t = trace(M.LeNet(), (8, 1, 28, 28))
    f = t.failure
    assert f is not None and f.layer == "fc1" and f.kind == "linear_in_features"
    assert "the feature map is 4×4, not 5×5" in f.summary
    assert any(x.startswith("input (8, 1, 32, 32)") for x in f.fixes)


def test_matmul_failure_names_both_operands_and_a_checked_fix() -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.zeros(4, 3)

    t = trace(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), Broken()), (1, 1, 5, 5))
    f = t.failure
    assert f is not None and f.kind == "matmul"
    assert f.layer == "1.matmul()" and f.layer_type == "Tensor.matmul"
    assert f.error == _torch_error(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), Broken()),
                                   (1, 1, 5, 5))
    assert "cannot multiply (1, 2, 3, 3) @ (4, 3): inner sizes 3 and 4 differ" in f.summary
    assert f.cause[:2] == ("input 0: (1, 2, 3, 3) from 0 (Conv2d)",
                           "input 1: (4, 3) from a constant or parameter")
    assert any(x.startswith("transpose the right operand") and "(3, 4)" in x for x in f.fixes)
    torch.zeros(1, 2, 3, 3) @ torch.zeros(4, 3).T  # the proposed transpose runs
    assert [r.name for r in t.layers] == ["0"]


def test_unknown_failures_keep_the_pytorch_message() -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.unfold(2, 9, 1)

    t = trace(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), Broken()), (1, 1, 5, 5))
    f = t.failure
    assert f is not None and f.kind == "unknown"
    assert f.error == _torch_error(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), Broken()),
                                   (1, 1, 5, 5))
    assert f.cause == ("it received (1, 2, 3, 3) from 0 (Conv2d)",)


def test_a_layer_fed_a_piece_of_an_output_is_told_so_and_not_to_resize_the_producer() -> None:
    """The 3 channels come from split([3, 5]) of an 8-channel conv: changing that conv's
    out_channels to what the next layer wants would break the split."""

    class Split(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.a = torch.nn.Conv2d(4, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p, _ = self.c(x).split([3, 5], dim=1)
            return self.a(p)

    f = trace(Split(), (1, 3, 16, 16)).failure
    assert f is not None and f.kind == "channels" and f.layer == "a"
    assert f.cause == ("it gets (1, 3, 16, 16), 3 channels, from c (Conv2d) → "
                       "split(dim=1) piece 0",)
    assert f.fixes == ("in_channels=3 in a (Conv2d): nn.Conv2d(3, 4, ...)",)


def test_a_failure_raised_by_a_block_names_what_reached_it() -> None:
    """transformers' "Input image size (64*64) doesn't match model (32*32)" is raised in a
    block's own forward: the report gives the block's input and where it came from."""

    class Embeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Conv2d(3, 8, 8, stride=8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] != 32:
                raise ValueError(f"Input image size ({x.shape[-1]}) doesn't match model (32)")
            return self.proj(x)

    f = trace(torch.nn.Sequential(Embeddings()), (1, 3, 64, 64)).failure
    assert f is not None and f.layer == "0" and f.input_shape == (1, 3, 64, 64)
    assert f.cause == ("it received (1, 3, 64, 64) from the model's input 'input'",)
    assert f.error == "Input image size (64) doesn't match model (32)"


def test_failure_text_fits_one_screen() -> None:
    f = trace(M.linear_mismatch(), (64, 1, 28, 28)).failure
    assert f is not None
    text = f.to_text()
    assert len(text.splitlines()) <= 25
    assert text.splitlines()[0].startswith("FAILS at 9 (Linear) with input (64, 576)")


class _StatefulTagger(torch.nn.Module):
    """Passes an initial state sized for a batch-first input to a batch_first=False LSTM."""

    def __init__(self, batch_first: bool = False) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(8, 6, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(1, x.shape[0], 6)
        out, _ = self.lstm(x, (h0, h0))
        return out


def test_lstm_state_for_a_batch_first_input_suggests_batch_first() -> None:
    t = trace(_StatefulTagger(), (4, 20, 8))
    f = t.failure
    assert f is not None and f.layer == "lstm" and f.kind == "features"
    assert f.error == _torch_error(_StatefulTagger(), (4, 20, 8)).splitlines()[0]
    assert any("reads dim 1 (20) as the batch and dim 0 (4) as the sequence" in c
               for c in f.cause)
    assert "batch_first=True in lstm (LSTM) (checked: it then runs)" in f.fixes
    assert _StatefulTagger(batch_first=True)(torch.zeros(4, 20, 8)).shape == (4, 20, 6)


def test_lstm_input_size_and_silent_layout_note() -> None:
    f = trace(torch.nn.LSTM(8, 6), (20, 4, 5)).failure
    assert f is not None and "input_size=8 but the last dimension is 5" in f.summary
    assert "nn.LSTM(5, 6, ...) (input_size = the features that arrive)" in f.fixes
    ok = trace(torch.nn.LSTM(8, 6), (4, 20, 8))
    assert ok.ok and any("dim 0 (4) is read as the sequence" in x for x in ok.rows[0].formulas)


def test_ids_outside_the_embedding_are_explained() -> None:
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    ids = torch.tensor([[1, 2, 12]])
    f = trace(model, input_data=ids).failure
    assert f is not None and f.kind == "ids" and f.layer == "0"
    assert "num_embeddings=10, so ids must be in [0, 10), but the ids" in f.summary
    assert "range from 1 to 12" in f.summary
    assert f.fixes[0].startswith("nn.Embedding(13, 4)")
    assert trace(model, (1, 3), dtypes=torch.long).ok  # generated ids are valid ids


def test_inputs_as_tuple_and_dict() -> None:
    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.cat([a, b], dim=1)

    t = trace(Two(), input_data=(torch.zeros(2, 3), torch.zeros(2, 5)))
    assert [str(i) for i in t.inputs] == ["a (2, 3)", "b (2, 5)"]
    cat = next(r for r in t.rows if r.type == "torch.cat")
    assert t.output_shape == (2, 8) and cat.formulas == ("dim 1: 3 + 5 = 8",)
    assert t.source_names(cat) == ("input a", "input b")
    kw = trace(Two(), {"b": (2, 5), "a": (2, 3)})
    assert kw.output_shape == (2, 8)
    with pytest.raises(ValueError, match="dtype must be a torch dtype or one of"):
        trace(Two(), [(2, 3), (2, 5)], dtypes=["float", "text"])


@pytest.mark.parametrize(("layer", "shape", "dtype", "got"), [
    (torch.nn.Conv2d(3, 4, 3), (1, 3, 8, 8), "long", "int64"),
    (torch.nn.Linear(4, 4), (2, 4), "double", "float64"),
    (torch.nn.LSTM(4, 4), (2, 3, 4), "long", "int64"),
])
def test_an_input_of_the_wrong_dtype_names_both_dtypes_and_the_flag(
        layer: torch.nn.Module, shape: tuple[int, ...], dtype: str, got: str) -> None:
    """Float32 weights fed int64 ids (or float64): the failure says so, not "no shape rule"
    (nor, for an LSTM, its layout), and the fix it offers really runs."""
    t = trace(torch.nn.Sequential(layer), shape, dtypes=dtype)
    f = t.failure
    assert f is not None and f.kind == "dtype" and f.layer == "0"
    assert f.summary == (f"0 ({type(layer).__name__}) has float32 weights but gets {got} "
                         f"from the model's input 'input'")
    assert any("--dtype float32" in x for x in f.fixes)
    assert trace(torch.nn.Sequential(layer), shape, dtypes="float32").ok


def test_float_ids_into_an_embedding_suggest_long() -> None:
    t = trace(torch.nn.Sequential(torch.nn.Embedding(10, 4)), (2, 4))
    f = t.failure
    assert f is not None and f.kind == "dtype"
    assert f.summary == ("0 (Embedding) looks up integer ids but gets float32 from the "
                         "model's input 'input'")
    assert any("--dtype long" in x for x in f.fixes)


def test_an_optional_input_left_out_is_named_not_blamed_on_the_layer_before() -> None:
    """forward(tokens, signal=None) traced with tokens alone: the conv that gets None says
    so and names the missing input, instead of "received ? from a (Linear)"."""

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Linear(8, 4)
            self.b = torch.nn.Conv1d(3, 5, 3)

        def forward(self, tokens: torch.Tensor, signal: torch.Tensor | None = None
                    ) -> torch.Tensor:
            return self.a(tokens).sum(-1) + self.b(signal).sum((1, 2))

    t = trace(TwoInputs(), {"tokens": (2, 8)})
    f = t.failure
    assert f is not None and f.kind == "none_input" and f.layer == "b"
    assert f.summary == "b (Conv1d) gets None instead of a tensor"
    assert f.cause == ("the model's forward has an input the trace did not give, signal "
                       "(default None): pass it too, e.g. --input signal=SHAPE",)
    assert not any("from a (Linear)" in c for c in f.cause)
