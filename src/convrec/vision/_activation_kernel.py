"""One pass over a layer's activations: the numbers :class:`~convrec.vision.watch.ActivationStats`
records (mean, std, share near zero, histogram).

Torch computes them in five passes (``mean``, ``std``, ``abs() <= t``, its mean, ``histc``), each
allocating and each reading all of the activations: 24 ms per forward of the simple CNN at batch
512 on 2 cores, five times the forward itself. Here one numba loop per chunk of the values reads
each value once (``benchmarks/RESULTS.md``, "activation statistics").

The sums are taken of ``x - shift`` (``shift`` = the first value) in float64, so that the
variance does not lose its digits to a large mean (the shifted-data algorithm, Chan et al. 1983).
Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["summarise"]

_KERNEL: Any = None
#: values per task: large enough that a task's histogram and sums cost little beside its loop
_CHUNK = 1 << 16
#: values per block inside a task: their bin numbers (16 KiB) stay in L1
_BLOCK = 4096


def _compile() -> Any:
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    import numba

    # Each pass is written so that it vectorises or keeps its dependency chains short; one
    # loop doing all at once measured 3.2 ms for 800k values, these three 1.2-1.6 ms (one thread).
    # reassoc: the sums may be reordered (vectorised); no 'nnan'/'ninf', so NaN still counts.
    fast = {"reassoc", "contract"}

    @numba.njit(fastmath=fast, cache=True)  # type: ignore[misc]
    def block_sums(flat, start, stop, shift, near):  # type: ignore[no-untyped-def]
        s1 = 0.0
        s2 = 0.0
        zero = 0
        for j in range(start, stop):
            v = np.float64(flat[j])
            d = v - shift
            s1 += d
            s2 += d * d
            zero += abs(v) <= near
        return s1, s2, zero

    @numba.njit(fastmath=fast, cache=True)  # type: ignore[misc]
    def block_bins(flat, start, stop, lo, scale, bins, out):  # type: ignore[no-untyped-def]
        # torch.histc's rule: values in [lo, hi] count, hi itself in the last bin; anything
        # else (outside, NaN) goes to the spare slot `bins`. Selects, not branches: vectorised.
        top = np.float64(bins)
        below_top = top - 0.5
        for j in range(start, stop):
            b = (np.float64(flat[j]) - lo) * scale
            inside = (b >= 0.0) & (b <= top)
            clipped = min(max(b, 0.0), below_top)
            out[j - start] = np.int32(clipped) if inside else bins

    @numba.njit(parallel=True, cache=True)  # type: ignore[misc]
    def kernel(flat, shift, near, lo, scale, bins, block, partial):  # type: ignore[no-untyped-def]
        # partial: (tasks, bins + 3) = [histogram..., Σ(x - shift), Σ(x - shift)², count near 0]
        n = flat.shape[0]
        tasks = partial.shape[0]
        for t in numba.prange(tasks):
            # four histograms, one per lane of four values: consecutive values of a ReLU's
            # output mostly fall in the same bin, and one counter makes every increment wait
            # for the one before it (a store-to-load chain)
            h0 = np.zeros(bins + 1, np.int64)
            h1 = np.zeros(bins + 1, np.int64)
            h2 = np.zeros(bins + 1, np.int64)
            h3 = np.zeros(bins + 1, np.int64)
            index = np.empty(block, np.int32)
            s1 = 0.0
            s2 = 0.0
            zero = 0
            t0, t1 = t * n // tasks, (t + 1) * n // tasks
            for start in range(t0, t1, block):
                stop = min(t1, start + block)
                a, b, c = block_sums(flat, start, stop, shift, near)
                s1 += a
                s2 += b
                zero += c
                block_bins(flat, start, stop, lo, scale, bins, index)
                m = stop - start
                q = m - m % 4
                for j in range(0, q, 4):
                    h0[index[j]] += 1
                    h1[index[j + 1]] += 1
                    h2[index[j + 2]] += 1
                    h3[index[j + 3]] += 1
                for j in range(q, m):
                    h0[index[j]] += 1
            row = partial[t]
            for k in range(bins):
                row[k] = h0[k] + h1[k] + h2[k] + h3[k]
            row[bins] = s1
            row[bins + 1] = s2
            row[bins + 2] = zero

    _KERNEL = kernel
    return kernel


def summarise(values: NDArray[np.floating], near: float, lo: float, hi: float,
              bins: int) -> tuple[float, float, float, NDArray[np.float32]]:
    """Mean, std (``n - 1`` in the denominator, as ``torch.std``), share with ``|x| <= near``
    and a ``bins``-bin histogram over ``[lo, hi]`` (``torch.histc``'s rule) of ``values``.

    Shape:
        ``values``: any shape (read as one flat array; a copy only if it is not contiguous);
        the histogram: ``(bins,)`` float32 counts. NaN is counted nowhere in the histogram and
        makes the mean and std NaN, as in torch.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    n = flat.shape[0]
    if n == 0:
        return math.nan, math.nan, math.nan, np.zeros(bins, np.float32)
    tasks = max(1, min(256, (n + _CHUNK - 1) // _CHUNK))
    partial = np.zeros((tasks, bins + 3), dtype=np.float64)
    shift = float(flat[0]) if np.isfinite(flat[0]) else 0.0
    _compile()(flat, shift, float(near), float(lo), bins / (hi - lo), bins, _BLOCK, partial)
    total = partial.sum(axis=0)
    # Python floats from here: inf - inf is NaN without numpy's warning
    s1, s2, zero = float(total[bins]), float(total[bins + 1]), float(total[bins + 2])
    mean = shift + s1 / n
    var = (s2 - s1 * s1 / n) / (n - 1) if n > 1 else math.nan
    std = math.nan if math.isnan(var) else math.sqrt(max(var, 0.0))
    return mean, std, zero / n, total[:bins].astype(np.float32)
