"""The playground reads padding with conv's one parser (every form the API and the CLI take)
and checks the mode with conv's one check; its own rule is only what the page can draw."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastapi.testclient import TestClient
from tests.web.test_conv_playground import TOP_EDGE, play

from convrec.conv import PADDING_MODES

NUMBERS = (np.arange(1, 26, dtype=np.float64) / 25).reshape(5, 5)  # the 'numbers' sample


@pytest.mark.parametrize(("padding", "pads"), [
    ("1,2", [1, 1, 2, 2]), ([0, 1], [0, 0, 1, 1]), ([2, 0, 1, 3], [2, 0, 1, 3]),
    (" SAME ", [1, 1, 1, 1]), ("2", [2, 2, 2, 2]),
])
def test_every_padding_form_is_drawn_as_torch_pads_it(
    client: TestClient, padding: Any, pads: list[int]
) -> None:
    body = play(client, padding=padding, padding_mode="replicate")
    assert body["pads"] == pads
    top, bottom, left, right = pads
    x = torch.from_numpy(NUMBERS)[None, None]
    padded = F.pad(x, (left, right, top, bottom), mode="replicate")
    np.testing.assert_allclose(body["grid"][0], padded[0, 0].numpy(), atol=1e-4)
    expected = F.conv2d(padded, torch.tensor(TOP_EDGE, dtype=torch.float64)[None])[0, 0]
    np.testing.assert_allclose(body["output"], expected.numpy(), atol=1e-3)


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({"padding": [0, 8]}, "padding", "draws at most 7 rows of padding per side, got 8"),
    ({"padding": "sideways"}, "padding", "padding must be"),
    ({"padding": True}, "padding", ""),
    ({"transposed": True, "padding": "1,2"}, "padding", "one number of padding rows"),
    ({"padding_mode": "mirror"}, "padding_mode", f"must be one of {', '.join(PADDING_MODES)}"),
])
def test_padding_refusals_name_the_field(
    client: TestClient, body: dict[str, Any], loc: str, words: str
) -> None:
    detail = play(client, status=422, **body)["detail"][0]
    assert loc in detail["loc"] and words in detail["msg"], detail


def test_a_transposed_convolution_takes_the_same_amount_written_as_a_pair(
    client: TestClient,
) -> None:
    as_int = play(client, transposed=True, stride=2, padding=1)
    as_pair = play(client, transposed=True, stride=2, padding=[1, 1])
    assert as_pair["output"] == as_int["output"] and as_pair["pads"] == as_int["pads"]
