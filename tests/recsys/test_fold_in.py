"""Fold-in of brand-new users: the model's own posterior, better than a shrunk user-bias
baseline on real ML-100K users (a lean version of benchmarks/bench_foldin.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from convrec.recsys import (
    ALS,
    BayesianMF,
    Biases,
    GlobalMean,
    ItemKNNBaseline,
    Ratings,
    Recommender,
)
from convrec.recsys.metrics import rmse

GIVEN = (5, 10, 20)
BASELINE_SHRINKAGE = 10.0  # chosen on validation users by benchmarks/bench_foldin.py


class HeldOut:
    """50 users with >= 40 ratings removed from u1.base; each one's ratings shuffled once."""

    def __init__(self, shared_data: Path) -> None:
        from convrec.recsys.evaluate import load_fold

        self.base, _ = load_fold("u1", shared_data)
        rng = np.random.default_rng(0)
        counts = np.bincount(self.base.users, minlength=self.base.n_users)
        users = rng.choice(np.flatnonzero(counts >= 40), 50, replace=False)
        self.order = [rng.permutation(np.flatnonzero(self.base.users == u)) for u in users]
        self.train = self.base.subset(~np.isin(self.base.users, users))

    def profile(self, pos: np.ndarray) -> dict[object, float]:
        b = self.base
        return {b.item_ids[b.items[t]].item(): float(b.ratings[t]) for t in pos}

    def scored(self) -> tuple[np.ndarray, np.ndarray]:
        rest = np.concatenate([p[max(GIVEN):] for p in self.order])
        return self.base.items[rest], self.base.ratings[rest]

    def fold_in_rmse(self, model: Recommender, n: int) -> float:
        truth, pred = [], []
        for pos in self.order:
            scores = model.predict_vector(model.fold_in(self.profile(pos[:n])))
            rest = pos[max(GIVEN):]
            truth.append(self.base.ratings[rest])
            pred.append(scores[self.base.items[rest]])
        return rmse(np.concatenate(truth), np.concatenate(pred))

    def baseline_rmse(self, biases: Biases, n: int) -> float:
        truth, pred = [], []
        b = self.base
        for pos in self.order:
            given, rest = pos[:n], pos[max(GIVEN):]
            bu = (b.ratings[given] - biases.global_mean_
                  - biases.item_bias_[b.items[given]]).sum() / (BASELINE_SHRINKAGE + n)
            truth.append(b.ratings[rest])
            pred.append(np.clip(biases.global_mean_ + bu + biases.item_bias_[b.items[rest]], 1, 5))
        return rmse(np.concatenate(truth), np.concatenate(pred))


@pytest.fixture(scope="module")
def held(shared_data: Path) -> HeldOut:
    return HeldOut(shared_data)


@pytest.fixture(scope="module")
def baseline(held: HeldOut) -> dict[int, float]:
    biases = Biases().fit(held.train)
    return {n: held.baseline_rmse(biases, n) for n in GIVEN}


@pytest.mark.data
@pytest.mark.parametrize("factory", [
    lambda: BayesianMF(n_samples=30, burn_in=10),
    lambda: ALS(),
], ids=["BayesianMF", "ALS"])
def test_fold_in_beats_the_shrunk_user_bias_baseline(
        factory: object, held: HeldOut, baseline: dict[int, float]) -> None:
    model = factory().fit(held.train)  # type: ignore[operator]
    folded = {n: held.fold_in_rmse(model, n) for n in GIVEN}
    assert all(folded[n] < baseline[n] for n in GIVEN), (folded, baseline)


@pytest.mark.data
def test_item_knn_fold_in_beats_the_baseline(held: HeldOut, baseline: dict[int, float]
                                             ) -> None:
    model = ItemKNNBaseline().fit(held.train)
    folded = {n: held.fold_in_rmse(model, n) for n in GIVEN}
    assert all(folded[n] < baseline[n] for n in GIVEN), (folded, baseline)


def _tiny() -> Ratings:
    rng = np.random.default_rng(3)
    P, Q = rng.normal(size=(30, 2)), rng.normal(size=(25, 2))
    R = np.clip(np.rint(3.5 + P @ Q.T + rng.normal(0, 0.3, (30, 25))), 1, 5)
    u, i = np.nonzero(rng.random((30, 25)) < 0.6)
    return Ratings.from_arrays(u, 100 + i, R[u, i])


def test_no_ratings_folds_in_the_average_training_user() -> None:
    model = BayesianMF(n_factors=2, n_samples=6, burn_in=2, thin=1).fit(_tiny())
    vec = model.fold_in({})
    k, S = 2, model.n_stored_samples_
    # each sample's prior mean μ_P (no side term without rated items), bias 0
    expected = model.sample_user_mean_.ravel() / np.sqrt(S)
    np.testing.assert_allclose(vec[:-1], expected)
    assert vec[-1] == 0.0 and len(vec) == k * S + 1


def test_bayesian_fold_in_is_each_samples_conditional() -> None:
    """Against a direct solve of one sample's Gaussian conditional (normal equations written
    out as a least-squares problem on whitened rows)."""
    model = BayesianMF(n_factors=2, n_samples=4, burn_in=2, thin=1, implicit=False).fit(_tiny())
    items, values = np.array([0, 3, 7]), np.array([5.0, 1.0, 4.0])
    vec = model._fold_in(items, values)
    S, k = model.n_stored_samples_, 2
    for s in range(S):
        Q = model.item_factors_[:, s * k:(s + 1) * k] * np.sqrt(S)
        alpha = model.sample_noise_precision_[s]
        L = np.linalg.cholesky(model.sample_user_precision_[s])
        # minimise α‖y − Xw‖² + (p − m)ᵀΛ(p − m) + λ_b b² as one stacked least squares
        X = np.hstack([Q[items], np.ones((3, 1))]) * np.sqrt(alpha)
        y = (values - model.global_mean_ - model.sample_item_bias_[s, items]) * np.sqrt(alpha)
        prior = np.zeros((k + 1, k + 1))
        prior[:k, :k] = L.T
        prior[k, k] = np.sqrt(model.sample_bias_precision_[s])
        target = np.concatenate([L.T @ model.sample_user_mean_[s], [0.0]])
        w, *_ = np.linalg.lstsq(np.vstack([X, prior]), np.concatenate([y, target]), rcond=None)
        np.testing.assert_allclose(vec[s * k:(s + 1) * k] * np.sqrt(S), w[:k], rtol=1e-4,
                                   atol=1e-6)


def test_factor_fold_in_is_the_map_under_the_learned_prior() -> None:
    """ALS's fold-in against scipy's minimiser of the same objective."""
    model = ALS(factors=3, iterations=5).fit(_tiny())
    items, values = np.array([1, 2, 9, 12]), np.array([4.0, 2.0, 5.0, 3.0])
    w = model._fold_in(items, values)
    m, Lam, alpha = model._user_prior()
    X = np.hstack([model.item_factors_[items], np.ones((4, 1))])
    off = model.global_mean_ + model.item_bias_[items]

    def objective(v: np.ndarray) -> float:
        return float(alpha * np.sum((values - off - X @ v) ** 2) + (v - m) @ Lam @ (v - m))

    ref = minimize(objective, m, method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(w, ref, atol=1e-4)
    assert np.allclose(model._fold_in(np.zeros(0, dtype=np.int64), np.zeros(0)), m)


# --- ratings of items without training ratings -------------------------------------------
#: an item id that only the held-out ratings have (in the id map, no training rating) and one
#: the model never saw at all
UNRATED, NEVER_SEEN = 999, 123456


def _with_an_unrated_item() -> Ratings:
    """``_tiny()`` whose id map also holds item ``UNRATED``, with no training rating."""
    full = _tiny()
    extra = Ratings.from_arrays(np.concatenate([full.user_ids[full.users], [0]]),
                                np.concatenate([full.item_ids[full.items], [UNRATED]]),
                                np.concatenate([full.ratings, [5.0]]))
    return extra.subset(extra.item_ids[extra.items] != UNRATED)


KNOWN = {100: 4.0, 103: 2.0, 109: 5.0}
GIVEN_UNRATED = {**KNOWN, UNRATED: 1.0, NEVER_SEEN: 2.0}


@pytest.mark.parametrize("factory", [Biases, ItemKNNBaseline, GlobalMean])
def test_an_unrated_item_counts_in_the_shrunk_bias(factory: type[Recommender]) -> None:
    """``b_u = Σ (r − μ − b_i) / (λ + n)`` over every rating, ``b_i = 0`` for the two items
    without training ratings."""
    model = factory().fit(_with_an_unrated_item())
    assert model.item_counts_[model.item_index(UNRATED)] == 0
    assert model.item_index(NEVER_SEEN) < 0
    if isinstance(model, Biases):
        mu, bias, reg = model.global_mean_, model.item_bias_, model.fold_in_reg
    else:
        mu, bias, reg = model.fallback_mean_, model.fallback_item_bias_, model.fallback_reg
    rows = [model.item_index(i) for i in KNOWN]
    resid = sum(r - mu - bias[j] for r, j in zip(KNOWN.values(), rows, strict=True))
    resid += (1.0 - mu) + (2.0 - mu)
    vec = model.fold_in(GIVEN_UNRATED)
    assert vec[0] == pytest.approx(resid / (reg + 5), rel=1e-12)
    if isinstance(model, ItemKNNBaseline):  # the neighbourhood has no row for it
        assert np.isnan(vec[1 + model.item_index(UNRATED)])
        assert np.isfinite(vec[1 + np.array(rows)]).all()
    assert vec[0] < model.fold_in(KNOWN)[0]  # two low ratings pull the bias down


def test_factor_fold_in_counts_an_unrated_item_as_zero_bias_and_factors() -> None:
    """ALS's MAP with the two unrated items' rows ``[0, …, 0, 1]`` and offset ``μ``, against
    scipy's minimiser."""
    model = ALS(factors=3, iterations=5).fit(_with_an_unrated_item())
    m, Lam, alpha = model._user_prior()
    rows = np.array([model.item_index(i) for i in KNOWN])
    values = np.array([*KNOWN.values(), 1.0, 2.0])
    X = np.vstack([np.hstack([model.item_factors_[rows], np.ones((3, 1))]),
                   np.tile(np.eye(4)[3], (2, 1))])
    off = model.global_mean_ + np.concatenate([model.item_bias_[rows], [0.0, 0.0]])

    def objective(v: np.ndarray) -> float:
        return float(alpha * np.sum((values - off - X @ v) ** 2) + (v - m) @ Lam @ (v - m))

    ref = minimize(objective, m, method="BFGS", options={"gtol": 1e-10}).x
    w = model.fold_in(GIVEN_UNRATED)
    np.testing.assert_allclose(w, ref, atol=1e-4)
    assert w[-1] < model.fold_in(KNOWN)[-1]


@pytest.mark.parametrize("implicit", [False, True], ids=["plain", "side terms"])
def test_bayesian_fold_in_counts_an_unrated_item_as_zero_bias_and_factors(
        implicit: bool) -> None:
    """Each sample's conditional as a stacked least squares with the unrated items' rows
    ``[0, …, 0, 1]``; with side terms the prior mean is ``μ_P + Σ β[i] / √n``, n counting
    them (their β is zero)."""
    model = BayesianMF(n_factors=2, n_samples=4, burn_in=2, thin=1,
                       implicit=implicit).fit(_with_an_unrated_item())
    rows = np.array([model.item_index(i) for i in KNOWN])
    values = np.array([*KNOWN.values(), 1.0, 2.0])
    vec = model.fold_in(GIVEN_UNRATED)
    S, k = model.n_stored_samples_, 2
    assert bool(model.sample_side_coef_.shape[1]) == implicit
    for s in range(S):
        Q = model.item_factors_[:, s * k:(s + 1) * k] * np.sqrt(S)
        alpha = model.sample_noise_precision_[s]
        L = np.linalg.cholesky(model.sample_user_precision_[s])
        X = np.vstack([np.hstack([Q[rows], np.ones((3, 1))]), np.tile(np.eye(k + 1)[k], (2, 1))])
        off = np.concatenate([model.sample_item_bias_[s, rows], [0.0, 0.0]])
        y = (values - model.global_mean_ - off) * np.sqrt(alpha)
        mean = model.sample_user_mean_[s].copy()
        if implicit:
            mean += model.sample_side_coef_[s, rows].sum(axis=0) / np.sqrt(5)
        prior = np.zeros((k + 1, k + 1))
        prior[:k, :k] = L.T
        prior[k, k] = np.sqrt(model.sample_bias_precision_[s])
        target = np.concatenate([L.T @ mean, [0.0]])
        w, *_ = np.linalg.lstsq(np.vstack([X * np.sqrt(alpha), prior]),
                                np.concatenate([y, target]), rcond=None)
        np.testing.assert_allclose(vec[s * k:(s + 1) * k] * np.sqrt(S), w[:k], rtol=1e-4,
                                   atol=1e-6)
    assert vec[-1] < model.fold_in(KNOWN)[-1]


@pytest.mark.data
def test_biases_fold_in_is_the_shrunk_user_bias_baseline(held: HeldOut,
                                                         baseline: dict[int, float]) -> None:
    """The same estimate (shrinkage 10, every given rating counted), so the same RMSE on the
    held-out users (ratings of movies no training user rated: the tests above)."""
    model = Biases(fold_in_reg=BASELINE_SHRINKAGE).fit(held.train)
    for n in GIVEN:
        # abs: the baseline subtracts μ from the float32 ratings in float32
        assert held.fold_in_rmse(model, n) == pytest.approx(baseline[n], abs=1e-7)
