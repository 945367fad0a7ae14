"""The digit reader shows what the model really has: its first layer, every layer, saliency;
a dot is "no digit"; the page holds no stale claim about the kernel."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from tests.vision.conftest import draw_digit

PREDICT = "/api/mnist/predict"


def test_every_layer_saliency_and_the_first_layer_from_the_model(
    digits_client: TestClient,
) -> None:
    response = digits_client.post(PREDICT, json={"images": [{"pixels": draw_digit(7).tolist()}]})
    assert response.status_code == 200, response.text
    p = response.json()["predictions"][0]
    assert p["first_layer"] == {"kernel": 5, "stride": 2, "padding": 0, "channels": 32}
    assert [layer["name"] for layer in p["layers"]] == ["2 ReLU", "3 MaxPool2d", "6 ReLU",
                                                       "7 MaxPool2d"]
    assert [len(layer["maps"]) for layer in p["layers"]] == [32, 32, 64, 64]
    assert p["saliency_png"].startswith("data:image/png;base64,")
    assert p["sure"] == (p["confidence"] >= 0.8)
    assert p["verdict"] == str(p["label"]) if p["sure"] else p["verdict"].startswith("not sure")


def test_a_single_dot_is_no_digit(digits_client: TestClient) -> None:
    dot = np.zeros((280, 280), np.uint8)
    dot[130:148, 130:148] = 255
    response = digits_client.post(PREDICT, json={"images": [{"pixels": dot.tolist()}]})
    assert response.status_code == 422 and "only a dot or a blob" in response.text


def test_the_page_does_not_claim_a_3x3_first_layer(digits_client: TestClient) -> None:
    page = digits_client.get("/digits")
    assert page.status_code == 200
    assert "3×3 kernel" not in page.text and 'id="saliency"' in page.text
