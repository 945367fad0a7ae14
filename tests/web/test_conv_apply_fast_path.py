"""conv apply's fast path: the body read by pydantic-core from its bytes, kernels of one
shape convolved as one stack, the answer written by orjson.

The references: FastAPI itself (a route that takes the same model as an ordinary body must
answer every bad body word for word as conv apply does), ``torch.nn.functional.conv2d`` for
the maps, and the route's own ``response_model`` for the answer's form.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from convrec.web.deps import JsonBody
from convrec.web.errors import install_error_handlers
from convrec.web.schemas import ConvApplyIn, ConvApplyOut

#: Bodies FastAPI refuses in different ways: (raw bytes, content type or None).
BAD_BODIES = [
    (b"", "application/json"),  # no body
    (b"{", "application/json"),  # cut short
    (b'{"image": {"pixels": [[1, 2]]}, "kernels": [{"name": "top_edge"}],}', "application/json"),
    (b"\xff\xfe not utf-8", "application/json"),
    (b'{"image": {"pixels": [[1, 2]]}, "kernels": []}', "application/json"),  # min_length
    (b'{"image": {"pixels": [[1, 300]]}, "kernels": [{"name": "x"}]}', "application/json"),
    (b'{"image": {"pixels": [[1, NaN]]}, "kernels": [{"name": "x"}]}', "application/json"),
    (b'{"image": {"pixels": [[1, "2"]]}, "kernels": [{"name": "x"}]}', "application/json"),
    (b'{"image": {}, "kernels": [{"name": "x"}]}', "application/json"),  # model validator
    (b'{"image": {"pixels": [[1]]}, "kernels": [{"name": "x"}], "extra": 1}',
     "application/json"),
    (b'{"image": {"pixels": [[1]]}, "kernels": [{"name": "x"}], "padding": "sideways"}',
     "application/json"),
    (b'{"image": {"pixels": [[1]]}, "kernels": [{"name": "x"}], "stride": 1.5}',
     "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'{"image": {"pixels": [[1]]}, "kernels": [{"name": "x"}]}', None),  # no content type
    (b'{"image": {"pixels": [[1]]}, "kernels": [{"name": "x"}]}', "text/plain"),
]


#: the reader under test (module level: FastAPI resolves the route's annotations here)
READER = JsonBody(ConvApplyIn)


@pytest.fixture(scope="module")
def both() -> TestClient:
    """One app with FastAPI's own body reading (``/reference``) and :class:`JsonBody`
    (``/fast``) for the same model, and the studio's error handlers."""
    app = FastAPI()
    install_error_handlers(app, 10_000)

    @app.post("/reference")
    def reference(body: ConvApplyIn) -> dict[str, Any]:
        return body.model_dump(warnings=False)  # padding is parsed to a tuple

    @app.post("/fast", openapi_extra=READER.openapi)
    def fast(body: Annotated[ConvApplyIn, Depends(READER)]) -> dict[str, Any]:
        return body.model_dump(warnings=False)  # padding is parsed to a tuple

    return TestClient(app)


@pytest.mark.parametrize(("raw", "content_type"), BAD_BODIES)
def test_a_refused_body_gets_fastapis_own_answer(
    both: TestClient, raw: bytes, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    expected = both.post("/reference", content=raw, headers=headers)
    got = both.post("/fast", content=raw, headers=headers)
    assert expected.status_code in (400, 422)
    assert (got.status_code, got.json()) == (expected.status_code, expected.json())


def test_an_accepted_body_is_read_as_fastapi_reads_it(both: TestClient) -> None:
    body = {"image": {"pixels": [[0, 1.5], [255, 3]]}, "kernels": [{"values": [[1, -2]]}],
            "padding": "1,2", "stride": 2, "padding_mode": "reflect"}
    expected = both.post("/reference", json=body)
    got = both.post("/fast", json=body, headers={"content-type": "application/json; x=1"})
    assert expected.status_code == 200
    assert got.json() == expected.json()


def test_the_docs_show_the_body_as_fastapi_would(both: TestClient) -> None:
    schema = both.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    ours = schema["paths"]["/fast"]["post"]["requestBody"]
    theirs = schema["paths"]["/reference"]["post"]["requestBody"]
    assert ours["required"] is True and theirs["required"] is True
    resolved = components[theirs["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert ours["content"]["application/json"]["schema"] == resolved


def test_the_studios_apply_route_documents_a_body_whose_references_resolve(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/conv/apply"]["post"]["requestBody"]
    text = json.dumps(body)
    refs = {part.split('"')[0] for part in text.split('"$ref": "#/components/schemas/')[1:]}
    assert refs >= {"ImageIn", "KernelIn"}
    assert refs <= set(schema["components"]["schemas"])
    assert set(body["content"]["application/json"]["schema"]["properties"]) == set(
        ConvApplyIn.model_fields)


def test_kernels_of_mixed_shapes_come_back_in_order_and_match_torch(client: TestClient) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (12, 10)).astype(np.float32)
    kernels = [rng.normal(size=shape).round(2) for shape in [(3, 3), (2, 4), (3, 3), (1, 1),
                                                             (2, 4)]]
    body = {"image": {"pixels": image.tolist()}, "padding": 1, "stride": 2,
            "kernels": [{"values": k.tolist()} for k in kernels[:2]]
            + [{"name": "top_edge"}] + [{"values": k.tolist()} for k in kernels[3:]]}
    response = client.post("/api/conv/apply", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    ConvApplyOut.model_validate(answer)  # the form the docs promise
    from convrec.conv import top_edge

    kernels[2] = np.asarray(top_edge, np.float64)
    assert [o["kernel"]["name"] for o in answer["outputs"]] == [
        "custom", "custom", "top_edge", "custom", "custom"]
    for out, kernel in zip(answer["outputs"], kernels, strict=True):
        expected = F.conv2d(torch.tensor(image)[None, None],
                            torch.tensor(kernel, dtype=torch.float32)[None, None],
                            stride=2, padding=1)[0, 0].numpy()
        np.testing.assert_allclose(np.array(out["values"]), expected, atol=2e-3)
        assert out["kernel"]["values"] == np.asarray(kernel, np.float32).tolist()
        assert (out["height"], out["width"]) == expected.shape
        assert out["rows"]["result"] == expected.shape[0]
        assert out["min"] == pytest.approx(expected.min(), abs=1e-3)
        assert out["max"] == pytest.approx(expected.max(), abs=1e-3)
        assert out["values"] == np.round(np.asarray(out["values"]), 3).tolist()  # 3 decimals


def test_a_named_kernels_shared_array_is_not_changed_by_a_request(client: TestClient) -> None:
    from convrec.conv import top_edge

    for _ in range(2):
        response = client.post("/api/conv/apply", json={
            "image": {"pixels": [[5.0] * 4] * 4}, "kernels": [{"name": "top_edge"}] * 3})
        assert response.status_code == 200, response.text
        assert all(o["kernel"]["values"] == np.asarray(top_edge).tolist()
                   for o in response.json()["outputs"])
