"""The numbers behind a picture of one convolution: the padded grid, every window, its products.

What the studio's playground and ``convrec conv animate`` draw, computed once here (floor 0:
NumPy only) so that both faces show the same numbers:

- the grid the window slides over: the input with its padding filled in with the *actual*
  values of the padding mode (zeros, reflect, replicate, circular, symmetric), or, for a
  transposed convolution, the input with ``stride - 1`` zeros inserted between its pixels and
  ``dilation*(kernel - 1) - padding`` zeros around it (Dumoulin & Visin, section 4);
- where each window starts, which grid cells each kernel tap reads (dilation spreads them),
  the element-wise products with the kernel and their sum over taps and channels;
- the output, with the per-axis :class:`~convrec.conv.shapes.ShapeExplanation`.

Example (a 3×3 kernel, stride 2, padding 1 on a 5×5 input, as in conv_arithmetic)::

    >>> import numpy as np
    >>> from convrec.conv.sliding import slide
    >>> s = slide(np.arange(25.0).reshape(5, 5), np.ones((3, 3)), stride=2, padding=1)
    >>> s.grid.shape, s.output.shape, s.window_origin(1, 2)
    ((1, 7, 7), (3, 3), (2, 4))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convrec.conv._padding import (
    MODE_TRANSLATION,
    check_padding_fits,
    check_padding_mode,
    pad_numpy,
)
from convrec.conv.shapes import (
    ShapeError,
    ShapeExplanation,
    _pair,
    explain,
    explain_transposed,
    normalize_padding,
    same_padding,
)

__all__ = ["CELL_INPUT", "CELL_INSERTED", "CELL_PADDING", "SlidingWindows", "slide",
           "slide_transposed"]

#: What a grid cell holds (``SlidingWindows.cell_kind``).
CELL_INPUT, CELL_PADDING, CELL_INSERTED = 0, 1, 2


@dataclass(frozen=True)
class SlidingWindows:
    """One convolution laid out for drawing.

    Attributes:
        transposed: a transposed convolution drawn as conv_arithmetic does (a stride-1
            convolution of the flipped kernel over the zero-inserted, zero-padded input).
        grid: ``(C, Hg, Wg)`` the values the window slides over (padded input).
        cell_kind: ``(Hg, Wg)``: :data:`CELL_INPUT` (an input pixel), :data:`CELL_PADDING`
            (a padding cell, holding the padding mode's value) or :data:`CELL_INSERTED` (a zero
            inserted between input pixels by a transposed convolution's stride).
        source_rows, source_cols: ``(Hg,)``, ``(Wg,)``: the input row/column a grid row/column
            copies (``-1`` for zeros), e.g. reflect padding's first row copies input row 1.
        pads: ``(top, bottom, left, right)`` cells added around the input (for a transposed
            convolution: around the zero-inserted input; negative means cropped).
        kernel: ``(C, kH, kW)`` the weights as applied at each tap (already flipped for a true
            convolution or a transposed one).
        stride, dilation: ``(h, w)`` of the sliding window on the grid.
        output: ``(H_out, W_out)``: sum over channels and taps of ``window * kernel``.
        rows, cols: the output size explained along H and W.
        padding_mode: the mode that filled the padding.
        padding_note: why the padding is what it is (``"same"`` with stride: the odd extra
            pixel), or ``""``.
    """

    transposed: bool
    grid: NDArray[np.float64]
    cell_kind: NDArray[np.int8]
    source_rows: NDArray[np.int64]
    source_cols: NDArray[np.int64]
    pads: tuple[int, int, int, int]
    kernel: NDArray[np.float64]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    output: NDArray[np.float64]
    rows: ShapeExplanation
    cols: ShapeExplanation
    padding_mode: str
    padding_note: str = ""

    @property
    def channels(self) -> int:
        return int(self.grid.shape[0])

    def window_origin(self, i: int, j: int) -> tuple[int, int]:
        """Grid cell ``(row, col)`` of the top-left tap of output pixel ``(i, j)``."""
        self._check_pixel(i, j)
        return i * self.stride[0], j * self.stride[1]

    def taps(self, i: int, j: int) -> NDArray[np.int64]:
        """``(kH, kW, 2)``: the grid ``(row, col)`` each kernel tap of pixel ``(i, j)`` reads."""
        r0, c0 = self.window_origin(i, j)
        kh, kw = self.kernel.shape[1:]
        u, v = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
        return np.stack([r0 + u * self.dilation[0], c0 + v * self.dilation[1]], axis=-1)

    def window(self, i: int, j: int) -> NDArray[np.float64]:
        """``(C, kH, kW)``: the grid values under the kernel for output pixel ``(i, j)``."""
        t = self.taps(i, j)
        return self.grid[:, t[..., 0], t[..., 1]]

    def products(self, i: int, j: int) -> NDArray[np.float64]:
        """``(C, kH, kW)``: ``window * kernel``; their sum is ``output[i, j]``."""
        return self.window(i, j) * self.kernel

    def _check_pixel(self, i: int, j: int) -> None:
        h, w = self.output.shape
        if not (0 <= i < h and 0 <= j < w):
            raise ShapeError(
                f"output pixel ({i}, {j}) is outside the {h}×{w} output; rows and columns "
                "start at 0"
            )


def _as_chw(x: ArrayLike, name: str) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ShapeError(f"{name} must be (H, W) or (C, H, W) and not empty, got shape "
                         f"{np.shape(x)}")
    return arr


def _kernel_for(x: NDArray[np.float64], weight: ArrayLike) -> NDArray[np.float64]:
    k = _as_chw(weight, "the kernel")
    if k.shape[0] == 1 and x.shape[0] > 1:
        k = np.repeat(k, x.shape[0], axis=0)  # one 2-D kernel on every channel
    if k.shape[0] != x.shape[0]:
        raise ShapeError(
            f"the kernel has {k.shape[0]} channels but the input has {x.shape[0]}: an RGB "
            f"input needs a 3×kH×kW kernel (one k×k slice per colour, summed)"
        )
    return k


def _convolve(grid: NDArray[np.float64], kernel: NDArray[np.float64], out_hw: tuple[int, int],
              stride: tuple[int, int], dilation: tuple[int, int]) -> NDArray[np.float64]:
    # the plain sum of products, tap by tap (the same loops a reader would write)
    out = np.zeros(out_hw)
    h, w = out_hw
    for u in range(kernel.shape[1]):
        for v in range(kernel.shape[2]):
            r, c = u * dilation[0], v * dilation[1]
            taps = grid[:, r : r + (h - 1) * stride[0] + 1 : stride[0],
                        c : c + (w - 1) * stride[1] + 1 : stride[1]]
            out += np.tensordot(kernel[:, u, v], taps, axes=(0, 0))
    return out


def _same_note(n: int, k: int, s: int, d: int, axis: str) -> str:
    before, after = same_padding(n, k, s, d)
    out = -(-n // s)
    total = before + after
    if before == after:
        return ""
    return (
        f"'same' along the {axis}s: ceil({n}/{s}) = {out} outputs need ({out} - 1)*{s} + "
        f"{d * (k - 1) + 1} - {n} = {total} padding {axis}s in all; {total} is odd, so "
        f"{before} goes before and {after} after (as TensorFlow does)"
    )


def slide(
    x: ArrayLike,
    weight: ArrayLike,
    stride: int | tuple[int, int] = 1,
    padding: int | str | tuple[int, ...] = 0,
    dilation: int | tuple[int, int] = 1,
    padding_mode: str = "zeros",
    flip: bool = False,
) -> SlidingWindows:
    """Lay out a convolution (cross-correlation, or true convolution with ``flip``).

    Shape:
        ``x``: ``(H, W)`` or ``(C, H, W)``; ``weight``: ``(kH, kW)`` (used on every channel)
        or ``(C, kH, kW)``; the output is ``(H_out, W_out)``, the sum over channels, equal to
        ``conv2d(x, weight[None], ...)[0]``.

    Raises:
        ShapeError: an impossible configuration (with the formula) or mismatched channels.
        ValueError: an unknown padding mode, or padding PyTorch refuses for it (reflect:
            smaller than the input; circular and symmetric: at most the input).
    """
    mode = check_padding_mode(padding_mode)
    xs = _as_chw(x, "the input")
    k = _kernel_for(xs, weight)
    if flip:
        k = k[:, ::-1, ::-1]
    kh, kw = k.shape[1:]
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    h, w = xs.shape[1:]
    pads = normalize_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    rows = explain(h, kh, sh, pads[:2], dh, axis_word="row")
    cols = explain(w, kw, sw, pads[2:], dw, axis_word="column")
    check_padding_fits(mode, pads, xs.shape)  # PyTorch's rules, with PyTorch's words
    grid = pad_numpy(xs, pads, mode)
    top, bottom, left, right = pads
    index_mode = mode if mode != "zeros" else "constant"
    src_rows = _source_index(h, top, bottom, index_mode)
    src_cols = _source_index(w, left, right, index_mode)
    kind = np.full(grid.shape[1:], CELL_PADDING, np.int8)
    kind[top : top + h, left : left + w] = CELL_INPUT
    note = ""
    if isinstance(padding, str) and padding.lower() == "same":
        note = "; ".join(
            n for n in (_same_note(h, kh, sh, dh, "row"), _same_note(w, kw, sw, dw, "column")) if n
        )
    output = _convolve(grid, k, (rows.result, cols.result), (sh, sw), (dh, dw))
    return SlidingWindows(
        transposed=False, grid=grid, cell_kind=kind, source_rows=src_rows, source_cols=src_cols,
        pads=pads, kernel=np.ascontiguousarray(k), stride=(sh, sw), dilation=(dh, dw),
        output=output, rows=rows, cols=cols, padding_mode=mode, padding_note=note,
    )


def _source_index(n: int, before: int, after: int, mode: str) -> NDArray[np.int64]:
    if mode == "constant":
        out = np.full(n + before + after, -1, np.int64)
        out[before : before + n] = np.arange(n)
        return out
    # padding the index vector itself tells which input pixel each padded cell copies
    np_mode = MODE_TRANSLATION[mode][0]
    return np.pad(np.arange(n), (before, after), mode=np_mode)  # type: ignore[call-overload,no-any-return]


def slide_transposed(
    x: ArrayLike,
    weight: ArrayLike,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    output_padding: int | tuple[int, int] = 0,
) -> SlidingWindows:
    """Lay out a transposed convolution as a stride-1 convolution (conv_arithmetic's view).

    ``stride - 1`` zeros go between input pixels, ``dilation*(kernel - 1) - padding`` zeros
    around them (``output_padding`` more at the bottom and right), and the flipped kernel
    slides with stride 1. The output equals ``F.conv_transpose2d(x[None], weight[:, None],
    stride, padding, output_padding, dilation=dilation)[0, 0]``.

    Shape:
        ``x``: ``(H, W)`` or ``(C, H, W)``; ``weight``: ``(kH, kW)`` or ``(C, kH, kW)``;
        output ``((H - 1)*s - 2p + d*(kH - 1) + output_padding + 1, ...)``.

    Raises:
        ShapeError: an impossible configuration, e.g. ``output_padding >= max(stride,
            dilation)`` (PyTorch's rule), with the formula.
    """
    xs = _as_chw(x, "the input")
    k = _kernel_for(xs, weight)[:, ::-1, ::-1]
    kh, kw = k.shape[1:]
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    ph, pw = _pair("padding", padding)
    oh, ow = _pair("output_padding", output_padding)
    h, w = xs.shape[1:]
    rows = explain_transposed(h, kh, sh, ph, dh, oh)
    cols = explain_transposed(w, kw, sw, pw, dw, ow)
    c = xs.shape[0]
    zh, zw = (h - 1) * sh + 1, (w - 1) * sw + 1
    spread = np.zeros((c, zh, zw))
    spread[:, ::sh, ::sw] = xs
    kind_spread = np.full((zh, zw), CELL_INSERTED, np.int8)
    kind_spread[::sh, ::sw] = CELL_INPUT
    src_r = np.where(np.arange(zh) % sh == 0, np.arange(zh) // sh, -1)
    src_c = np.where(np.arange(zw) % sw == 0, np.arange(zw) // sw, -1)
    qh, qw = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    pads = (qh, qh + oh, qw, qw + ow)
    grid, kind = _pad_or_crop(spread, kind_spread, pads)
    src_rows = _pad_or_crop_1d(src_r, pads[0], pads[1])
    src_cols = _pad_or_crop_1d(src_c, pads[2], pads[3])
    output = _convolve(grid, k, (rows.result, cols.result), (1, 1), (dh, dw))
    return SlidingWindows(
        transposed=True, grid=grid, cell_kind=kind, source_rows=src_rows, source_cols=src_cols,
        pads=pads, kernel=np.ascontiguousarray(k), stride=(1, 1), dilation=(dh, dw),
        output=output, rows=rows, cols=cols, padding_mode="zeros",
    )


def _pad_or_crop(
    a: NDArray[Any], kind: NDArray[np.int8], pads: tuple[int, int, int, int]
) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    top, bottom, left, right = pads
    # crop first (negative pads: padding larger than d*(k-1) removes border cells)...
    rows = slice(max(0, -top), a.shape[1] - max(0, -bottom))
    cols = slice(max(0, -left), a.shape[2] - max(0, -right))
    a, kind = a[:, rows, cols], kind[rows, cols]
    # ...then pad with zeros
    widths = ((max(0, top), max(0, bottom)), (max(0, left), max(0, right)))
    grid = np.pad(a, ((0, 0), *widths))
    kind = np.pad(kind, widths, constant_values=CELL_PADDING)
    return grid, kind


def _pad_or_crop_1d(a: NDArray[np.int64], before: int, after: int) -> NDArray[np.int64]:
    a = a[max(0, -before) : len(a) - max(0, -after)]
    return np.pad(a, (max(0, before), max(0, after)), constant_values=-1)
