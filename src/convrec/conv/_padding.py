"""Padding of (N, C, H, W) arrays and tensors with PyTorch's mode names.

Mode names differ between libraries (cupy/cupy#2525): PyTorch ``reflect`` is NumPy
``reflect`` and SciPy ndimage ``mirror`` (edge not repeated: ``d c b | a b c d``);
``symmetric`` is NumPy ``symmetric`` and ndimage ``reflect`` (edge repeated);
``replicate`` is NumPy ``edge``/ndimage ``nearest``; ``circular`` is NumPy/ndimage ``wrap``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.conv.shapes import PADDING_MODES, PaddingMode

if TYPE_CHECKING:
    import torch


#: PyTorch name -> (NumPy np.pad mode, SciPy ndimage mode, OpenCV border name)
MODE_TRANSLATION: dict[str, tuple[str, str, str]] = {
    "zeros": ("constant", "constant", "BORDER_CONSTANT"),
    "reflect": ("reflect", "mirror", "BORDER_REFLECT_101"),
    "replicate": ("edge", "nearest", "BORDER_REPLICATE"),
    "circular": ("wrap", "wrap", "BORDER_WRAP"),
    "symmetric": ("symmetric", "reflect", "BORDER_REFLECT"),
}


def check_padding_mode(padding_mode: str) -> PaddingMode:
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {', '.join(PADDING_MODES)}, "
            f"got padding_mode={padding_mode!r}"
        )
    return padding_mode  # type: ignore[return-value]


def check_padding_fits(
    mode: PaddingMode, pads: tuple[int, int, int, int], input_shape: tuple[int, ...]
) -> None:
    """Refuse padding that PyTorch refuses, with PyTorch's wording.

    ``reflect`` mirrors without repeating the edge, so each side must be smaller than the
    input (``F.pad``: "Padding size should be less than the corresponding input dimension");
    ``circular`` may wrap around at most once, and ``symmetric`` (no PyTorch equivalent) may
    mirror at most the whole input: both need padding <= the input size. NumPy would accept
    wider padding by mirroring again, which is not what PyTorch computes.
    """
    if mode in ("zeros", "replicate"):
        return
    top, bottom, left, right = pads
    dims = list(input_shape)
    for axis, (before, after) in ((len(dims) - 1, (left, right)), (len(dims) - 2, (top, bottom))):
        size = dims[axis]
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(
                f"padding_mode='reflect': padding size should be less than the corresponding "
                f"input dimension, but got: padding ({before}, {after}) at dimension {axis} of "
                f"input {dims}; use at most {size - 1}, or padding_mode='replicate'"
            )
        if mode in ("circular", "symmetric") and max(before, after) > size:
            raise ValueError(
                f"padding_mode={mode!r}: padding ({before}, {after}) at dimension {axis} of "
                f"input {dims} would wrap around more than once; use at most {size}, or "
                "padding_mode='replicate'"
            )


def pad_numpy(x: NDArray[Any], pads: tuple[int, int, int, int], mode: PaddingMode) -> NDArray[Any]:
    """Pad the last two axes of ``x`` by ``(top, bottom, left, right)``."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    return np.pad(x, widths, mode=MODE_TRANSLATION[mode][0])  # type: ignore[call-overload,no-any-return]


def _index_map(n: int, before: int, after: int, mode: PaddingMode) -> NDArray[np.int64]:
    # Padding the index vector itself gives, for every padded position, its source pixel.
    return np.pad(np.arange(n), (before, after), mode=MODE_TRANSLATION[mode][0])  # type: ignore[call-overload,no-any-return]


def pad_torch(x: torch.Tensor, pads: tuple[int, int, int, int], mode: PaddingMode) -> torch.Tensor:
    """Pad the last two dims of a tensor by ``(top, bottom, left, right)``; autograd-safe."""
    import torch
    import torch.nn.functional as F

    top, bottom, left, right = pads
    if not any(pads):
        return x
    if mode == "zeros":
        return F.pad(x, (left, right, top, bottom))
    rows = torch.from_numpy(_index_map(x.shape[-2], top, bottom, mode)).to(x.device)
    cols = torch.from_numpy(_index_map(x.shape[-1], left, right, mode)).to(x.device)
    return x.index_select(-2, rows).index_select(-1, cols)
