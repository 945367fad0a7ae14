"""Issue 17's ``fast`` preset: the ``lean`` model against a hand count, label smoothing
against ``F.cross_entropy``'s, and the preset's own settings."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convrec.vision.mnist import MnistData
from convrec.vision.models import build_model, lean_cnn, shape_trace
from convrec.vision.train import (
    PRESETS,
    TrainConfig,
    TrainResult,
    divide_logits,
    evaluate,
    fit_temperature,
    train,
)


def _outputs(model: nn.Sequential, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Each layer's type and output shape, in order, from running it."""
    seen = []
    for layer in model:
        x = layer(x)
        seen.append((type(layer).__name__, tuple(x.shape)))
    return seen


def test_lean_cnn_pools_before_batchnorm_with_the_shapes_and_parameters_by_hand() -> None:
    model = lean_cnn().eval()
    n = 3
    # conv k5 s2: (28 - 5)//2 + 1 = 12; pool 2: 6; conv k3: 6 - 3 + 1 = 4; pool 2: 2;
    # flatten 64 * 2 * 2 = 256; hidden 128; ten logits
    assert _outputs(model, torch.zeros(n, 1, 28, 28)) == [
        ("Conv2d", (n, 32, 12, 12)), ("MaxPool2d", (n, 32, 6, 6)),
        ("BatchNorm2d", (n, 32, 6, 6)), ("ReLU", (n, 32, 6, 6)),
        ("Conv2d", (n, 64, 4, 4)), ("MaxPool2d", (n, 64, 2, 2)),
        ("BatchNorm2d", (n, 64, 2, 2)), ("ReLU", (n, 64, 2, 2)),
        ("Flatten", (n, 256)), ("Linear", (n, 128)), ("BatchNorm1d", (n, 128)),
        ("ReLU", (n, 128)), ("Linear", (n, 10)),
    ]
    # convs and the hidden layer have no bias (BatchNorm follows); BatchNorm: weight + bias
    by_hand = (1 * 32 * 5 * 5 + 2 * 32 + 32 * 64 * 3 * 3 + 2 * 64 + 256 * 128 + 2 * 128
               + 128 * 10 + 10)
    assert by_hand == 53_738
    assert sum(p.numel() for p in model.parameters()) == by_hand
    small = lean_cnn(width=16, hidden=64)
    assert _outputs(small, torch.zeros(n, 1, 28, 28))[8:10] == [("Flatten", (n, 128)),
                                                                ("Linear", (n, 64))]
    assert sum(p.numel() for p in small.parameters()) == (
        25 * 16 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 128 * 64 + 2 * 64 + 64 * 10 + 10)
    table = shape_trace(build_model("lean"), (64, 1, 28, 28))  # the tracer agrees
    assert table.ok and table.total_params == by_hand
    assert [r.output_shape for r in table.rows][:2] == [(64, 32, 12, 12), (64, 32, 6, 6)]


@pytest.fixture(scope="module")
def tiny(small: MnistData) -> MnistData:
    return MnistData(small.train_images[:256], small.train_labels[:256],
                     small.valid_images[:100], small.valid_labels[:100], source="tiny")


def _first_loss_by_hand(data: MnistData, config: TrainConfig, smoothing: float) -> float:
    """The first step's loss recomputed outside the trainer: the same seeded weights and
    the same first shuffled batch, in train mode (BatchNorm on the batch's statistics)."""
    torch.manual_seed(config.seed)
    model = build_model(config.model).train()
    x, y = next(iter(data.batches("train", config.batch_size, shuffle=True,
                                  normalize=data.pixel_stats(), seed=config.seed,
                                  drop_last=True)))
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y, label_smoothing=smoothing))


def test_label_smoothing_is_cross_entropys(tiny: MnistData) -> None:
    config = TrainConfig(model="lean", epochs=1, batch_size=64, eval_every=0, threads=1,
                         channels_last=False)
    smoothed = train(tiny, config.with_changes(label_smoothing=0.1))
    plain = train(tiny, config)
    want = _first_loss_by_hand(tiny, config, 0.1)
    assert smoothed.losses[0] == pytest.approx(want, rel=1e-5)
    assert plain.losses[0] == pytest.approx(_first_loss_by_hand(tiny, config, 0.0), rel=1e-5)
    assert abs(smoothed.losses[0] - plain.losses[0]) > 1e-3  # the smoothing is really applied


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_a_bad_label_smoothing_is_one_line(value: float) -> None:
    with pytest.raises(ValueError, match=r"^label_smoothing must be in \[0, 1\) .*got "
                                         r"label_smoothing="):
        TrainConfig(label_smoothing=value).validate()


def test_the_fast_preset_is_the_tuned_lean_recipe() -> None:
    fast = PRESETS["fast"].validate()
    assert (fast.model, fast.epochs, fast.batch_size, fast.lr, fast.pct_start, fast.ema,
            fast.label_smoothing, fast.augment, fast.channels_last) == (
        "lean", 4.0, 256, 0.03, 0.1, 0.99, 0.1, "none", True)
    # the plain defaults stay what old checkpoints and the live page were trained with
    assert (TrainConfig().model, TrainConfig().label_smoothing) == ("fast", 0.0)


def test_a_warm_up_of_exactly_one_step_trains(tiny: MnistData) -> None:
    # 256 digits in batches of 64: 4 steps, a quarter of which is one step of warm-up, where
    # PyTorch's OneCycleLR alone divides 0 by 0
    config = TrainConfig(epochs=1, batch_size=64, pct_start=0.25, eval_every=0, threads=1)
    result = train(tiny, config)
    assert len(result.lrs) == 4 and result.lrs[0] == pytest.approx(config.lr / 25)
    assert result.lrs[1] > result.lrs[2] > result.lrs[3]  # annealing from step 1


def test_divide_logits_scales_the_last_layer_of_every_model() -> None:
    x = torch.randn(6, 1, 28, 28)
    for name in ("lean", "fast", "simple_bn", "simple"):  # Linear, Linear, BatchNorm, Conv
        torch.manual_seed(0)
        model = build_model(name).eval()
        with torch.no_grad():
            before = model(x)
            divide_logits(model, 0.4)
            torch.testing.assert_close(model(x), before / 0.4, msg=name)
    with pytest.raises(ValueError, match="cannot divide the logits of a model ending in ReLU"):
        divide_logits(nn.Sequential(nn.Linear(3, 10), nn.ReLU()), 2.0)
    with pytest.raises(ValueError, match=r"^temperature must be > 0 and finite, got "
                                         r"temperature=0.0$"):
        divide_logits(build_model("lean"), 0.0)


def test_label_smoothing_returns_a_recalibrated_model(tiny: MnistData) -> None:
    class KeepRaw:
        """Copies the model as training left it (before any recalibration)."""

        raw: nn.Module

        def before_fit(self, model: nn.Module, total_steps: int) -> None: ...

        def after_batch(self, step: int, loss: float, lr: float, result: object) -> None: ...

        def after_eval(self, point: object) -> None: ...

        def after_fit(self, result: TrainResult) -> None:
            self.raw = copy.deepcopy(result.model).cpu().eval()

    config = TrainConfig(model="lean", epochs=3, batch_size=64, eval_every=0, threads=1)
    plain = train(tiny, config)
    assert plain.temperature == 1.0  # nothing to recalibrate
    keep = KeepRaw()
    smoothed = train(tiny, config.with_changes(label_smoothing=0.1), watchers=[keep])
    images, labels, norm = tiny.valid_images, tiny.valid_labels, smoothed.normalization
    assert smoothed.temperature == fit_temperature(keep.raw, images, labels, norm) != 1.0
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(smoothed.model(x), keep.raw(x) / smoothed.temperature)
    # its own best temperature is now 1, and no prediction changed
    assert fit_temperature(smoothed.model, images, labels, norm) == pytest.approx(1.0, rel=1e-6)
    assert evaluate(smoothed.model, images, labels, norm).accuracy == smoothed.final_accuracy


def test_fit_temperature_finds_the_temperature_of_known_logits() -> None:
    # a "model" that outputs fixed logits per digit: one-hot logits of 3 on the label,
    # i.e. p = e^3 / (e^3 + 9) = 0.69 on digits all right: the best temperature is the
    # smallest one tried (any sharpening helps); with some wrong, an inner optimum
    class Fixed(nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = nn.Parameter(logits, requires_grad=False)
            self.seen = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.logits[self.seen : self.seen + len(x)]
            self.seen += len(x)
            return out

    labels = np.arange(100) % 10
    images = np.zeros((100, 28, 28), np.uint8)
    right = 3.0 * F.one_hot(torch.from_numpy(labels), 10).float()  # (100, 10)
    assert fit_temperature(Fixed(right), images, labels) == pytest.approx(0.05)
    mixed = right.clone()
    mixed[:10] = 3.0 * F.one_hot(torch.from_numpy((labels[:10] + 1) % 10), 10).float()
    # 90 right, 10 wrong, all at the same margin: the cross-entropy of logits 3/T is lowest
    # where the top probability e^(3/T) / (e^(3/T) + 9) equals the accuracy 0.9
    best = 3.0 / float(np.log(0.9 * 9 / 0.1))
    found = fit_temperature(Fixed(mixed), images, labels)
    assert found == pytest.approx(best, rel=0.03)  # the grid's step is 2.5%
    with pytest.raises(ValueError, match="0 digits"):
        fit_temperature(Fixed(right), images[:0], labels[:0])
