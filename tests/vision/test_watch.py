"""Training you can watch: activation statistics, colorful dimension, lr_find, the schedule,
the chapter's progression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from convrec.vision.mnist import MnistData
from convrec.vision.models import build_model
from convrec.vision.train import TrainConfig, TrainingCancelled, TrainResult, train
from convrec.vision.watch import (
    HIST_BINS,
    ActivationStats,
    chapter13_progression,
    color_dim,
    draw_stats,
    lr_find,
    lr_find_figure,
    schedule_figure,
    stats_figure,
    watched_layers,
)


def test_hooks_are_on_the_relus_and_the_logits() -> None:
    names = [f"{n} {type(m).__name__}" for n, m in watched_layers(build_model("simple"))]
    # simple_cnn: four conv+ReLU blocks, then the last conv (no ReLU) gives the logits
    assert names == ["0.1 ReLU", "1.1 ReLU", "2.1 ReLU", "3.1 ReLU", "4.0 Conv2d"]
    assert len(watched_layers(build_model("simple"), "all")) == 10
    with pytest.raises(ValueError, match="which must be 'relu' or 'all'"):
        watched_layers(build_model("simple"), "some")


def test_recorded_statistics_match_a_hand_computed_forward_pass() -> None:
    torch.manual_seed(0)
    model = build_model("simple").train()
    stats = ActivationStats()
    stats.before_fit(model, total_steps=1)
    x = torch.randn(16, 1, 28, 28)
    model(x)
    stats.after_batch(1, 0.0, 0.1, TrainResult(model=model, config=TrainConfig()))
    stats.after_fit(TrainResult(model=model, config=TrainConfig()))
    with torch.no_grad():
        relu0 = torch.relu(model[0][0](x))  # (16, 8, 14, 14): what the first ReLU gives
    assert stats.means[0, 0] == pytest.approx(float(relu0.mean()), rel=1e-5)
    assert stats.stds[0, 0] == pytest.approx(float(relu0.std()), rel=1e-5)
    assert stats.near_zero[0, 0] == pytest.approx(float((relu0.abs() <= 0.05).float().mean()))
    expected_hist = np.histogram(relu0.detach().numpy(), bins=HIST_BINS, range=(0, 10))[0]
    np.testing.assert_allclose(stats.hists[0, 0], expected_hist, atol=2)  # bin edges: float
    model(x)  # after detach: nothing recorded any more
    assert stats.means.shape == (1, 5) and not model[0][1]._forward_hooks


def test_stats_during_training_figures_and_cancel(small: MnistData, tmp_path: Path) -> None:
    stats = ActivationStats()
    result = train(small, TrainConfig(epochs=1, batch_size=100, eval_every=0), watchers=[stats])
    steps = len(result.lrs)
    assert stats.means.shape == (steps, len(stats.layers)) and len(result.losses) == steps
    image = color_dim(stats, 0)
    assert image.shape == (HIST_BINS, steps) and image.min() >= 0
    np.testing.assert_allclose(image, np.log1p(stats.hists[:, 0, :]).T)
    assert len(stats.summary_lines()) == len(stats.layers)
    for draw in (lambda p: stats_figure(stats, p),
                 lambda p: schedule_figure(result.lrs, result.losses, p, result.moms)):
        path = draw(tmp_path / "f.png")
        with Image.open(path) as img:
            assert img.format == "PNG" and img.width > 300
    # fastai's plot_layer_stats of one layer: its own row of four panels, by position or name
    last = draw_stats(stats, layers=[-2], title="the last ReLU")
    assert len(last.axes) == 4 and stats.layers[-2] in last.axes[0].get_title()
    np.testing.assert_allclose(last.axes[0].lines[0].get_ydata(), stats.means[:, -2])
    assert len(draw_stats(stats).axes) == 4 * len(stats.layers)
    with pytest.raises(ValueError, match="layer must be between"):
        draw_stats(stats, layers=[len(stats.layers)])
    # one-cycle: the rate rises to the peak then falls far below it, momentum moves opposite
    peak = int(np.argmax(result.lrs))
    assert 0 < peak < steps - 1 and result.lrs[-1] < result.lrs[peak] / 100
    assert result.moms[peak] < result.moms[0]

    class StopAfter:
        def __init__(self) -> None:
            self.seen = 0

        def before_fit(self, model: object, total_steps: int) -> None: ...
        def after_batch(self, step: int, loss: float, lr: float, result: object) -> None:
            self.seen = step
            if step == 3:
                raise TrainingCancelled

        def after_eval(self, point: object) -> None: ...
        def after_fit(self, result: object) -> None: ...

    stop = StopAfter()
    cut = train(small, TrainConfig(epochs=1, batch_size=100), watchers=[stop])  # type: ignore[list-item]
    assert cut.cancelled and len(cut.lrs) == 3 and stop.seen == 3


def test_constant_schedule_is_the_books_plain_fit(small: MnistData) -> None:
    runs = chapter13_progression(small, names=["baseline", "1cycle"])
    assert [r.name for r in runs] == ["baseline", "1cycle"]
    baseline, cycle = runs
    assert set(baseline.result.lrs) == {0.06} and baseline.config.batch_size == 64
    assert cycle.config.schedule == "one_cycle" and max(cycle.result.lrs) < 0.06 * 0.8
    assert "near zero" in baseline.line() and "%" in baseline.line()
    with pytest.raises(ValueError, match="experiment must be one of baseline"):
        chapter13_progression(small, names=["resnet"])


def test_lr_find_suggests_a_rate_below_the_blow_up(small: MnistData, tmp_path: Path) -> None:
    found = lr_find(small, TrainConfig(batch_size=50), steps=40, end_lr=100.0)
    assert found.stopped_early  # lr 100 makes the loss explode
    assert found.lrs[0] == pytest.approx(1e-7) and np.all(np.diff(found.lrs) > 0)
    lowest = found.lrs[int(np.argmin(found.losses))]
    assert found.suggestion == pytest.approx(lowest / 10)
    assert 1e-7 < found.steepest <= lowest
    assert "suggestion" in found.describe()
    assert lr_find_figure(found, tmp_path / "lr.png").is_file()
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_find(small, start_lr=1.0, end_lr=0.1)
