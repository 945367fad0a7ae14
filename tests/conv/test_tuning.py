"""Measured ``auto``: wisdom kept per machine, results unchanged, off unless a face enables it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convrec.conv import conv2d, edge_weights, tuning


@pytest.fixture
def tuned(tmp_path: Path) -> Iterator[tuning.Wisdom]:
    yield tuning.enable(tmp_path)
    tuning.disable()


def test_tuning_is_off_by_default() -> None:
    assert not tuning.enabled() and tuning.wisdom() is None


def test_first_call_measures_records_and_returns_the_right_result(
    tuned: tuning.Wisdom,
) -> None:
    x = np.random.default_rng(0).random((8, 1, 12, 12), dtype=np.float32)
    got = conv2d(x, edge_weights(), padding=1)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(edge_weights()), padding=1)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
    (entry,) = tuned.choices.values()
    assert entry["engine"] in ("stencil", "im2col", "torch")
    assert set(entry["ms"]) == {"stencil", "im2col", "torch"}
    saved = json.loads(tuned.path.read_text())
    assert saved["machine"] == tuning.machine_key() and saved["choices"] == tuned.choices
    # the second call looks the choice up: nothing new is measured
    budget = tuned.budget_s
    conv2d(x, edge_weights(), padding=1)
    assert tuned.budget_s == budget and len(tuned.choices) == 1


def test_wisdom_is_reused_by_a_later_process_and_a_torn_file_is_ignored(
    tmp_path: Path,
) -> None:
    wisdom = tuning.enable(tmp_path)
    try:
        conv2d(np.ones((2, 1, 6, 6), np.float32), edge_weights())
        assert tuning.enable(tmp_path) is wisdom  # enabled again: the same, loaded once
        tuning.disable()  # a later process starts with nothing in memory
        again = tuning.enable(tmp_path)
        assert again is not wisdom and again.choices == wisdom.choices
        tuning.disable()
        wisdom.path.write_text('{"machine": ')  # torn
        assert tuning.enable(tmp_path).choices == {}
        tuning.disable()
        other = {"machine": {**tuning.machine_key(), "cpu": "another CPU"}, "choices": {"x": {}}}
        wisdom.path.write_text(json.dumps(other))
        assert tuning.enable(tmp_path).choices == {}  # another machine's wisdom is not ours
    finally:
        tuning.disable()


def test_no_measuring_past_the_budget(tuned: tuning.Wisdom) -> None:
    tuned.budget_s = 0.0
    conv2d(np.ones((2, 1, 6, 6), np.float32), edge_weights())
    assert tuned.choices == {}


def test_an_explicit_engine_is_never_second_guessed(tuned: tuning.Wisdom) -> None:
    conv2d(np.ones((2, 1, 6, 6), np.float32), edge_weights(), engine="direct")
    assert tuned.choices == {}
