"""The one diverging colour scale of convrec: blue for negative, white for 0, red for positive.

Feature maps and kernels have both signs, so every face draws them with the same scale and a
symmetric range ``[-bound, +bound]``, ``bound = max |value|``: matplotlib figures use the
name :data:`DIVERGING_CMAP`, the studio's playground and ``convrec conv animate`` (which do
not load matplotlib) use :data:`DIVERGING_STOPS`, the same map sampled at 11 points (tested
equal to matplotlib's). No torch, no matplotlib here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DIVERGING_CMAP", "DIVERGING_STOPS", "diverging_bound", "diverging_rgb"]

#: matplotlib's name for the scale (ColorBrewer RdBu, reversed so that red is positive).
DIVERGING_CMAP = "RdBu_r"

#: ``DIVERGING_CMAP`` at -1, -0.8, ..., +1 of the range (matplotlib's values, as hex).
DIVERGING_STOPS: tuple[str, ...] = (
    "#053061", "#2065ab", "#4393c3", "#90c4dd", "#d1e5f0", "#f7f6f6",
    "#fddbc7", "#f3a481", "#d6604d", "#b1182b", "#67001f",
)

_STOPS_RGB = np.array(
    [[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in DIVERGING_STOPS], dtype=np.float64
)  # (11, 3)


def diverging_bound(values: ArrayLike) -> float:
    """The symmetric range of the scale for these values: ``max |v|`` (1.0 when all are 0)."""
    a = np.nan_to_num(np.asarray(values, dtype=np.float64))
    bound = float(np.abs(a).max()) if a.size else 0.0
    return bound or 1.0


def diverging_rgb(values: ArrayLike, bound: float | None = None) -> NDArray[np.uint8]:
    """Colour values with the diverging scale, linearly between the stops.

    Shape:
        ``values`` of any shape ``S`` → uint8 ``S + (3,)``. ``bound`` defaults to
        :func:`diverging_bound`; values beyond ``±bound`` get the end colours.
    """
    a = np.nan_to_num(np.asarray(values, dtype=np.float64))
    b = diverging_bound(a) if bound is None else float(bound)
    t = (np.clip(a / b, -1.0, 1.0) + 1.0) / 2.0 * (len(DIVERGING_STOPS) - 1)  # 0..10
    lo = np.minimum(np.floor(t).astype(np.int64), len(DIVERGING_STOPS) - 2)
    frac = (t - lo)[..., None]
    rgb: Any = _STOPS_RGB[lo] * (1 - frac) + _STOPS_RGB[lo + 1] * frac
    out: NDArray[np.uint8] = np.round(rgb).astype(np.uint8)
    return out
