"""``POST /api/conv/playground``: the numbers the playground draws, checked against PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

TOP_EDGE = [[[-1, -1, -1], [0, 0, 0], [1, 1, 1]]]


def play(client: TestClient, status: int = 200, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"kernel": TOP_EDGE, **body}
    response = client.post("/api/conv/playground", json=payload)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_numbers_sample_with_reflect_padding_matches_torch(client: TestClient) -> None:
    body = play(client, padding=1, stride=2, padding_mode="reflect", kernel_name="top edge")
    x = torch.arange(1, 26, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    np.testing.assert_allclose(body["grid"], padded[0].numpy(), atol=1e-4)
    expected = F.conv2d(padded, torch.tensor(TOP_EDGE, dtype=torch.float64)[None], stride=2)
    np.testing.assert_allclose(body["output"], expected[0, 0].numpy(), atol=1e-4)
    assert body["rows"]["text"] == "(5 + 2*1 - 3)//2 + 1 = 3"
    assert body["cell_kind"][0][0] == 1 and body["cell_kind"][1][1] == 0
    assert body["source_rows"] == [1, 0, 1, 2, 3, 4, 3]  # reflect: row 1 mirrored above row 0
    assert body["kernel_name"] == "top edge" and body["title"].startswith("cross-correlation")
    assert all(c["max_abs_difference"] < 1e-4 for c in body["checks"])
    assert len(body["checks"]) == 3 and len(body["colour_scale"]) == 11


def test_im2col_column_and_toeplitz_row_hold_one_pixels_window(client: TestClient) -> None:
    body = play(client, padding=1, padding_mode="replicate")
    grid, kernel = np.array(body["grid"]), np.array(body["kernel"])
    cols = np.array(body["im2col"])  # (9, 25)
    assert cols.shape == (9, 25)
    i, j = 2, 3
    window = grid[:, i : i + 3, j : j + 3]
    np.testing.assert_allclose(cols[:, i * 5 + j], window.ravel())
    t = body["toeplitz"]
    assert t["shape"] == [25, 49]
    row = i * 5 + j
    start, end = t["indptr"][row], t["indptr"][row + 1]
    dense = np.zeros(49)
    dense[t["indices"][start:end]] = t["data"][start:end]
    assert dense @ grid.ravel() == pytest.approx(body["output"][i][j], abs=1e-4)
    assert (window * kernel).sum() == pytest.approx(body["output"][i][j], abs=1e-4)


def test_an_mnist_digit_in_rgb_sums_over_three_channels(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 2, 2)).round(2)
    body = play(client, image={"mnist_index": 1}, channels=3, kernel=kernel.tolist(),
                padding="same", stride=2, padding_mode="symmetric")
    assert body["channels"] == 3 and np.array(body["input"]).shape == (3, 28, 28)
    assert body["pads"] == [0, 0, 0, 0]  # 'same' for k=2, s=2 on 28 needs none
    assert "same grey in R, G and B" in body["input_note"]
    from tests.web.conftest import tiny_mnist

    x = torch.from_numpy(np.repeat(tiny_mnist()[0][1][None].astype(np.float64) / 255, 3, 0))
    expected = F.conv2d(x[None], torch.from_numpy(kernel)[None], stride=2)[0, 0]
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-3)


def test_the_colour_sample_and_true_convolution(client: TestClient) -> None:
    from scipy.signal import convolve2d

    kernel = np.zeros((3, 3, 3))
    kernel[0] = [[1, 2, 0], [0, 0, 0], [0, 0, -1]]  # red only, not symmetric
    body = play(client, sample="colour", channels=3, kernel=kernel.tolist(),
                true_convolution=True, padding="full")
    red = np.array(body["input"])[0]
    np.testing.assert_allclose(body["output"], convolve2d(red, kernel[0], mode="full"),
                               atol=1e-3)
    assert body["kernel"][0][2][2] == 1 and body["kernel"][0][2][1] == 2  # flipped


def test_transposed_view_matches_conv_transpose2d(client: TestClient) -> None:
    kernel = [[[1, 2, 0], [0, 1, 0], [-1, 0, 1]]]
    body = play(client, kernel=kernel, transposed=True, stride=2, padding=1, output_padding=1)
    x = torch.arange(1, 26, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    expected = F.conv_transpose2d(x, torch.tensor(kernel, dtype=torch.float64)[None],
                                  stride=2, padding=1, output_padding=1)[0, 0]
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-4)
    assert body["rows"]["kind"] == "transposed" and body["rows"]["result"] == 10
    assert 2 in {v for row in body["cell_kind"] for v in row}  # inserted zeros
    assert body["stride"] == [1, 1]  # the window slides one cell at a time


def test_a_drawing_is_reduced_to_28_by_28_as_mnist_was(
    client: TestClient, png_b64: Callable[[np.ndarray], str]
) -> None:
    drawing = np.zeros((280, 280), np.uint8)
    drawing[40:240, 130:150] = 255  # a "1"
    body = play(client, image={"png_base64": "data:image/png;base64," + png_b64(drawing)})
    x = np.array(body["input"])
    assert x.shape == (1, 28, 28) and x.max() <= 1.0
    assert "reduced to 28×28 as MNIST" in body["input_note"]
    assert body["rows"]["text"] == "(28 + 2*0 - 3)//1 + 1 = 26"


@pytest.mark.parametrize(
    ("body", "status", "loc", "words"),
    [
        ({"padding": 2, "padding_mode": "mirror"}, 422, "padding_mode", "must be one of zeros"),
        ({"image": {"pixels": [[1, 2]]}}, 422, "settings", "must fit"),
        ({"kernel": [[[1] * 8] * 8]}, 422, "kernel", "1 to 7 per side"),
        ({"kernel": [[[1, 2], [3]]]}, 422, "kernel", "same number of values"),
        ({"channels": 3}, 422, "kernel", "needs a 3×3×3 kernel"),
        ({"padding": 5, "padding_mode": "reflect"}, 422, "settings",
         "padding size should be less than"),
        ({"transposed": True, "padding": "same"}, 422, "padding", "number of padding rows"),
        ({"transposed": True, "stride": 2, "output_padding": 2}, 422, "settings",
         "output_padding must be smaller"),
        ({"image": {"pixels": np.zeros((40, 40)).tolist()}}, 413, "pixels", "at most 32×32"),
        ({"image": {"png_base64": "aGVsbG8="}}, 422, "png_base64", "not an image"),
    ],
)
def test_bad_settings_are_one_plain_sentence(
    client: TestClient, body: dict[str, Any], status: int, loc: str, words: str
) -> None:
    detail = play(client, status=status, **body)["detail"][0]
    assert detail["loc"][-1] == loc or loc in detail["loc"], detail
    assert words in detail["msg"]


def test_a_blank_drawing_says_no_digit(
    client: TestClient, png_b64: Callable[[np.ndarray], str]
) -> None:
    blank = png_b64(np.zeros((280, 280), np.uint8))
    detail = play(client, status=422, image={"png_base64": blank})["detail"][0]
    assert "no digit found" in detail["msg"]


def test_the_studios_kernel_limit_holds_in_the_playground(
    make_client: Callable[..., TestClient],
) -> None:
    from convrec.settings import Limits

    client = make_client(limits=Limits(max_kernel_size=5))
    detail = play(client, status=413, kernel=[[[1] * 6] * 6])["detail"][0]
    assert detail["loc"] == ["body", "kernel"] and "at most 5×5" in detail["msg"]
    assert play(client, kernel=[[[1] * 5] * 5])["rows"]["result"] == 1
