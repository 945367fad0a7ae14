"""Convolution as matrix multiplication: the im2col patch matrix and the Toeplitz matrix.

Two views of the same linear map (Dumoulin & Visin, section 4.1):

- **im2col**: every window of the input becomes one column; the convolution is then
  ``weight.reshape(O, C*kH*kW) @ cols``, one GEMM.
- **Toeplitz**: the kernel becomes a ``(H_out*W_out, H*W)`` matrix ``M`` (mostly zeros) with
  ``conv2d(x, k).ravel() == M @ x.ravel()``. Its transpose ``M.T`` is the transposed
  convolution (the gradient of the convolution with respect to its input).

Example (the paper's 4×4 input and 3×3 kernel give a 4×16 matrix):
    >>> from convrec.conv import conv_matrix, top_edge
    >>> conv_matrix(top_edge, (4, 4)).shape
    (4, 16)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convrec.conv._engines import im2col_patches
from convrec.conv._padding import pad_numpy
from convrec.conv.shapes import PaddingArg, _pair, explain, normalize_padding

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["DENSE_LIMIT", "conv_matrix", "conv_transpose_via_matrix", "im2col"]

#: Above this many matrix entries conv_matrix returns a scipy.sparse CSR matrix.
DENSE_LIMIT = 1_000_000


def im2col(
    x: ArrayLike,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
) -> NDArray[Any]:
    """The patch matrix of ``x``, column ``l`` holding the ``l``-th window (like ``F.unfold``).

    Shape:
        - ``x``: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``.
        - result: ``(C*kH*kW, L)`` for unbatched input, ``(N, C*kH*kW, L)`` for batched, with
          ``L = H_out*W_out`` and rows ordered channel-major, then kernel row, then column.
          ``weight.reshape(O, -1) @ result`` is the convolution, shape ``(O, L)``.
    """
    arr = np.asarray(x)
    batched = arr.ndim == 4
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None]
    elif arr.ndim != 4:
        raise ValueError(f"x must be (H, W), (C, H, W) or (N, C, H, W), got shape {arr.shape}")
    kh, kw = _pair("kernel_size", kernel_size)
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    n, c, h, w = arr.shape
    pads = normalize_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    out_h = explain(h, kh, sh, pads[:2], dh).result
    out_w = explain(w, kw, sw, pads[2:], dw, axis_word="column").result
    padded = pad_numpy(arr, pads, "zeros")
    patches = im2col_patches(padded, (kh, kw), (sh, sw), (dh, dw))[:, :, :out_h, :out_w]
    # (N, C, Ho, Wo, kH, kW) -> (N, C, kH, kW, Ho, Wo) -> (N, C*kH*kW, Ho*Wo)
    cols = patches.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, out_h * out_w)
    return cols if batched else cols[0]


def conv_matrix(
    kernel: ArrayLike,
    input_hw: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
    sparse: bool | None = None,
) -> NDArray[Any] | sp.csr_matrix:
    """The Toeplitz (doubly block-circulant-free) matrix of a 2-D kernel.

    Args:
        kernel: ``(kH, kW)``.
        input_hw: ``(H, W)`` of the input image.
        stride: as in :func:`convrec.conv.conv2d`.
        padding: as in :func:`convrec.conv.conv2d` (zero padding).
        dilation: as in :func:`convrec.conv.conv2d`.
        sparse: force a ``scipy.sparse.csr_matrix`` (True) or a dense array (False); by
            default dense up to :data:`DENSE_LIMIT` entries.

    Shape:
        ``(H_out*W_out, H*W)``: ``conv_matrix(k, x.shape) @ x.ravel() == conv2d(x, k).ravel()``.
    """
    import scipy.sparse as sp  # lazy: 150 ms, only needed here

    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D (kH, kW), got shape {k.shape}")
    h, w = input_hw
    kh, kw = k.shape
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    top, bottom, left, right = normalize_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    out_h = explain(h, kh, sh, (top, bottom), dh).result
    out_w = explain(w, kw, sw, (left, right), dw, axis_word="column").result
    _check_matrix_memory(out_h * out_w, kh * kw, h * w, sparse)
    # one entry per (output pixel, kernel tap); taps landing in the zero padding drop out
    i, j, u, v = np.meshgrid(
        np.arange(out_h), np.arange(out_w), np.arange(kh), np.arange(kw), indexing="ij"
    )
    rows_in = i * sh + u * dh - top
    cols_in = j * sw + v * dw - left
    inside = (rows_in >= 0) & (rows_in < h) & (cols_in >= 0) & (cols_in < w)
    out_index = (i * out_w + j)[inside]
    in_index = (rows_in * w + cols_in)[inside]
    values = k[u, v][inside]
    shape = (out_h * out_w, h * w)
    matrix = sp.csr_matrix((values, (out_index, in_index)), shape=shape, dtype=np.float32)
    use_sparse = sparse if sparse is not None else shape[0] * shape[1] > DENSE_LIMIT
    return matrix if use_sparse else matrix.toarray()


#: Bytes per (output pixel, kernel tap) while the sparse matrix is built: four int64 index
#: grids, two int64 index lists, the float32 values and the mask.
_BYTES_PER_ENTRY = 4 * 8 + 2 * 8 + 4 + 1


def _check_matrix_memory(out_pixels: int, taps: int, in_pixels: int, sparse: bool | None
                         ) -> None:
    """Refuse, in one line, a Toeplitz matrix that this machine's memory cannot hold."""
    from convrec.conv.limits import LimitError, physical_memory_bytes

    memory = physical_memory_bytes()
    dense = out_pixels * in_pixels * 4 if sparse is False else 0
    needed = max(out_pixels * taps * _BYTES_PER_ENTRY, dense)
    if memory is not None and needed > memory:
        raise LimitError(
            f"input_hw: the Toeplitz matrix ({out_pixels:,} output pixels × {in_pixels:,} "
            f"input pixels) needs about {needed / 2**30:,.1f} GiB to build, more than this "
            f"machine's memory ({memory / 2**30:,.1f} GiB); use a smaller image (conv2d "
            "computes the same convolution without the matrix)",
            parameter="input_hw", value=(out_pixels, in_pixels), limit=memory)


def conv_transpose_via_matrix(
    y: ArrayLike,
    kernel: ArrayLike,
    input_hw: tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
) -> NDArray[Any]:
    """Transposed convolution as ``conv_matrix(...).T @ y.ravel()``.

    ``y`` has the forward output's shape ``(H_out, W_out)``; the result has ``input_hw``.
    It equals ``F.conv_transpose2d`` with the ``output_padding`` that restores ``input_hw``.
    """
    m = conv_matrix(kernel, input_hw, stride, padding, dilation)
    flat = np.asarray(y, dtype=np.float32).ravel()
    return np.asarray(m.T @ flat).reshape(input_hw)
