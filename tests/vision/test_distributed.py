"""Data-parallel training: 2 processes on this machine give the one-process weights."""

from __future__ import annotations

import pytest
import torch

from convrec.vision.distributed import train_distributed
from convrec.vision.mnist import MnistData
from convrec.vision.train import Shard, TrainConfig, _train, train


@pytest.fixture(scope="module")
def tiny(small: MnistData) -> MnistData:
    return MnistData(small.train_images[:512], small.train_labels[:512],
                     small.valid_images[:200], small.valid_labels[:200], source="tiny")


def test_two_processes_match_one_process(tiny: MnistData) -> None:
    # the simple model has no BatchNorm, so DDP over gloo must follow the same trajectory
    config = TrainConfig(model="simple", epochs=2, batch_size=64, lr=0.05, eval_every=1.0,
                         channels_last=False, device="cpu")
    one = train(tiny, config)
    two = train_distributed(tiny, config, nproc=2)
    assert two is not None
    assert [p.step for p in two.history] == [p.step for p in one.history] == [8, 16]
    for (name, a), b in zip(one.model.state_dict().items(), two.model.state_dict().values(),
                            strict=True):
        # AdamW divides by sqrt(v): summation-order noise (1e-7) grows to about 5e-5 here
        assert torch.allclose(a, b, rtol=0, atol=5e-4), name
    assert abs(two.final_accuracy - one.final_accuracy) <= 0.01
    # the check is sharp: one process training on its half of each batch alone (no gradient
    # averaging) ends far from the whole-batch weights
    half = _train(tiny, config, False, None, Shard(rank=0, world=2, wrap=lambda m: m))
    gaps = [float((a - b).abs().max()) for a, b in zip(one.model.state_dict().values(),
                                                       half.model.state_dict().values(),
                                                       strict=True)]
    assert max(gaps) > 1e-2


def test_bad_process_counts_are_named(tiny: MnistData) -> None:
    with pytest.raises(ValueError, match="nproc must be an integer >= 1, got nproc=0"):
        train_distributed(tiny, TrainConfig(), nproc=0)
    with pytest.raises(ValueError, match=r"batch_size must be divisible.*batch_size=65.*=2"):
        train_distributed(tiny, TrainConfig(batch_size=65), nproc=2)
    with pytest.raises(ValueError, match=r"device must be auto, cpu or cuda.*'tpu'"):
        train_distributed(tiny, TrainConfig(device="tpu"), nproc=2)
