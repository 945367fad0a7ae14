"""The API's convolution vocabulary is conv's, and conv's guard answers before any work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convrec.conv import PADDING_MODES, PADDING_NAMES, conv2d, top_edge
from convrec.settings import Limits
from convrec.web.playground import PlaygroundIn
from convrec.web.schemas import ConvApplyIn


def _post(client: TestClient, **body: Any) -> Any:
    image = np.arange(8 * 9, dtype=float).reshape(8, 9).tolist()
    payload = {"image": {"pixels": image}, "kernels": [{"name": "top_edge"}], **body}
    return client.post("/api/conv/apply", json=payload)


def test_padding_modes_and_names_in_the_schema_are_convs_constants() -> None:
    for schema_class in (ConvApplyIn, PlaygroundIn):  # every body that takes a padding mode
        field = schema_class.model_fields["padding_mode"]
        assert get_args(field.annotation) == PADDING_MODES
    schema = str(ConvApplyIn.model_json_schema()["properties"]["padding"])
    assert all(name in schema for name in PADDING_NAMES)


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("padding", [*PADDING_NAMES, 1, "1,2", [1, 0, 2, 1]])
def test_every_mode_and_padding_form_is_answered_as_conv2d_computes_it(
    client: TestClient, mode: str, padding: Any
) -> None:
    response = _post(client, padding=padding, padding_mode=mode)
    assert response.status_code == 200, response.text
    values = np.asarray(response.json()["outputs"][0]["values"])
    image = np.arange(8 * 9, dtype=np.float32).reshape(8, 9)
    pad = tuple(padding) if isinstance(padding, list) else padding
    expected = conv2d(image, top_edge, padding=pad, padding_mode=mode)  # type: ignore[arg-type]
    np.testing.assert_allclose(values, expected, atol=1e-3)


def test_shape_endpoint_takes_named_and_pair_padding(client: TestClient) -> None:
    same = client.get("/api/conv/shape", params={"n": 28, "kernel": 3, "stride": 2,
                                                 "padding": "same"})
    assert same.status_code == 200 and same.json()["result"] == 14
    pair = client.get("/api/conv/shape", params={"n": 28, "kernel": 3, "padding": "0,1"})
    assert pair.status_code == 200 and pair.json()["text"] == "(28 + 0 + 1 - 3)//1 + 1 = 27"
    bad = client.get("/api/conv/shape", params={"n": 28, "padding": "sideways"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "padding"]


@pytest.mark.parametrize(
    ("body", "status", "loc", "message"),
    [
        ({"padding": True}, 422, ["body", "padding"], ""),
        ({"padding": "1,2,3"}, 422, ["body", "padding"], "padding must be"),
        ({"padding": 8, "padding_mode": "reflect"}, 422, ["body", "padding"],
         "padding size should be less than the corresponding input dimension"),
        ({"padding": 10, "padding_mode": "circular"}, 422, ["body", "padding"], "wrap around"),
    ],
)
def test_bad_padding_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], status: int, loc: list[str], message: str
) -> None:
    response = _post(client, **body)
    assert response.status_code == status, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"][: len(loc)] == loc and message in detail["msg"]


def test_the_multiply_add_budget_is_per_request_and_checked_before_work(
    make_client: Callable[..., TestClient],
) -> None:
    # 8×9 image, 3×3 kernel: 6 × 7 outputs × 9 taps = 378 multiply-adds per kernel
    client = make_client(limits=Limits(max_multiply_adds=2 * 378))
    assert _post(client, kernels=[{"name": "top_edge"}] * 2).status_code == 200
    response = _post(client, kernels=[{"name": "top_edge"}] * 3)
    assert response.status_code == 413, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "kernels"] and detail["type"] == "too_large"
    assert "1,134 multiply-adds" in detail["msg"] and "budget of 756" in detail["msg"]


def test_padding_over_the_pixel_limit_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(limits=Limits(max_image_pixels=400))
    response = _post(client, padding=10)  # (8 + 20) × (9 + 20) = 812 padded pixels
    assert response.status_code == 413, response.text
    assert response.json()["detail"][0]["loc"] == ["body", "padding"]
