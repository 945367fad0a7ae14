"""Numba kernels shared by the models: per-row ridge solves (ALS, Gibbs sampling), k-NN,
EASE's Gram matrix and weights.

Compiled on first use and cached on disk (``cache=True``); every kernel has a plain reading in
its docstring so that the maths can be checked without numba.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange

# numba kernels are untyped for mypy; callers pass float64/int64 arrays.


@nb.njit(fastmath=True, cache=True)  # type: ignore[misc]
def chol_solve_sample(A: np.ndarray, b: np.ndarray, z: np.ndarray, out: np.ndarray) -> None:
    """``out = A⁻¹ b + L⁻ᵀ z`` where ``A = L Lᵀ`` (A is overwritten by L; lower triangle read).

    With ``z = 0`` this is the ridge solution; with ``z ~ N(0, I)`` it is a draw from
    ``N(A⁻¹ b, A⁻¹)``, the Gibbs step of Bayesian MF.
    """
    n = A.shape[0]
    for j in range(n):
        s = A[j, j]
        for p in range(j):
            s -= A[j, p] * A[j, p]
        d = np.sqrt(max(s, 1e-12))
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for p in range(j):
                s -= A[i, p] * A[j, p]
            A[i, j] = s / d
    y = np.empty(n)
    for i in range(n):
        s = b[i]
        for p in range(i):
            s -= A[i, p] * y[p]
        y[i] = s / A[i, i]
    for i in range(n):
        y[i] += z[i]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for p in range(i + 1, n):
            s -= A[p, i] * out[p]
        out[i] = s / A[i, i]


@nb.njit(parallel=True, fastmath=True, cache=True)  # type: ignore[misc]
def solve_rows(indptr: np.ndarray, idx: np.ndarray, a_w: np.ndarray, b_w: np.ndarray,
               X: np.ndarray, A0: np.ndarray, B0: np.ndarray, Z: np.ndarray,
               out: np.ndarray) -> None:
    """For every row ``u``: ``A = A0 + Σ_t a_w[t] x x ᵀ``, ``b = B0[u] + Σ_t b_w[t] x`` over the
    row's entries ``t`` (``x = X[idx[t]]``), then ``out[u] = A⁻¹ b + L⁻ᵀ Z[u]``.

    Shapes: ``X (n_other, K)``, ``A0 (K, K)``, ``B0 (n, K)``, ``Z (n, K)``, ``out (n, K)``.
    """
    n = indptr.shape[0] - 1
    K = X.shape[1]
    for u in prange(n):
        A = np.empty((K, K))
        for p in range(K):
            for q in range(K):
                A[p, q] = A0[p, q]
        b = B0[u].copy()
        s = np.empty(K)
        for t in range(indptr[u], indptr[u + 1]):
            j = idx[t]
            aw = a_w[t]
            bw = b_w[t]
            for p in range(K):
                xp = X[j, p]
                b[p] += bw * xp
                axp = aw * xp
                # the whole row, not just the lower triangle that the solve reads: a
                # contiguous loop the compiler vectorises is faster than half the flops
                for q in range(K):
                    A[p, q] += axp * X[j, q]
        chol_solve_sample(A, b, Z[u], s)
        for p in range(K):
            out[u, p] = s[p]


@nb.njit(parallel=True, fastmath=True, cache=True)  # type: ignore[misc]
def squared_error(users: np.ndarray, items: np.ndarray, r: np.ndarray, mu: float,
                  user_bias: np.ndarray, item_bias: np.ndarray, P: np.ndarray,
                  Q: np.ndarray) -> float:
    """``Σ_t (r[t] − μ − b_u − b_i − p_u·q_i)²`` over the ratings ``(users[t], items[t])``,
    without the ``(N, k)`` gathers that NumPy would make."""
    total = 0.0
    k = P.shape[1]
    for t in prange(r.shape[0]):
        u = users[t]
        i = items[t]
        e = r[t] - mu - user_bias[u] - item_bias[i]
        for f in range(k):
            e -= P[u, f] * Q[i, f]
        total += e * e
    return total


@nb.njit(parallel=True, cache=True)  # type: ignore[misc]
def knn_residuals(qu: np.ndarray, qi: np.ndarray, indptr: np.ndarray, idx: np.ndarray,
                  res: np.ndarray, S: np.ndarray, k: int, min_k: int,
                  shrink: float = 0.0) -> np.ndarray:
    """Item-kNN correction for each query ``(qu[t], qi[t])``: among the items the user rated,
    the ``k`` most similar to ``qi[t]`` with positive similarity give
    ``Σ s·res / (Σ s + shrink)`` (0 when fewer than ``min_k`` neighbours)."""
    out = np.zeros(qu.shape[0])
    for t in prange(qu.shape[0]):
        u = qu[t]
        i = qi[t]
        a = indptr[u]
        m = indptr[u + 1] - a
        if m == 0:
            continue
        s = np.empty(m)
        for q in range(m):
            s[q] = S[i, idx[a + q]]
        order = np.argsort(-s)
        num = 0.0
        den = 0.0
        c = 0
        for q in order[:k]:
            if s[q] > 0:
                num += s[q] * res[a + q]
                den += s[q]
                c += 1
        if c >= min_k and den > 0:
            out[t] = num / (den + shrink)
    return out


@nb.njit(parallel=True, cache=True, nogil=True)  # type: ignore[misc]
def top_n_rows(scores: np.ndarray, out: np.ndarray) -> None:
    """Each row's top-``n`` column indices (``n = out.shape[1]``), best first, into ``out``.

    One pass per row with a sorted insertion list: ~1 ns a score against ~10 ns for
    ``argpartition`` on a negated copy (recommend-all at ML-25M size went from 176 s to
    seconds). Ties keep the lower index; ``-inf`` never enters, so short rows end in ``-1``.
    """
    n = out.shape[1]
    for r in prange(scores.shape[0]):
        row = scores[r]
        best = np.full(n, -np.inf, dtype=scores.dtype)
        idx = out[r]
        idx[:] = -1
        threshold = best[n - 1]
        for j in range(row.shape[0]):
            v = row[j]
            if v > threshold:
                k = n - 1
                while k > 0 and best[k - 1] < v:
                    best[k] = best[k - 1]
                    idx[k] = idx[k - 1]
                    k -= 1
                best[k] = v
                idx[k] = j
                threshold = best[n - 1]


@nb.njit(parallel=True, cache=True)  # type: ignore[misc]
def gram_counts(order: np.ndarray, item_indptr: np.ndarray, item_users: np.ndarray,
                user_indptr: np.ndarray, user_items: np.ndarray, lam: float,
                G: np.ndarray) -> None:
    """``G = XᵀX + λI`` for a binary user × item matrix X given both ways round, into the
    dense ``G (n_items, n_items)`` (float32, overwritten).

    Row ``i`` of G counts, for each user who has item ``i``, every item of that user:
    ``Σ_u n_u²`` additions, no sparse product matrix in between. Each thread writes whole
    rows, so no two threads touch one entry; ``order`` (a permutation of the rows) spreads
    the popular items, whose rows cost most, over the threads.
    """
    for t in prange(order.shape[0]):
        i = order[t]
        row = G[i]
        row[:] = 0.0
        for a in range(item_indptr[i], item_indptr[i + 1]):
            u = item_users[a]
            for b in range(user_indptr[u], user_indptr[u + 1]):
                row[user_items[b]] += 1.0
        row[i] += lam


@nb.njit(inline="always", cache=True)  # type: ignore[misc]
def _ease_row(P: np.ndarray, diag: np.ndarray, r: int) -> None:
    dr = diag[r]
    for c in range(r):
        v = P[r, c]
        P[r, c] = -v / diag[c]
        P[c, r] = -v / dr
    P[r, r] = 0.0


@nb.njit(parallel=True, cache=True)  # type: ignore[misc]
def ease_from_inverse(P: np.ndarray, diag: np.ndarray) -> None:
    """EASE's ``B = −P / diag(P)`` with a zero diagonal, in place, from a symmetric P of which
    only the lower triangle (``row ≥ col``, C order) is valid; ``diag (n,)`` is P's diagonal.

    ``B[r, c] = −P[r, c] / diag[c]`` and ``B[c, r] = −P[r, c] / diag[r]`` for ``c < r``: row
    ``r``'s thread reads only its own lower entries and writes them and their mirror images,
    which no other row's thread touches. Rows ``r`` and ``n−1−r`` go together, so that every
    thread gets an equal share of the triangle.
    """
    n = P.shape[0]
    for h in prange((n + 1) // 2):
        _ease_row(P, diag, h)
        if n - 1 - h != h:
            _ease_row(P, diag, n - 1 - h)

