"""Measured ``auto``: wisdom kept per machine, results unchanged, off unless a face enables it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convrec.conv import _engines, conv2d, edge_weights, tuning


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


def test_measuring_warms_up_interleaves_and_takes_the_median(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scripted durations instead of a clock (no test of wall time): each candidate returns
    # its name, and the fake timer hands out that candidate's next duration.
    script = {
        # warm-up 1 s (numba cache load), then 10-12 ms with one 500 ms burst of load
        "stencil": [1.0, 0.010, 0.011, 0.5, 0.010, 0.012],
        # its first timed call is the fastest of all (9 ms), but it is typically 12 ms:
        # a single timing per engine would have picked it
        "im2col": [0.02, 0.009, 0.012, 0.012, 0.013, 0.012],
        # more than 4 times the fastest in the first round: not timed again
        "torch": [0.03, 0.04],
    }
    calls: list[str] = []
    switch_s = 0.001  # what each untimed call before a timing costs here

    def fake_seconds(run: object) -> float:
        name = run()  # type: ignore[operator]
        calls.append(name)
        after_warm_up = len(calls) - len(script)
        if after_warm_up > 0 and after_warm_up % 2 == 1:
            return switch_s  # the call that absorbs the switch from another engine
        return script[name].pop(0)

    monkeypatch.setattr(tuning, "_seconds", fake_seconds)
    monkeypatch.setattr(tuning, "SHAPE_BUDGET_S", 10.0)  # every round runs
    best = tuned.measure("sig", {name: partial(str, name) for name in script})
    assert best == "stencil"  # median 11 ms against im2col's 12 ms
    engines = ["stencil", "im2col", "torch"]
    assert calls[:3] == engines  # one warm-up each
    pairs = calls[3:]
    assert pairs[::2] == pairs[1::2]  # each timing follows an untimed call of its engine
    timed = pairs[1::2]
    assert timed[:3] == engines and timed.count("torch") == 1
    # later rounds rotate which engine goes first, so a burst does not always hit the same one
    assert timed[3:] == ["im2col", "stencil", "stencil", "im2col"] * 2
    entry = tuned.choices["sig"]
    assert entry == {"engine": "stencil", "rounds": tuning.ROUNDS,
                     "ms": {"stencil": 11.0, "im2col": 12.0, "torch": 40.0}}
    durations = [1.0, 0.02, 0.03, 0.010, 0.011, 0.5, 0.010, 0.012, 0.009, 0.012, 0.012, 0.013,
                 0.012, 0.04]
    assert tuned.budget_s == pytest.approx(2.0 - sum(durations) - switch_s * len(timed))


def test_a_costly_shape_stops_after_the_minimum_rounds(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "_seconds", lambda run: run())
    costs = {"stencil": 0.2, "im2col": 0.15}  # seconds per call: past SHAPE_BUDGET_S at once
    tuned.measure("big", {name: partial(float, c) for name, c in costs.items()})
    assert tuned.choices["big"]["rounds"] == tuning.MIN_ROUNDS < tuning.ROUNDS
    assert tuned.choices["big"]["engine"] == "im2col"


def test_reentering_a_tuned_block_does_not_reread_the_file(tmp_path: Path) -> None:
    with tuning.tuned(tmp_path) as first:
        conv2d(np.ones((2, 1, 6, 6), np.float32), edge_weights())
    assert not tuning.enabled()
    first.path.write_text("{}")  # were it read again, the choice would be gone
    try:
        with tuning.tuned(tmp_path) as again:
            assert again is first and len(again.choices) == 1
    finally:
        tuning.disable()
    assert tuning.enable(tmp_path).choices == {}  # after disable(): read afresh
    tuning.disable()


def test_probe_size_is_a_few_million_multiply_adds_of_whole_images() -> None:
    # W2, all MNIST digits and four 3×3 kernels: 16 M / 24,336 per digit = 657.5 -> 658
    assert tuning.probe_images(60_000, 60_000 * 4 * 26 * 26 * 9) == 658
    assert tuning.probe_images(64, 64 * 4 * 26 * 26 * 9) == 64  # the seed batch: small, whole
    assert tuning.probe_images(256, 256 * 64 * 28 * 28 * 144) == tuning.PROBE_MIN_IMAGES
    assert tuning.probe_images(3, 10**12) == 3  # fewer images than the minimum: all of them
    assert tuning.probe_images(1, 10**12) == 1


def test_a_large_batch_is_timed_on_its_first_images(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "PROBE_MULTIPLY_ADDS", 10**5)
    batches: list[int] = []
    real_im2col = _engines.im2col

    def im2col_spy(x: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        batches.append(x.shape[0])
        return real_im2col(x, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_engines, "im2col", im2col_spy)
    x = np.random.default_rng(2).random((40, 1, 16, 16), dtype=np.float32)
    got = conv2d(x, edge_weights(), padding=1)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(edge_weights()), padding=1)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)  # the whole batch's result
    probe = tuning.probe_images(40, 40 * 4 * 16 * 16 * 9)
    assert probe == 11  # ceil(100,000 / 9,216 multiply-adds per image)
    (entry,) = tuned.choices.values()
    assert entry["probe_images"] == probe
    measured = batches if entry["engine"] != "im2col" else batches[:-1]
    assert measured and set(measured) == {probe}  # every timed call saw the first 11 images
    if entry["engine"] == "im2col":
        assert batches[-1] == 40


def test_enabling_tuning_stops_torch_page_faulting_its_buffers_on_every_call(
    tuned: tuning.Wisdom,
) -> None:
    import resource

    if not tuning.reuse_freed_blocks():
        pytest.skip("not glibc: its allocator decides")
    # a 51 MB output, over the 32 MB that glibc's own threshold can reach by itself: without
    # the setting, every call maps it afresh (12,500 page faults a call for a 49 MB one)
    x = torch.from_numpy(np.random.default_rng(3).random((64, 3, 56, 56), dtype=np.float32))
    w = torch.ones((64, 3, 3, 3))
    F.conv2d(x, w)  # the first call maps its blocks
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        F.conv2d(x, w)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 1000  # 51 MB is 12,500 pages: the blocks were reused, not mapped again


def _scripted_probe(monkeypatch: pytest.MonkeyPatch, ms: dict[str, float]) -> None:
    """Every timed probe call of an engine takes ``ms[engine]`` (no clock in the test)."""
    monkeypatch.setattr(tuning, "_seconds", lambda run: ms[run()] / 1e3)


def _confirm(
    wisdom: tuning.Wisdom, whole_ms: dict[str, float], outlier: str | None = None
) -> list[tuple[str, bool]]:
    """Play the real calls that confirm ``"sig"``: each runs what ``confirming`` names and
    takes ``whole_ms`` of it, but the first timed call of ``outlier`` takes 10 times that."""
    steps = []
    while (step := wisdom.confirming("sig")) is not None:
        steps.append(step)
        slow = step == (outlier, True) and steps.count(step) == 1
        wisdom.record_whole("sig", whole_ms[step[0]] * (10 if slow else 1) / 1e3)
    return steps


def test_a_close_runner_up_on_the_probe_is_confirmed_on_the_whole_batch(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (256, 1, 28, 28) × 64 kernels on one run of the crossover sweep: im2col fastest on the
    # first 36 images, torch on all 256 once im2col's columns overflow the caches
    _scripted_probe(monkeypatch, {"stencil": 2.56, "im2col": 1.38, "torch": 1.72})
    candidates = {name: partial(str, name) for name in ("stencil", "im2col", "torch")}
    assert tuned.measure("sig", candidates, probe_images=36, batch_images=256) == "im2col"
    steps = _confirm(tuned, {"stencil": 18.3, "im2col": 17.1, "torch": 14.1})
    # the pick twice then the runner-up twice, each second call timed; all of it twice
    assert steps == [("im2col", False), ("im2col", True), ("torch", False), ("torch", True)] * 2
    entry = tuned.choices["sig"]
    assert entry["engine"] == "torch" == tuned.lookup("sig")
    assert entry["whole_ms"] == {"im2col": 17.1, "torch": 14.1}
    assert json.loads(tuned.path.read_text())["choices"]["sig"]["engine"] == "torch"  # saved


def test_the_probe_pick_stays_unless_the_runner_up_is_clearly_faster_on_the_whole_batch(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scripted_probe(monkeypatch, {"stencil": 1.0, "im2col": 1.2, "torch": 9.0})
    candidates = {name: partial(str, name) for name in ("stencil", "im2col", "torch")}
    tuned.measure("sig", candidates, probe_images=8, batch_images=64)
    assert tuned.choices["sig"]["runner_up"] == "im2col"  # torch was not close: never tried
    _confirm(tuned, {"stencil": 10.0, "im2col": 9.5})  # 5% faster: within the noise
    assert tuned.lookup("sig") == "stencil"


def test_one_slow_whole_batch_timing_does_not_decide(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scripted_probe(monkeypatch, {"torch": 1.9, "im2col": 2.4})
    tuned.measure("sig", {name: partial(str, name) for name in ("torch", "im2col")}, 142, 256)
    _confirm(tuned, {"torch": 3.7, "im2col": 4.3}, outlier="torch")  # torch once took 37 ms
    assert tuned.lookup("sig") == "torch" and tuned.choices["sig"]["whole_ms"]["torch"] == 3.7


@pytest.mark.parametrize(
    ("probe", "batch", "ms", "why"),
    [
        (64, 64, {"stencil": 1.0, "im2col": 1.1}, "the probe was the whole batch"),
        (8, 64, {"stencil": 1.0, "im2col": 1.6}, "the runner-up was not close on the probe"),
        (8, 4096, {"stencil": 1.0, "im2col": 1.2}, "one runner-up call would take 0.6 s"),
    ],
)
def test_no_whole_batch_confirmation_when_it_cannot_change_the_pick_or_costs_too_much(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch, probe: int, batch: int,
    ms: dict[str, float], why: str,
) -> None:
    _scripted_probe(monkeypatch, ms)
    tuned.measure("sig", {name: partial(str, name) for name in ms}, probe, batch)
    assert tuned.confirming("sig") is None, why
    assert "runner_up" not in tuned.choices["sig"]


def test_confirming_calls_return_the_right_result_whichever_engine_runs(
    tuned: tuning.Wisdom, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "PROBE_MULTIPLY_ADDS", 10**5)  # probe 11 of the 40 images
    for name in ("CONFIRM_WITHIN", "CLEARLY_SLOWER", "CONFIRM_MAX_S"):
        monkeypatch.setattr(tuning, name, 1e9)  # whatever the timings, a runner-up confirms
    x = np.random.default_rng(4).random((40, 1, 16, 16), dtype=np.float32)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(edge_weights()), padding=1)
    out = np.empty((40, 4, 16, 16), np.float32)
    for _ in range(1 + len(tuning.CONFIRM_STEPS)):
        got = conv2d(x, edge_weights(), padding=1, out=out)
        assert got is out
        np.testing.assert_allclose(out, expected.numpy(), atol=1e-5)
        out[:] = np.nan  # a call that wrote nothing would fail the next comparison
    (entry,) = tuned.choices.values()
    assert entry["whole_calls"] == len(tuning.CONFIRM_STEPS)
    assert set(entry["whole_ms"]) == {entry["pick"], entry["runner_up"]}
    assert entry["engine"] in (entry["pick"], entry["runner_up"])
