"""CNN definitions, their shape tables, the one-cycle trainer and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from convrec.vision.mnist import MnistData
from convrec.vision.models import MODELS, build_model, first_conv, shape_trace, simple_cnn
from convrec.vision.train import (
    PRESETS,
    CheckpointError,
    TrainConfig,
    _augment,
    evaluate,
    load_checkpoint,
    most_confused,
    save_checkpoint,
    train,
)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_maps_a_batch_to_ten_logits(name: str) -> None:
    model = build_model(name)
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert first_conv(model).in_channels == 1


def test_simple_cnn_is_the_books() -> None:
    model = simple_cnn(batchnorm=False)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (1, 8, 5, 2), (8, 16, 3, 2), (16, 32, 3, 2), (32, 64, 3, 2), (64, 10, 3, 2)]
    assert sum(p.numel() for p in model.parameters()) == 30_282  # biases included
    with_bn = simple_cnn(batchnorm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules()) == 5
    with pytest.raises(ValueError, match="model must be one of simple, simple_bn, fast"):
        build_model("resnet")


def test_shape_table_explains_each_layer_with_numbers() -> None:
    table = shape_trace(build_model("simple"), (64, 1, 28, 28))
    assert table.ok and table.output_shape == (64, 10)
    first = table.rows[0]
    assert first.output_shape == (64, 8, 14, 14)
    assert "(28 + 2*2 - 5)//2 + 1 = 14" in " ".join(first.why)
    assert table.total_params == 30_282
    fast = shape_trace(build_model("fast"), (64, 1, 28, 28))
    assert fast.rows[0].output_shape == (64, 32, 12, 12)


def test_training_learns_and_is_deterministic(small: MnistData) -> None:
    # a fixed thread count: the default follows the machine's load, and oneDNN's reductions
    # may round differently with another number of threads
    config = TrainConfig(epochs=3, batch_size=64, lr=0.01, eval_every=1.0, threads=1)
    a = train(small, config)
    b = train(small, config)
    assert [p.epoch for p in a.history] == [1.0, 2.0, 3.0]
    assert a.final_accuracy > 0.85
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(),
                                                 b.model.state_dict().values(), strict=True))
    c = train(small, config.with_changes(seed=1, epochs=1.0))
    assert not torch.equal(first_conv(c.model).weight, first_conv(a.model).weight)
    assert a.time_to(0.5) is not None and a.time_to(1.01) is None


def test_bad_config_values_are_named(small: MnistData) -> None:
    for change, message in [({"epochs": 0}, "epochs must be > 0"), ({"lr": -1.0}, "lr must be"),
                            ({"model": "x"}, "model must be one of"),
                            ({"pct_start": 1.5}, "pct_start must be")]:
        with pytest.raises(ValueError, match=message):
            train(small, TrainConfig().with_changes(**change))


def test_checkpoint_round_trip_and_bad_files(small: MnistData, tmp_path: Path) -> None:
    result = train(small, TrainConfig(epochs=1, batch_size=100))
    path = save_checkpoint(tmp_path / "sub" / "m.pt", result, extra={"source": "small"})
    model, meta = load_checkpoint(path)
    assert meta["config"]["model"] == "fast" and meta["source"] == "small"
    x = torch.rand(4, 1, 28, 28)
    assert torch.allclose(model(x), result.model(x), atol=1e-5)
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"garbage\.pt: not a convrec MNIST checkpoint"):
        load_checkpoint(garbage)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"state_dict": {}, "meta_json": '{"config": {"model": "vgg"}}'}, tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match="unknown model 'vgg'"):
        load_checkpoint(tmp_path / "o.pt")


def test_evaluate_and_most_confused() -> None:
    confusion = np.eye(10, dtype=np.int64) * 50
    confusion[4, 9] = 7
    confusion[7, 2] = 3
    assert most_confused(confusion, 5) == [(4, 9, 7), (7, 2, 3)]
    model = build_model("fast").eval()
    images = np.zeros((3, 28, 28), np.uint8)
    result = evaluate(model, images, np.array([0, 1, 2]))
    assert result.confusion.sum() == 3 and result.predictions.shape == (3,)
    with pytest.raises(ValueError, match="0 digits"):
        evaluate(model, images[:0], np.array([], np.int64))


def test_augmentation_keeps_shape_and_background() -> None:
    x = torch.full((6, 1, 28, 28), -0.4242)
    x[:, :, 10:18, 10:18] = 2.0
    out = _augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.allclose(out[:, :, 0, 0], torch.full((6, 1), -0.4242))
    assert not torch.equal(out, x)


def test_presets_reproduce_the_book_recipes() -> None:
    assert (PRESETS["book"].model, PRESETS["book"].batch_size, PRESETS["book"].epochs,
            PRESETS["book"].lr) == ("simple", 64, 1, 0.06)
    assert (PRESETS["book_bn"].model, PRESETS["book_bn"].batch_size, PRESETS["book_bn"].epochs,
            PRESETS["book_bn"].lr) == ("simple_bn", 512, 5, 0.1)


def test_threads_follow_the_machine_or_convrec_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from convrec.vision.train import machine_threads

    monkeypatch.delenv("CONVREC_THREADS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert machine_threads() == cpus  # an idle machine: every CPU of this process
    monkeypatch.setattr(os, "getloadavg", lambda: (cpus + 5.0, 0.0, 0.0))
    assert machine_threads() == 1  # all busy: one thread, never zero
    monkeypatch.setenv("CONVREC_THREADS", "3")
    assert machine_threads() == 3
    monkeypatch.setenv("CONVREC_THREADS", "two")
    with pytest.raises(ValueError, match="CONVREC_THREADS must be a whole number >= 1"):
        machine_threads()
