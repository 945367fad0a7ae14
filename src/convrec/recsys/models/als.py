"""Explicit-feedback ALS with biases, on one machine (numba) or on Spark (MLlib).

The model predicts ``μ + b_u + b_i + p_u · q_i``:

1. the biases come first, by the closed-form ridge steps of :class:`Biases`
   (``reg_user``/``reg_item`` shrinkage);
2. the factors are then fitted to the residuals ``r − μ − b_u − b_i`` by alternating least
   squares with Spark's weighted regularisation (ALS-WR, Zhou et al. 2008): each row solves
   ``(Σ_i q_i q_iᵀ + reg·n_u·I) p_u = Σ_i (r_ui − μ − b_u − b_i) q_i``.

Both engines fit the same objective, so they reach the same accuracy (not bitwise the same
numbers: the random starts differ) and write the same fitted attributes; recommend, similar
items, fold-in, evaluation and persistence never ask which engine trained the model.

* ``engine="local"``: a numba kernel over CSR arrays, one row per ``prange`` iteration. With
  ``cg_steps=0`` each row is solved exactly (Cholesky, ``O(n_u k² + k³)``); with
  ``cg_steps > 0`` it takes that many conjugate-gradient steps from the previous iteration's
  vector (``O(n_u k)`` each), which is what makes 25M ratings fit in about a minute.
* ``engine="spark"``: :func:`convrec.recsys.spark.fit_spark_als` on the residuals
  (``master`` chooses the cluster; default ``local[*]``).

A new user is folded in as :class:`~convrec.recsys.models.factor.FactorModel` does: the MAP
``[p, b_u]`` under the learned population of training users (their mean and covariance),
not a ridge towards zero. Measured on 50 held-out ML-100K users (benchmarks/bench_foldin.py),
it beats ALS-WR's own row solve with the training ``λ = reg·n`` shrunk towards the mean user
(0.906/0.892/0.878 against 0.963/0.936/0.903 RMSE at 5/10/20 ratings).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange
from numpy.typing import NDArray

from convrec.recsys._kernels import chol_solve_sample
from convrec.recsys.base import register_model
from convrec.recsys.models.baselines import fit_biases
from convrec.recsys.models.factor import FactorModel
from convrec.recsys.ratings import Ratings

__all__ = ["ALS", "ENGINES"]

ENGINES = ("local", "spark")


@nb.njit(parallel=True, fastmath=True, cache=True)  # type: ignore[misc]
def als_half_step(indptr: np.ndarray, idx: np.ndarray, vals: np.ndarray, mu: float,
                  row_bias: np.ndarray, col_bias: np.ndarray, Y: np.ndarray, X: np.ndarray,
                  reg: float, weighted: bool, cg_steps: int) -> None:
    """Update every row ``u`` of ``X (n, k)`` in place against the fixed ``Y (n_other, k)``.

    Plainly: ``A = Σ_t y yᵀ + λ I``, ``b = Σ_t e_t y`` over the row's entries ``t``
    (``y = Y[idx[t]]``, ``e_t = vals[t] − mu − row_bias[u] − col_bias[idx[t]]``,
    ``λ = reg·n_u`` when ``weighted`` else ``reg``), then ``X[u] = A⁻¹ b`` exactly
    (``cg_steps == 0``) or by ``cg_steps`` conjugate-gradient steps from ``X[u]``.
    Rows without entries are set to 0.
    """
    n = indptr.shape[0] - 1
    K = Y.shape[1]
    for u in prange(n):
        lo = indptr[u]
        hi = indptr[u + 1]
        m = hi - lo
        if m == 0:
            for p in range(K):
                X[u, p] = 0.0
            continue
        lam = reg * m if weighted else reg
        b = np.zeros(K)
        for t in range(lo, hi):
            j = idx[t]
            e = vals[t] - mu - row_bias[u] - col_bias[j]
            for p in range(K):
                b[p] += e * Y[j, p]
        if cg_steps == 0:
            A = np.zeros((K, K))
            for p in range(K):
                A[p, p] = lam
            for t in range(lo, hi):
                j = idx[t]
                for p in range(K):
                    yp = Y[j, p]
                    for q in range(p + 1):
                        A[p, q] += yp * Y[j, q]
            s = np.empty(K)
            chol_solve_sample(A, b, np.zeros(K), s)
            for p in range(K):
                X[u, p] = s[p]
            continue
        # conjugate gradient on A x = b, warm-started from the current row
        x = X[u].copy()
        r = b.copy()
        for p in range(K):
            r[p] -= lam * x[p]
        for t in range(lo, hi):
            j = idx[t]
            d = 0.0
            for p in range(K):
                d += Y[j, p] * x[p]
            for p in range(K):
                r[p] -= d * Y[j, p]
        direction = r.copy()
        rs = 0.0
        for p in range(K):
            rs += r[p] * r[p]
        Ap = np.empty(K)
        for _ in range(cg_steps):
            if rs < 1e-20:
                break
            for p in range(K):
                Ap[p] = lam * direction[p]
            for t in range(lo, hi):
                j = idx[t]
                d = 0.0
                for p in range(K):
                    d += Y[j, p] * direction[p]
                for p in range(K):
                    Ap[p] += d * Y[j, p]
            pAp = 0.0
            for p in range(K):
                pAp += direction[p] * Ap[p]
            alpha = rs / pAp
            rs_new = 0.0
            for p in range(K):
                x[p] += alpha * direction[p]
                r[p] -= alpha * Ap[p]
                rs_new += r[p] * r[p]
            for p in range(K):
                direction[p] = r[p] + (rs_new / rs) * direction[p]
            rs = rs_new
        for p in range(K):
            X[u, p] = x[p]


@register_model
class ALS(FactorModel):
    """Biased matrix factorisation by alternating least squares, local or on Spark.

    Args:
        factors: the rank k of the user and item factors.
        reg: ridge strength of the factors, multiplied by each row's rating count (ALS-WR,
            Spark's ``regParam``).
        iterations: alternations (one user half-step and one item half-step each).
        cg_steps: conjugate-gradient steps per row and half-step (local engine); 0 solves each
            row exactly (Cholesky), as Spark does.
        reg_user: shrinkage of the user biases (fitted before the factors).
        reg_item: shrinkage of the item biases.
        engine: ``"local"`` (numba, this machine) or ``"spark"`` (Spark MLlib ALS).
        master: Spark master URL for ``engine="spark"`` (``None``: an active session if any,
            else ``local[*]``).
        seed: seed of the random start (both engines).
    """

    def __init__(self, factors: int = 32, reg: float = 0.1, iterations: int = 15,
                 cg_steps: int = 3, reg_user: float = 15.0, reg_item: float = 10.0,
                 engine: str = "local", master: str | None = None, seed: int = 0) -> None:
        self.factors = factors
        self.reg = reg
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.engine = engine
        self.master = master
        self.seed = seed

    def _validate(self) -> None:
        for name in ("factors", "iterations"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
        if not isinstance(self.cg_steps, int) or self.cg_steps < 0:
            raise ValueError(f"cg_steps must be an integer >= 0, got cg_steps={self.cg_steps!r}")
        for name in ("reg", "reg_user", "reg_item"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, "
                             f"got engine={self.engine!r}")

    def _fit(self, ratings: Ratings) -> None:
        self._validate()
        mu, bu, bi = fit_biases(ratings, self.reg_user, self.reg_item, 5)
        self.global_mean_, self.user_bias_, self.item_bias_ = mu, bu, bi
        if self.engine == "spark":
            from convrec.recsys.spark import fit_spark_als

            resid = (ratings.ratings - np.float32(mu) - bu[ratings.users].astype(np.float32)
                     - bi[ratings.items].astype(np.float32))
            P, Q = fit_spark_als(ratings, resid, factors=self.factors, reg=self.reg,
                                 iterations=self.iterations, seed=self.seed, master=self.master)
        else:
            P, Q = self._fit_local(ratings, mu, bu, bi)
        self.user_factors_, self.item_factors_ = P, Q
        self.y_range_ = None
        self.engine_ = self.engine

    def _fit_local(self, ratings: Ratings, mu: float, bu: NDArray[np.float64],
                   bi: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        rng = np.random.default_rng(self.seed)
        k = self.factors
        # both CSR copies (int32 indices, float32 values) are the only per-rating memory
        up, ui, uv = ratings.csr("user")
        ip, ii, iv = ratings.csr("item")
        P = np.zeros((ratings.n_users, k))
        Q = rng.normal(0.0, 0.1 / np.sqrt(k), (ratings.n_items, k))
        Q[self.item_counts_ == 0] = 0.0
        for _ in range(self.iterations):
            als_half_step(up, ui, uv, mu, bu, bi, Q, P, float(self.reg), True, self.cg_steps)
            als_half_step(ip, ii, iv, mu, bi, bu, P, Q, float(self.reg), True, self.cg_steps)
        return P, Q
