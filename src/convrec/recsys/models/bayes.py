"""Bayesian matrix factorisation by Gibbs sampling, with implicit-feedback side information.

The model (Salakhutdinov & Mnih, "Bayesian probabilistic matrix factorization using MCMC",
ICML 2008, with biases; side information as in Simm et al.'s Macau, 2015):

    r_ui ~ N(μ + b_u + b_i + p_u·q_i, 1/α)
    p_u ~ N(μ_P + β_Pᵀ f_u, Λ_P⁻¹)      f_u: the items u rated, as a row scaled to unit norm
    q_i ~ N(μ_Q + β_Qᵀ g_i, Λ_Q⁻¹)      g_i: the users who rated i (the "flipped" term)
    (μ_P, Λ_P), (μ_Q, Λ_Q) ~ Normal-Wishart;  b ~ N(0, 1/λ_b);  β ~ N(0, (λ_β Λ)⁻¹);
    α, λ_b, λ_β ~ Gamma(1, 1).

``f_u`` plays the part of SVD++'s implicit term ``|N(u)|^-½ Σ y_j``: which movies a user chose
to rate says something about their taste. Every parameter is sampled in turn (block Gibbs);
predictions average the samples after ``burn_in``. Averaging many models is what protects a
small data set such as ML-100K from over-fitting, without a learning rate to tune.

Storage: the average of the kept samples' ``P_s Q_sᵀ`` is itself a low-rank matrix, the
product of the samples' factors stacked side by side (each scaled by ``1/√S``). Those stacked
factors are stored as ordinary user and item factors (every ``thin``-th sample, rank
``k·n_samples/thin``), so recommend, similar items, fold-in and persistence work as for any
biased MF.

Cost per sweep: ``O(nnz·k²)`` for the row solves plus ``O((n_users+n_items)·r·k)`` for the side
terms (``r = min(n_users, n_items)``, the rank of the implicit matrix), after one ``r×r``
eigen-decomposition. The side terms need ``r ≤ max_side`` (default 10,000): larger data sets
(ML-20M and up) run without them.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from convrec.recsys._kernels import solve_rows
from convrec.recsys.base import register_model
from convrec.recsys.models.factor import FactorModel
from convrec.recsys.ratings import Ratings

__all__ = ["BayesianMF"]


class _Side:
    """Implicit side features ``F (n, f)`` with a thin SVD ``F = U S Vᵀ`` (only U, S kept)."""

    def __init__(self, indptr: NDArray[np.int64], idx: NDArray[np.int32], n: int, f: int) -> None:
        from scipy import sparse

        counts = np.diff(indptr)
        vals = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
        F = sparse.csr_matrix((vals, idx, indptr), shape=(n, f))
        if n <= f:
            s2, U = np.linalg.eigh((F @ F.T).toarray())
        else:
            s2, V = np.linalg.eigh((F.T @ F).toarray())
        keep = s2 > 1e-9 * max(float(s2.max()), 1e-300)
        s2 = s2[keep]
        S = np.sqrt(s2)
        U = U[:, keep] if n <= f else np.asarray(F @ V[:, keep]) / S
        self.U, self.S, self.f = U, S, f

    def sample(self, T: NDArray[np.float64], lam: float, Lam: NDArray[np.float64],
               rng: np.random.Generator) -> tuple[NDArray[np.float64], float]:
        """Draw β from its posterior given targets ``T (n, k)``; returns ``(Fβ (n, k),
        tr(β Λ βᵀ))``. Only ``c = Vᵀβ`` matters for ``Fβ = U S c``; the part of β orthogonal
        to the row space of F is pure prior noise, whose Λ-norm is ``χ²((f-r)k) / λ``."""
        S, U = self.S, self.U
        k = T.shape[1]
        d = S**2 + lam
        c = (S / d)[:, None] * (U.T @ T)
        L = np.linalg.cholesky(Lam)
        noise = np.linalg.solve(L.T, rng.standard_normal((k, len(S)))).T  # rows ~ N(0, Λ⁻¹)
        c += noise / np.sqrt(d)[:, None]
        quad = float(np.sum((c @ Lam) * c))
        quad += rng.chisquare(max((self.f - len(S)) * k, 1)) / lam
        return U @ (S[:, None] * c), quad


def _wishart(rng: np.random.Generator, df: float, scale: NDArray[np.float64]
             ) -> NDArray[np.float64]:
    """Bartlett's construction of a Wishart(df, scale) draw."""
    k = scale.shape[0]
    L = np.linalg.cholesky(scale)
    A = np.zeros((k, k))
    A[np.diag_indices(k)] = np.sqrt(rng.chisquare(df - np.arange(k)))
    low = np.tril_indices(k, -1)
    A[low] = rng.standard_normal(len(low[0]))
    LA = L @ A
    out: NDArray[np.float64] = LA @ LA.T
    return out


def _normal_wishart(X: NDArray[np.float64], rng: np.random.Generator, beta0: float = 2.0
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Draw ``(μ, Λ)`` given the rows of X (prior μ0 = 0, W0 = I, ν0 = k)."""
    n, k = X.shape
    xbar = X.mean(axis=0)
    C = X - xbar
    Winv = np.eye(k) + C.T @ C + (beta0 * n / (beta0 + n)) * np.outer(xbar, xbar)
    W = np.linalg.inv(Winv)
    Lam = _wishart(rng, k + n, (W + W.T) / 2)
    Lc = np.linalg.cholesky((beta0 + n) * Lam)
    mu = n * xbar / (beta0 + n) + np.linalg.solve(Lc.T, rng.standard_normal(k))
    return mu, Lam


@register_model
class BayesianMF(FactorModel):
    """Bayesian biased MF with implicit side terms, trained by Gibbs sampling.

    Args:
        n_factors: k, the size of each sample's factors.
        n_samples: Gibbs sweeps averaged for prediction.
        burn_in: sweeps discarded first.
        implicit: use the implicit side terms (which items a user rated, who rated an item).
        max_side: skip the side terms when ``min(n_users, n_items)`` exceeds this.
        thin: keep every ``thin``-th sample's factors (biases average every sample).
        fold_in_rank: fold-in of new users solves in this many principal directions of the
            stored item factors (milliseconds instead of a ``k·S``-dimensional solve).
        seed: random seed (results are reproducible for a fixed seed and thread count).
        progress: show a progress bar over the sweeps.
    """

    def __init__(self, n_factors: int = 10, n_samples: int = 100, burn_in: int = 20,
                 implicit: bool = True, max_side: int = 10_000, thin: int = 2,
                 fold_in_rank: int = 64, seed: int = 0, progress: bool = False) -> None:
        self.n_factors = n_factors
        self.n_samples = n_samples
        self.burn_in = burn_in
        self.implicit = implicit
        self.max_side = max_side
        self.thin = thin
        self.fold_in_rank = fold_in_rank
        self.seed = seed
        self.progress = progress

    def _validate(self) -> None:
        for name in ("n_factors", "n_samples", "thin"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
        if not isinstance(self.burn_in, int) or self.burn_in < 0:
            raise ValueError(f"burn_in must be an integer >= 0, got burn_in={self.burn_in!r}")

    def _fit(self, ratings: Ratings) -> None:
        self._validate()
        rng = np.random.default_rng(self.seed)
        k = self.n_factors
        nu, ni = ratings.n_users, ratings.n_items
        up, ui, uv = ratings.csr("user")
        ip, ii, iv = ratings.csr("item")
        uv64 = uv.astype(np.float64)
        iv64 = iv.astype(np.float64)
        mu = float(ratings.ratings.mean())
        P = rng.normal(0, 0.1, (nu, k))
        Q = rng.normal(0, 0.1, (ni, k))
        bu = np.zeros(nu)
        bi = np.zeros(ni)
        use_side = self.implicit and min(nu, ni) <= self.max_side
        side_u = _Side(up, ui, nu, ni) if use_side else None
        side_i = _Side(ip, ii, ni, nu) if use_side else None
        FP = np.zeros((nu, k))
        FQ = np.zeros((ni, k))
        lam_p = lam_q = 10.0
        alpha = 2.0
        users = ratings.users.astype(np.int64)
        items = ratings.items.astype(np.int64)
        r = ratings.ratings.astype(np.float64)
        n = len(r)
        kept: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
        sum_bu = np.zeros(nu)
        sum_bi = np.zeros(ni)
        total = self.burn_in + self.n_samples
        thin = self.thin
        sweeps = range(total)
        if self.progress:
            from rich.progress import track

            sweeps = track(sweeps, description=f"Gibbs sampling ({total} sweeps)")  # type: ignore[assignment]
        A0 = np.zeros((k + 1, k + 1))
        ones = np.ones((max(nu, ni), 1))
        for sweep in sweeps:
            # hyper-parameters of the user side
            mu_p, Lam_p = _normal_wishart(P - FP, rng)
            if side_u is not None:
                FP, quad = side_u.sample(P - mu_p, lam_p, Lam_p, rng)
                lam_p = rng.gamma(1 + side_u.f * k / 2, 1 / (1 + quad / 2))
            lam_bu = rng.gamma(1 + nu / 2, 1 / (1 + 0.5 * bu @ bu))
            A0[:k, :k] = Lam_p
            A0[k, :] = 0
            A0[:, k] = 0
            A0[k, k] = lam_bu
            B0 = np.zeros((nu, k + 1))
            B0[:, :k] = (mu_p + FP) @ Lam_p
            X = np.hstack([Q, ones[:ni]])
            target = uv64 - mu - bi[ui]
            out = np.empty((nu, k + 1))
            solve_rows(up, ui.astype(np.int64), np.full(n, alpha), alpha * target, X, A0.copy(),
                       B0, rng.standard_normal((nu, k + 1)), out)
            P, bu = out[:, :k].copy(), out[:, k].copy()
            # hyper-parameters of the item side
            mu_q, Lam_q = _normal_wishart(Q - FQ, rng)
            if side_i is not None:
                FQ, quad = side_i.sample(Q - mu_q, lam_q, Lam_q, rng)
                lam_q = rng.gamma(1 + side_i.f * k / 2, 1 / (1 + quad / 2))
            lam_bi = rng.gamma(1 + ni / 2, 1 / (1 + 0.5 * bi @ bi))
            A0[:k, :k] = Lam_q
            A0[k, k] = lam_bi
            B0 = np.zeros((ni, k + 1))
            B0[:, :k] = (mu_q + FQ) @ Lam_q
            X = np.hstack([P, ones[:nu]])
            target = iv64 - mu - bu[ii]
            out = np.empty((ni, k + 1))
            solve_rows(ip, ii.astype(np.int64), np.full(n, alpha), alpha * target, X, A0.copy(),
                       B0, rng.standard_normal((ni, k + 1)), out)
            Q, bi = out[:, :k].copy(), out[:, k].copy()
            # noise precision
            resid = r - (mu + bu[users] + bi[items] + np.einsum("ij,ij->i", P[users], Q[items]))
            alpha = rng.gamma(1 + n / 2, 1 / (1 + 0.5 * resid @ resid))
            if sweep >= self.burn_in:
                sum_bu += bu
                sum_bi += bi
                if (sweep - self.burn_in) % thin == 0:
                    kept.append((P.copy(), Q.copy()))
        s = len(kept)
        Ps = np.hstack([p for p, _ in kept]) / np.sqrt(s)
        Qs = np.hstack([q for _, q in kept]) / np.sqrt(s)
        self.user_factors_, self.item_factors_ = Ps, Qs
        # fold-in solves in the top principal directions of the item factors (fast, < 1 ms)
        _, _, vt = np.linalg.svd(Qs, full_matrices=False)
        self.fold_basis_ = vt[: min(self.fold_in_rank, vt.shape[0])].T.copy()
        self.global_mean_ = mu
        self.user_bias_ = sum_bu / self.n_samples
        self.item_bias_ = sum_bi / self.n_samples
        self.noise_precision_ = float(alpha)
        self.n_stored_samples_ = s
        self.used_side_terms_ = bool(use_side)
        self.fold_in_reg_ = 5.0
        self.y_range_ = None

