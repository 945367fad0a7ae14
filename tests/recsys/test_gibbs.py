"""BayesianMF's Gibbs sampler against its definitions: the row solve of one half-sweep
against a dense NumPy solve, and a half-sweep on noise-free ratings against the truth."""

from __future__ import annotations

import numpy as np

from convrec.recsys._kernels import solve_rows
from convrec.recsys.models.bayes import _half_sweep, _HalfState


def _random_csr(rng: np.random.Generator, n: int, n_other: int
                ) -> tuple[np.ndarray, np.ndarray]:
    counts = rng.integers(0, 7, n)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    idx = np.concatenate([rng.choice(n_other, c, replace=False) for c in counts]).astype(np.int64)
    return indptr, idx


def test_solve_rows_is_the_gaussian_conditional_of_each_row() -> None:
    """``out[u] = A⁻¹ b + L⁻ᵀ z`` with ``A = A0 + Σ a x xᵀ``, ``b = B0[u] + Σ b_w x``,
    ``A = L Lᵀ``, computed here densely with NumPy."""
    rng = np.random.default_rng(0)
    n, n_other, K = 9, 12, 4
    indptr, idx = _random_csr(rng, n, n_other)
    a_w, b_w = rng.uniform(0.5, 2, len(idx)), rng.normal(size=len(idx))
    X = rng.normal(size=(n_other, K))
    M = rng.normal(size=(K, K))
    A0 = M @ M.T + K * np.eye(K)
    B0, Z = rng.normal(size=(n, K)), rng.normal(size=(n, K))
    out = np.empty((n, K))
    solve_rows(indptr, idx, a_w, b_w, X, A0, B0, Z, out)
    for u in range(n):
        rows = slice(indptr[u], indptr[u + 1])
        x = X[idx[rows]]
        A = A0 + (x * a_w[rows, None]).T @ x
        b = B0[u] + x.T @ b_w[rows]
        L = np.linalg.cholesky(A)
        expected = np.linalg.solve(A, b) + np.linalg.solve(L.T, Z[u])
        np.testing.assert_allclose(out[u], expected, rtol=1e-9, atol=1e-10)


def test_a_half_sweep_recovers_rows_from_noise_free_ratings() -> None:
    """With a huge noise precision and many exact ratings ``r = μ + b_i + q_i·p_u + b_u``,
    the conditional draw of each user's ``[p_u, b_u]`` is the truth, whatever the prior."""
    rng = np.random.default_rng(1)
    n_users, n_items, k, mu = 6, 80, 3, 3.5
    items = _HalfState(factors=rng.normal(size=(n_items, k)), bias=rng.normal(0, 0.3, n_items),
                       side_term=np.zeros((n_items, k)))
    true_p, true_b = rng.normal(size=(n_users, k)), rng.normal(0, 0.5, n_users)
    indptr = np.arange(0, (n_users + 1) * n_items, n_items, dtype=np.int64)
    idx = np.tile(np.arange(n_items, dtype=np.int64), n_users)
    users_of = np.repeat(np.arange(n_users), n_items)
    vals = (mu + items.bias[idx] + true_b[users_of]
            + np.einsum("ij,ij->i", items.factors[idx], true_p[users_of]))
    users = _HalfState(factors=rng.normal(size=(n_users, k)), bias=np.zeros(n_users),
                       side_term=np.zeros((n_users, k)))
    _half_sweep(users, None, (indptr, idx, vals), items, mu, alpha=1e8,
                rng=np.random.default_rng(2))
    np.testing.assert_allclose(users.factors, true_p, atol=1e-3)
    np.testing.assert_allclose(users.bias, true_b, atol=1e-3)
    assert users.prior_precision is not None and users.prior_precision.shape == (k, k)
