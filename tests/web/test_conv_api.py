"""The convolution API: apply, shape explain, matmul view, and its request limits."""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient

from convrec.conv import conv2d, top_edge
from convrec.settings import Limits

STEP = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [9, 9, 9, 9, 9], [9, 9, 9, 9, 9], [9, 9, 9, 9, 9]]


def apply(client: TestClient, **body: object) -> dict:
    payload = {"image": {"pixels": STEP}, "kernels": [{"name": "top_edge"}], **body}
    response = client.post("/api/conv/apply", json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["detail"][0]


def test_shape_explain_gives_the_formula_in_the_users_numbers(client: TestClient) -> None:
    body = client.get("/api/conv/shape", params={"n": 28, "kernel": 3, "stride": 2,
                                                  "padding": 1}).json()
    assert body["text"] == "(28 + 2*1 - 3)//2 + 1 = 14"
    assert body["dropped"] == 1 and body["rule_broken"] is None


def test_shape_explain_answers_an_impossible_configuration_with_the_rule(client) -> None:
    body = client.get("/api/conv/shape", params={"n": 2, "kernel": 5}).json()
    assert body["result"] <= 0
    assert "must fit" in body["rule_broken"]


def test_shape_explain_refuses_a_zero_stride_naming_the_field(client: TestClient) -> None:
    detail = error_of(client.get("/api/conv/shape", params={"n": 28, "stride": 0}), 422)
    assert detail["loc"] == ["query", "stride"] and detail["input"] == "0"


def test_apply_top_edge_on_a_step_matches_hand_computed_values(client: TestClient) -> None:
    out = apply(client)["outputs"][0]
    # rows 0-2 of the 3×3 output: the window meets the 0→9 step at its bottom, then middle
    assert out["values"] == [[27.0] * 3, [27.0] * 3, [0.0] * 3]
    assert (out["height"], out["width"]) == (3, 3)
    assert out["rows"]["text"] == "(5 + 2*0 - 3)//1 + 1 = 3"
    assert (out["min"], out["max"]) == (0.0, 27.0)


def test_apply_answers_numbers_only_for_any_size(client: TestClient) -> None:
    """No pictures in the answer (pages draw the numbers); maps past 64×64 keep theirs."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (70, 67)).astype(np.float32)
    response = client.post("/api/conv/apply", json={
        "image": {"pixels": image.tolist()}, "kernels": [{"name": "left_edge"}]})
    assert response.status_code == 200, response.text
    assert "data:image" not in response.text
    body = response.json()
    assert set(body["input"]) == {"height", "width"}
    out = body["outputs"][0]
    assert set(out) == {"kernel", "height", "width", "min", "max", "values", "rows", "cols"}
    expected = F.conv2d(torch.from_numpy(image)[None, None],
                        torch.tensor(out["kernel"]["values"])[None, None])[0, 0].numpy()
    assert np.array(out["values"]).shape == (68, 65) == expected.shape
    np.testing.assert_allclose(np.array(out["values"]), expected, atol=1e-3)
    assert out["max"] == pytest.approx(float(expected.max()), abs=1e-3)


def test_an_answer_over_the_numbers_cap_is_refused_before_any_work(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convrec.web.routers import conv

    monkeypatch.setattr(conv, "MAX_RESPONSE_VALUES", 50)
    one = {"values": [[1.0]]}  # 1×1: every map is 5×5, 25 numbers
    assert apply(client, kernels=[one, one])["outputs"][1]["values"] == STEP  # 50: at the cap
    detail = error_of(client.post("/api/conv/apply", json={
        "image": {"pixels": STEP}, "kernels": [one] * 3}), 413)
    assert detail["loc"] == ["body", "image"] and detail["input"] == "3 map(s) of 5×5"
    assert "75 numbers, over the 50" in detail["msg"]
    assert "`convrec conv apply IMAGE -k KERNEL -o DIR`" in detail["msg"]


def test_apply_matches_conv2d_with_stride_padding_and_dilation(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (11, 9)).astype(np.float32)
    kernel = rng.normal(size=(3, 3)).round(2)
    body = apply(client, image={"pixels": image.tolist()}, kernels=[{"values": kernel.tolist()}],
                 stride=2, padding=1, dilation=2)
    expected = conv2d(image, kernel.astype(np.float32), stride=2, padding=1, dilation=2,
                      engine="direct")
    out = body["outputs"][0]
    np.testing.assert_allclose(np.array(out["values"]), expected, atol=1e-2)
    assert out["rows"]["formula"] == "(11 + 2*1 - (2*(3 - 1) + 1))//2 + 1"


def test_changing_the_stride_changes_the_shape_text(client: TestClient) -> None:
    pixels = np.zeros((28, 28)).tolist()
    one = apply(client, image={"pixels": pixels}, stride=1)["outputs"][0]["rows"]["text"]
    two = apply(client, image={"pixels": pixels}, stride=2)["outputs"][0]["rows"]["text"]
    assert one == "(28 + 2*0 - 3)//1 + 1 = 26"
    assert two == "(28 + 2*0 - 3)//2 + 1 = 13"


def test_same_padding_keeps_the_size(client: TestClient) -> None:
    out = apply(client, padding="same")["outputs"][0]
    assert (out["height"], out["width"]) == (5, 5)


def test_apply_an_uploaded_colour_png_and_an_mnist_digit(client: TestClient, png_b64) -> None:
    rgb = np.zeros((6, 7, 3), np.uint8)
    rgb[3:, :, 0] = 255
    body = apply(client, image={"png_base64": "data:image/png;base64," + png_b64(rgb)})
    assert (body["input"]["height"], body["input"]["width"]) == (6, 7)
    values = body["outputs"][0]["values"]
    assert values[0][0] == 0 and values[1][0] > 0  # red rows are brighter: a top edge
    digit = apply(client, image={"mnist_index": 0}, kernels=[{"name": "left_edge"}])
    assert digit["outputs"][0]["height"] == 26


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"stride": 0}, ["body", "stride"], "greater than or equal to 1"),
        ({"dilation": 17}, ["body", "dilation"], "less than or equal to 16"),
        ({"padding": -1}, ["body", "padding"], ""),
        ({"padding": "sideways"}, ["body", "padding"], ""),
        ({"kernels": []}, ["body", "kernels"], "at least 1"),
        ({"kernels": [{"name": "nope"}]}, ["body", "kernels", 0, "name"], "known kernels"),
        ({"kernels": [{"values": [[1, 2], [3]]}]}, ["body", "kernels", 0, "values"],
         "same number of values"),
        ({"kernels": [{"name": "top_edge", "values": [[1]]}]}, ["body", "kernels", 0],
         "exactly one of name or values"),
        ({"image": {"pixels": [[1, 2], [3]]}}, ["body", "image", "pixels"], "same number"),
        ({"image": {"pixels": [[300]]}}, ["body", "image", "pixels", 0, 0], "less than or equal"),
        ({"image": {"pixels": [[1]], "mnist_index": 0}}, ["body", "image"], "exactly one"),
        ({"image": {"png_base64": "not base64!"}}, ["body", "image", "png_base64"], "base64"),
        ({"image": {"png_base64": base64.b64encode(b"hello").decode()}},
         ["body", "image", "png_base64"], "not an image"),
        ({"image": {"pixels": [[1, 2]]}}, ["body", "kernels", 0], "must fit"),
    ],
)
def test_bad_apply_requests_name_the_field_and_the_rule(
    client: TestClient, body: dict, loc: list, words: str
) -> None:
    payload = {"image": {"pixels": STEP}, "kernels": [{"name": "top_edge"}], **body}
    detail = error_of(client.post("/api/conv/apply", json=payload), 422)
    assert detail["loc"][: len(loc)] == loc
    assert words in detail["msg"]


def test_mnist_index_past_the_end_is_404(client: TestClient) -> None:
    payload = {"image": {"mnist_index": 3}, "kernels": [{"name": "top_edge"}]}
    detail = error_of(client.post("/api/conv/apply", json=payload), 404)
    assert "0 to 2" in detail["msg"]


def test_limits_answer_413_naming_the_rule(
    make_client: Callable[..., TestClient], png_b64: Callable[[np.ndarray], str]
) -> None:
    limits = Limits(max_upload_bytes=2_000, max_image_pixels=100, max_kernel_size=5, max_batch=2)
    client = make_client(limits=limits)
    post = lambda **b: client.post(  # noqa: E731
        "/api/conv/apply",
        json={"image": {"pixels": STEP}, "kernels": [{"name": "top_edge"}], **b},
    )
    big_kernel = error_of(post(kernels=[{"values": np.ones((7, 7)).tolist()}]), 413)
    assert "at most 5×5" in big_kernel["msg"] and big_kernel["input"] == "7×7"
    assert "at most 5×5" in error_of(post(kernels=[{"name": "gaussian:99999"}]), 413)["msg"]
    assert "at most 2 items" in error_of(post(kernels=[{"name": "top_edge"}] * 3), 413)["msg"]
    assert "100 pixels" in error_of(post(image={"pixels": np.zeros((11, 10)).tolist()}), 413)[
        "msg"]
    png = png_b64(np.zeros((11, 10), np.uint8))
    assert "over the limit of 100 pixels" in error_of(post(image={"png_base64": png}), 413)["msg"]
    noise = png_b64(np.random.default_rng(0).integers(0, 255, (9, 9, 3)).astype(np.uint8))
    upload = post(image={"png_base64": noise * 20})
    assert "over the limit" in error_of(upload, 413)["msg"]


def test_a_body_over_the_limit_is_cut_off_with_413(make_client) -> None:
    client = make_client(limits=Limits(max_upload_bytes=1_000))
    response = client.post("/api/conv/apply", content=b"x" * 200_000,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "over the limit" in response.json()["detail"][0]["msg"]


def test_matmul_view_equals_conv2d_and_explains_one_pixel(client: TestClient) -> None:
    image = np.arange(36, dtype=np.float32).reshape(6, 6)
    response = client.post("/api/conv/matmul", json={
        "image": {"pixels": image.tolist()}, "kernel": {"name": "top_edge"},
        "crop_top": 1, "crop_left": 1, "crop_size": 4, "out_row": 1, "out_col": 0,
    })
    assert response.status_code == 200, response.text
    body = response.json()
    crop = image[1:5, 1:5]
    assert body["crop"] == crop.tolist()
    assert np.array(body["cols"]).shape == (9, 4)  # (kH*kW, H_out*W_out)
    expected = conv2d(crop, np.asarray(top_edge), engine="direct")
    assert body["output_matmul"] == expected.tolist() == body["output_conv2d"]
    pixel = body["pixel"]
    assert pixel["column_index"] == 2
    assert pixel["window"] == crop[1:4, 0:3].ravel().tolist()
    assert pixel["total"] == pytest.approx(sum(pixel["products"])) == expected[1, 0]


def test_matmul_view_refuses_a_pixel_outside_the_output(client: TestClient) -> None:
    detail = error_of(client.post("/api/conv/matmul", json={
        "image": {"pixels": STEP}, "kernel": {"name": "top_edge"}, "out_row": 3,
    }), 422)
    assert detail["loc"] == ["body", "out_row"] and "3×3" in detail["msg"]
    detail = error_of(client.post("/api/conv/matmul", json={
        "image": {"pixels": STEP}, "kernel": {"name": "top_edge"}, "crop_left": 5,
    }), 422)
    assert detail["loc"] == ["body", "crop_left"]


def test_kernels_lists_the_four_edge_kernels(client: TestClient) -> None:
    names = {k["name"]: k["values"] for k in client.get("/api/conv/kernels").json()}
    assert names["top_edge"] == np.asarray(top_edge).tolist()
    assert {"left_edge", "diag1_edge", "diag2_edge"} <= set(names)


def test_mnist_sample(client: TestClient) -> None:
    body = client.get("/api/mnist/samples/1").json()
    assert body["label"] == 0 and len(body["pixels"]) == 28
    assert client.get("/api/mnist/samples/3").status_code == 404


def test_matmul_crop_cut_short_by_the_image_edge_names_the_crop_start(client: TestClient) -> None:
    pixels = [[0] * 28 for _ in range(28)]
    answer = client.post("/api/conv/matmul", json={
        "image": {"pixels": pixels}, "kernel": {"name": "top_edge"}, "crop_top": 27})
    assert answer.status_code == 422
    error = answer.json()["detail"][0]
    assert error["loc"] == ["body", "crop_top"] and error["input"] == 27
    assert "holds only 1 row of the 28×28 image" in error["msg"]
    assert "3×3 kernel" in error["msg"] and "further up" in error["msg"]
