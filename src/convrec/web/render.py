"""Arrays to what a browser shows: PNG data URLs and rounded nested lists."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["png_data_url", "rounded"]


def png_data_url(array: NDArray[Any], signed: bool | None = None) -> str:
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


def rounded(array: NDArray[Any], digits: int = 4) -> list[Any]:
    """A nested list of floats rounded to ``digits`` (compact JSON)."""
    out: list[Any] = np.round(np.asarray(array, dtype=np.float64), digits).tolist()
    return out
