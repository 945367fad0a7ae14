"""The conv2d engines. All take canonical 4-D inputs and agree with ``F.conv2d``.

- ``direct``: plain Python loops over every output pixel. The teaching reference.
- ``im2col``: the patch matrix (one strided copy per kernel tap) times the weights, one
  batched GEMM per cache-sized chunk of images.
- ``stencil``: fused loops compiled by numba, zero padding done per image in a small buffer
  (no padded copy of the batch), zero taps skipped where the block's input is all finite
  (so NaN and Inf propagate exactly as in PyTorch). The fast path for few channels and
  small kernels (the MNIST edge workload).
- ``torch``: ``torch.nn.functional.conv2d`` (oneDNN), channels-last for many channels.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

Array = NDArray[Any]
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


def direct(
    x: Array, w: Array, b: Array | None, out_hw: Pair, stride: Pair, dilation: Pair, groups: int
) -> Array:
    """Reference convolution: one dot product per output pixel, in float64.

    ``x`` is already padded: ``(N, C, Hp, Wp)``; ``w`` is ``(O, C/groups, kH, kW)``.
    """
    n_batch, _, _, _ = x.shape
    n_out, c_per_group, kh, kw = w.shape
    out_h, out_w = out_hw
    sh, sw = stride
    dh, dw = dilation
    out_per_group = n_out // groups
    out = np.zeros((n_batch, n_out, out_h, out_w), dtype=np.float64)
    for n in range(n_batch):
        for o in range(n_out):
            g = o // out_per_group
            channels = slice(g * c_per_group, (g + 1) * c_per_group)
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * sh, j * sw
                    # (C/groups, kH, kW) window, taps spaced by the dilation
                    patch = x[
                        n,
                        channels,
                        top : top + dh * (kh - 1) + 1 : dh,
                        left : left + dw * (kw - 1) + 1 : dw,
                    ]
                    out[n, o, i, j] = np.sum(patch.astype(np.float64) * w[o])
            if b is not None:
                out[n, o] += b[o]
    return out.astype(np.result_type(x.dtype, w.dtype))


def im2col_patches(x: Array, kernel_hw: Pair, stride: Pair, dilation: Pair) -> Array:
    """Strided view of every window: ``(N, C, H_out, W_out, kH, kW)`` (no copy).

    ``x`` is already padded, ``(N, C, Hp, Wp)``.
    """
    kh, kw = kernel_hw
    dh, dw = dilation
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    windows = sliding_window_view(x, (span_h, span_w), axis=(2, 3))  # (N, C, Hp-sh+1, ., sh, sw)
    return windows[:, :, :: stride[0], :: stride[1], ::dh, ::dw]  # (N, C, Ho, Wo, kH, kW)


def im2col(
    x: Array,
    w: Array,
    b: Array | None,
    out_hw: Pair,
    stride: Pair,
    dilation: Pair,
    groups: int,
    out: Array | None = None,
) -> Array:
    """Convolution as matrix multiplication: one batched GEMM per group and batch chunk.

    For a chunk of ``n`` images, the patch matrix ``cols`` ``(n, C/g*kH*kW, H_out*W_out)`` is
    filled with one strided copy per kernel tap (``kH*kW`` NumPy calls, whatever the batch:
    no per-image Python work), then ``w_mat @ cols`` with ``w_mat`` ``(O/g, C/g*kH*kW)``
    writes into ``out[n0:n1, group]`` ``(n, O/g, H_out*W_out)`` (in place when
    ``groups == 1``). ``x`` is already
    padded; ``out``, if given, is a C-contiguous ``(N, O, H_out, W_out)`` array of the
    result dtype.
    """
    import torch

    n_batch, _, _, _ = x.shape
    n_out, c_per_group, kh, kw = w.shape
    out_h, out_w = out_hw
    sh, sw = stride
    dh, dw = dilation
    dtype = np.result_type(x.dtype, w.dtype)
    if out is None:
        out = np.empty((n_batch, n_out, out_h, out_w), dtype=dtype)
    o_g = n_out // groups
    k = c_per_group * kh * kw
    # Images per GEMM: keep the patch matrix near the L2 cache (~2 MB) instead of
    # materialising it for the whole batch (W3: a 231 MB matrix otherwise).
    chunk = max(1, min(n_batch, IM2COL_CHUNK_BYTES // max(1, out_h * out_w * k * x.itemsize)))
    cols = np.empty((chunk, c_per_group, kh, kw, out_h, out_w), dtype=dtype)
    flat_out = out.reshape(n_batch, n_out, out_h * out_w)  # a view: out is contiguous
    rows_end, cols_end = (out_h - 1) * sh + 1, (out_w - 1) * sw + 1
    # The GEMM runs in torch (its BLAS on the OpenMP threads that the torch engine and the
    # stencil share), not in NumPy's OpenBLAS: OpenBLAS's own threads keep spinning on the
    # cores for about 0.1 s after each product, which on 2 cores made the next call of any
    # engine up to 2× slower (the stencil 24 ms after im2col against 12 ms after itself).
    cols_t = torch.from_numpy(cols)
    flat_out_t = torch.from_numpy(flat_out)
    for g in range(groups):
        # a copy: the weights may be read-only (the module's kernels), which torch refuses
        w_mat = torch.from_numpy(w[g * o_g : (g + 1) * o_g].reshape(o_g, k).astype(dtype))
        group = x[:, g * c_per_group : (g + 1) * c_per_group]
        for n0 in range(0, n_batch, chunk):
            n1 = min(n_batch, n0 + chunk)
            part = cols[: n1 - n0]
            for u in range(kh):
                for v in range(kw):
                    # tap (u, v) of every window: one strided block (n, C/g, H_out, W_out)
                    part[:, :, u, v] = group[
                        n0:n1,
                        :,
                        u * dh : u * dh + rows_end : sh,
                        v * dw : v * dw + cols_end : sw,
                    ]
            patches = cols_t[: n1 - n0].reshape(n1 - n0, k, out_h * out_w)
            if groups == 1:  # out[n0:n1] is contiguous: the product is written in place
                torch.matmul(w_mat, patches, out=flat_out_t[n0:n1])
            else:
                flat_out_t[n0:n1, g * o_g : (g + 1) * o_g] = torch.matmul(w_mat, patches)
    if b is not None:
        flat_out += np.asarray(b, dtype=dtype)[:, None]
    return out


IM2COL_CHUNK_BYTES = 2 << 20
_STENCIL_KERNEL: Any = None
PARALLEL_MIN_WORK = 4_000_000  # multiply-adds (measured crossover, see bench_conv)
# fastmath without 'nnan' and 'ninf': with those LLVM may assume no NaN/Inf exists and fold
# 0*x to 0 or drop NaN checks, which changed results (issue 12: 0 NaN outputs instead of 72).
# Reassociation and FMA contraction keep the sums vectorised; they only reorder rounding.
FASTMATH_FLAGS = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})


def _compile_stencil() -> Any:
    """Compile the fused loop on first use (numba caches the machine code on disk).

    Per block of output rows: copy the input rows it needs once into a small zero-padded
    buffer (cache-resident), then for each kernel tap add ``w * shifted rows`` over the
    *flattened* stride-1 output, one long vectorisable loop per tap instead of one short loop
    per row; finally gather the strided outputs. Buffers are allocated once per chunk of tasks.
    """
    global _STENCIL_KERNEL
    if _STENCIL_KERNEL is not None:
        return _STENCIL_KERNEL
    import numba

    def kernel(x, w, b, out, top, bottom, left, right, sh, sw, dh, dw, groups):  # type: ignore[no-untyped-def]
        n_batch, c_in, h, width = x.shape
        n_out, c_per_group, kh, kw = w.shape
        out_h, out_w = out.shape[2], out.shape[3]
        o_g = n_out // groups
        wp = width + left + right  # padded row pitch
        span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
        cols1 = wp - span_w + 1  # stride-1 output columns
        # A task is one image's block of output rows, sized so its buffers stay in L1/L2;
        # small images give one block per image, one large image gives many (threads share it).
        rows_per_block = max(1, min(out_h, 16384 // (wp * sh)))
        n_blocks = (out_h + rows_per_block - 1) // rows_per_block
        buf_rows = (rows_per_block - 1) * sh + span_h
        n_tasks = n_batch * n_blocks
        n_chunks = min(n_tasks, 512)
        # Without padding the image itself already has the flat layout (pitch = width).
        unpadded = top == 0 and bottom == 0 and left == 0 and right == 0
        flat = x.reshape(n_batch, c_in, h * width)
        for chunk in numba.prange(n_chunks):
            buf = np.zeros((c_in, buf_rows * wp), dtype=x.dtype)  # borders stay 0
            acc = np.empty(buf_rows * wp, dtype=out.dtype)
            tap_c = np.empty(c_per_group * kh * kw, dtype=np.int64)
            tap_s = np.empty(c_per_group * kh * kw, dtype=np.int64)
            tap_w = np.empty(c_per_group * kh * kw, dtype=w.dtype)
            for task in range(chunk * n_tasks // n_chunks, (chunk + 1) * n_tasks // n_chunks):
                n = task // n_blocks
                i0 = (task % n_blocks) * rows_per_block
                i1 = min(out_h, i0 + rows_per_block)
                rows_in = (i1 - i0 - 1) * sh + span_h  # padded input rows this block reads
                for c in range(c_in if not unpadded else 0):
                    for r in range(rows_in):
                        ii = i0 * sh + r - top  # source row in the unpadded image
                        base = r * wp + left
                        # slices, not offset indices: numba then drops its negative-index
                        # checks and LLVM vectorises the loops (8× measured)
                        dst = buf[c, base : base + width]
                        if 0 <= ii < h:
                            src_row = x[n, c, ii]
                            for j in range(width):
                                dst[j] = src_row[j]
                        else:
                            for j in range(width):
                                dst[j] = 0
                span = ((i1 - i0 - 1) * sh) * wp + cols1  # flat stride-1 outputs needed
                # Skipping a zero tap is exact only where every input value it would meet is
                # finite (0 * NaN and 0 * Inf are NaN in PyTorch). x*0 sums to 0 for finite
                # blocks and to NaN otherwise: one cache-warm pass over the block's input.
                probe = 0.0
                for c in range(c_in):
                    if unpadded:
                        block = flat[n, c, i0 * sh * wp : i0 * sh * wp + rows_in * wp]
                    else:
                        block = buf[c, : rows_in * wp]
                    for p in range(block.size):
                        probe += block[p] * 0.0
                skip_zeros = probe == 0.0
                if unpadded:  # the image itself, from the block's first input row
                    src2d = flat[n]
                    base = i0 * sh * wp
                else:
                    src2d = buf
                    base = 0
                for o in range(n_out):
                    g = o // o_g
                    # the taps that count: (channel, flat shift, weight)
                    n_taps = 0
                    for c in range(c_per_group):
                        for ki in range(kh):
                            for kj in range(kw):
                                wv = w[o, c, ki, kj]
                                if wv == 0 and skip_zeros:
                                    continue  # edge kernels are mostly zeros
                                tap_c[n_taps] = g * c_per_group + c
                                tap_s[n_taps] = base + ki * dh * wp + kj * dw
                                tap_w[n_taps] = wv
                                n_taps += 1
                    window = acc[:span]
                    if n_taps == 0:
                        window[:] = 0
                    # up to three taps per pass over the block: 4 loads and 1 store per 3
                    # taps instead of 2 loads and 1 store per tap (W2 1.8× measured); the
                    # first pass writes, so the window is never zeroed separately
                    t = 0
                    while t < n_taps:
                        m = min(3, n_taps - t)
                        s0 = src2d[tap_c[t], tap_s[t] : tap_s[t] + span]
                        w0 = tap_w[t]
                        if m == 1:
                            if t == 0:
                                for p in range(span):
                                    window[p] = w0 * s0[p]
                            else:
                                for p in range(span):
                                    window[p] += w0 * s0[p]
                        elif m == 2:
                            s1 = src2d[tap_c[t + 1], tap_s[t + 1] : tap_s[t + 1] + span]
                            w1 = tap_w[t + 1]
                            if t == 0:
                                for p in range(span):
                                    window[p] = w0 * s0[p] + w1 * s1[p]
                            else:
                                for p in range(span):
                                    window[p] += w0 * s0[p] + w1 * s1[p]
                        else:
                            s1 = src2d[tap_c[t + 1], tap_s[t + 1] : tap_s[t + 1] + span]
                            s2 = src2d[tap_c[t + 2], tap_s[t + 2] : tap_s[t + 2] + span]
                            w1 = tap_w[t + 1]
                            w2 = tap_w[t + 2]
                            if t == 0:
                                for p in range(span):
                                    window[p] = w0 * s0[p] + w1 * s1[p] + w2 * s2[p]
                            else:
                                for p in range(span):
                                    window[p] += w0 * s0[p] + w1 * s1[p] + w2 * s2[p]
                        t += m
                    bo = b[o]
                    for i in range(i1 - i0):
                        r = i * sh * wp
                        row = out[n, o, i0 + i]
                        if sw == 1:  # a unit-stride slice vectorises
                            picked = acc[r : r + out_w]
                            for j in range(out_w):
                                row[j] = picked[j] + bo
                        else:
                            strided = acc[r : r + (out_w - 1) * sw + 1 : sw]
                            for j in range(out_w):
                                row[j] = strided[j] + bo
        return out

    # Two compilations of one body: threads pay off only past a few M multiply-adds (the seed
    # batch, 64 digits, is faster on one thread than after a thread-pool wake-up). Each gets
    # its own function name: numba names its cache files after the function and keys them by
    # signature only, not by `parallel`, so two compilations of one function share one entry
    # and the parallel dispatcher loaded the serial machine code (W2 ran on one core).
    _STENCIL_KERNEL = tuple(
        numba.njit(
            _renamed(kernel, suffix),
            parallel=parallel,
            cache=True,
            nogil=True,
            fastmath=set(FASTMATH_FLAGS),
        )
        for parallel, suffix in ((False, "_serial"), (True, "_parallel"))
    )
    return _STENCIL_KERNEL


def _renamed(fn: Any, suffix: str) -> Any:
    """A copy of the function ``fn`` whose name (and so numba's cache file) ends in ``suffix``."""
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    copy.__qualname__ = fn.__qualname__ + suffix
    return copy


def stencil_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def stencil(
    x: Array,
    w: Array,
    b: Array | None,
    out_hw: Pair,
    stride: Pair,
    dilation: Pair,
    groups: int,
    pads: Pads = (0, 0, 0, 0),
    out: Array | None = None,
) -> Array:
    """Fused-loop convolution with zero padding done in the loop (``x`` is *not* padded).

    ``out``, if given, is a C-contiguous ``(N, O, H_out, W_out)`` array of the result dtype
    that is written in place (no allocation: repeated feature extraction reuses it).
    """
    dtype = np.result_type(x.dtype, w.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    w = np.ascontiguousarray(w, dtype=dtype)
    bias = np.zeros(w.shape[0], dtype=dtype) if b is None else np.asarray(b, dtype=dtype)
    if out is None:
        out = np.empty((x.shape[0], w.shape[0], *out_hw), dtype=dtype)  # (N, O, Ho, Wo)
    serial, parallel = _compile_stencil()
    work = out.size * w.shape[1] * w.shape[2] * w.shape[3]
    kernel = parallel if work > PARALLEL_MIN_WORK else serial
    kernel(
        x,
        w,
        bias,
        out,
        pads[0],
        pads[1],
        pads[2],
        pads[3],
        stride[0],
        stride[1],
        dilation[0],
        dilation[1],
        groups,
    )
    return out
