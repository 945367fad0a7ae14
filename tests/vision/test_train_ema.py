"""Weight averaging (``TrainConfig.ema``): the average by hand, and what the trainer scores."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convrec.vision.mnist import MnistData
from convrec.vision.train import TrainConfig, _Averaged, evaluate, train


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.Flatten(),
                         nn.Linear(2 * 26 * 26, 10))


def test_the_average_moves_by_the_ramped_decay_and_carries_batchnorm() -> None:
    torch.manual_seed(0)
    live = _net()
    averaged = _Averaged(live, decay=0.9)
    start = {k: v.clone() for k, v in averaged.model.state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    live.train()
    live(torch.randn(4, 1, 28, 28))  # moves BatchNorm's running statistics, counts a batch
    averaged.update(live, step=1)
    d = min(0.9, (1 + 1) / (10 + 1))  # 2/11: the first steps are barely averaged in
    for name, value in averaged.model.state_dict().items():
        now = live.state_dict()[name]
        if value.is_floating_point():
            torch.testing.assert_close(value, d * start[name] + (1 - d) * now, msg=name)
        else:
            assert torch.equal(value, now), name  # num_batches_tracked: copied
    assert not any(p.requires_grad for p in averaged.model.parameters())
    averaged.update(live, step=1000)  # past the ramp: the configured decay
    before = averaged.model.state_dict()["0.weight"].clone()
    with torch.no_grad():
        live.get_parameter("0.weight").add_(10.0)
    averaged.update(live, step=1001)
    torch.testing.assert_close(averaged.model.state_dict()["0.weight"],
                               0.9 * before + 0.1 * live.get_parameter("0.weight"))


@pytest.fixture(scope="module")
def tiny(small: MnistData) -> MnistData:
    return MnistData(small.train_images[:512], small.train_labels[:512],
                     small.valid_images[:200], small.valid_labels[:200], source="tiny")


def test_training_with_ema_scores_and_returns_the_averaged_weights(tiny: MnistData) -> None:
    config = TrainConfig(epochs=2, batch_size=64, lr=0.01, eval_every=1.0, threads=1)
    plain = train(tiny, config)
    averaged = train(tiny, config.with_changes(ema=0.9))
    # the same seed, the same steps: only the averaging differs
    assert [p.step for p in averaged.history] == [p.step for p in plain.history] == [8, 16]
    assert averaged.losses == plain.losses
    gap = max(float((a - b).abs().max()) for a, b in zip(
        averaged.model.state_dict().values(), plain.model.state_dict().values(), strict=True)
        if a.is_floating_point())
    assert gap > 1e-3  # the returned model is the average, not the last weights
    again = evaluate(averaged.model, tiny.valid_images, tiny.valid_labels,
                     averaged.normalization)
    assert again.accuracy == averaged.final_accuracy  # what was scored is what is returned


def test_a_bad_decay_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^ema must be a decay in \[0, 1\) .*got ema=1.0$"):
        TrainConfig(ema=1.0).validate()
