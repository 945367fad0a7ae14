"""Arrays to what a browser shows: PNG data URLs and rounded nested lists; answers
serialised once."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel
from starlette.responses import Response

__all__ = ["json_response", "json_value_response", "png_data_url", "rounded"]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as a JSON answer, serialised by pydantic-core in one step.

    A route that returns its ``response_model`` object has FastAPI validate it again, turn
    it into Python dicts and lists, and ``json.dumps`` those; the hot routes return this
    instead (the route keeps ``response_model=`` for the API docs, and the model was
    validated when it was built).
    """
    return Response(model.model_dump_json(), status_code=status_code,
                    media_type="application/json")


def json_value_response(value: object, status_code: int = 200) -> Response:
    """``value`` (dicts, lists, numbers, strings and C-contiguous NumPy arrays) as a JSON
    answer, serialised by orjson without turning arrays into Python floats first.

    For answers made mostly of numbers (conv apply's maps): ``array.tolist()`` and pydantic's
    encoder were a quarter of such a request (RESULTS, "2026-12-02 (third session)"). The
    route keeps its ``response_model=`` for the API docs; the test of each route checks the
    answer against that model. NaN and infinities are written ``null``, as pydantic does.
    A value orjson cannot write raises its ``TypeError`` (``orjson.JSONEncodeError``).
    """
    import orjson

    return Response(orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY),
                    status_code=status_code, media_type="application/json")


def png_data_url(array: NDArray[np.generic], signed: bool | None = None) -> str:
    """A 2-D array as a grayscale PNG ``data:`` URL.

    uint8 arrays are shown as they are. Float arrays are scaled: when values have both signs
    (or ``signed=True``) 0 is mid-grey and the largest magnitude is black or white; otherwise
    min→black and max→white (a constant map is black).
    """
    from PIL import Image

    a = np.asarray(array)
    if a.dtype != np.uint8:
        m = np.nan_to_num(a.astype(np.float64))
        lo, hi = (float(m.min()), float(m.max())) if m.size else (0.0, 0.0)
        if signed or (signed is None and lo < 0 < hi):
            bound = max(-lo, hi) or 1.0
            scaled = (m / bound + 1) / 2
        else:
            scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
        a = np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


#: ``rounded``'s nested lists: their depth is ``array.ndim``, which no static type knows
#: (NumPy types ``tolist()`` so too); the pydantic field each fills (``list[list[float]]``,
#: ...) checks the depth when the answer is built.
NestedFloats = list[Any]  # Any: the depth is the array's ndim, known at run time only


def rounded(array: ArrayLike, digits: int = 4) -> NestedFloats:
    """A nested list of floats rounded to ``digits`` (compact JSON)."""
    out: NestedFloats = np.round(np.asarray(array, dtype=np.float64), digits).tolist()
    return out
