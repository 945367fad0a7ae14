"""The one top-N routine: the best ``n`` columns of each row of scores, best first.

Every ranking in the package goes through :func:`top_n` (``recommend``, ``recommend_vector``,
``similar_items``, evaluation, recommend-all). Rules, the same everywhere: higher is better,
ties go to the lower index, ``-inf`` marks an excluded item and is never returned.
One row (a request) is ranked by NumPy's ``argpartition`` so that a fresh process does not
load numba; a block of rows goes to the one-pass numba kernel
:func:`convrec.recsys._kernels.top_n_rows`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["top_n"]

#: rows at or above which the numba kernel beats argpartition + lexsort per row
_KERNEL_ROWS = 8


def _top_row(scores: NDArray[np.floating], n: int) -> NDArray[np.int64]:
    finite = np.flatnonzero(np.isfinite(scores))
    n = min(n, len(finite))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    values = scores[finite]
    kth = values[np.argpartition(-values, n - 1)[n - 1]]  # the n-th best score
    above = finite[values > kth]
    # ties at the cut go to the lower indices (argpartition alone picks any of them)
    part = np.concatenate([above, finite[values == kth][:n - len(above)]])
    out: NDArray[np.int64] = part[np.lexsort((part, -scores[part]))].astype(np.int64)
    return out


def top_n(scores: NDArray[np.floating], n: int) -> NDArray[np.int64]:
    """Top-``n`` column indices, best first.

    Args:
        scores: ``(n_items,)`` or ``(m, n_items)``; ``-inf`` (or NaN) excludes an item.
        n: how many (at least 1).

    Returns:
        For one row: ``(min(n, finite items),)`` indices. For a block: ``(m, min(n, n_items))``
        with ``-1`` after a row's last finite item.
    """
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got n={n!r}")
    scores = np.asarray(scores)
    if scores.ndim == 1:
        return _top_row(scores, int(n))
    if scores.ndim != 2:
        raise ValueError(f"scores must be (n_items,) or (m, n_items), got shape {scores.shape}")
    m, n_items = scores.shape
    width = min(int(n), n_items)
    out = np.full((m, width), -1, dtype=np.int64)
    if m >= _KERNEL_ROWS and width > 0:
        from convrec.recsys._kernels import top_n_rows

        clean = np.where(np.isnan(scores), -np.inf, scores)
        top_n_rows(np.ascontiguousarray(clean), out)
        return out
    for r in range(m):
        row = _top_row(scores[r], width)
        out[r, :len(row)] = row
    return out
