"""EASE's weights from the fast float32 paths against a float64 inverse of the Gram matrix."""

from __future__ import annotations

import numpy as np
import pytest

from convrec.recsys import Ratings
from convrec.recsys.models.topn import ease_item_weights


def _reference(ratings: Ratings, lam: float) -> np.ndarray:
    """``B = −P / diag(P)``, ``P = (XᵀX + λI)⁻¹`` in float64 with ``np.linalg.inv``."""
    X = np.zeros((ratings.n_users, ratings.n_items))
    X[ratings.users, ratings.items] = 1.0
    P = np.linalg.inv(X.T @ X + lam * np.eye(ratings.n_items))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


# more users than items: the Gram path; fewer: the Woodbury path; square and odd sizes check
# the paired-row split of the triangle
@pytest.mark.parametrize(("n_users", "n_items"), [(300, 61), (40, 201), (64, 64), (9, 9)])
@pytest.mark.parametrize("lam", [1.0, 50.0])
def test_ease_weights_match_a_float64_inverse(n_users: int, n_items: int, lam: float) -> None:
    rng = np.random.default_rng(n_users * 1000 + n_items)
    # each user rates a random 30% of the items (every user and item at least once)
    mask = rng.random((n_users, n_items)) < 0.3
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    u, i = np.nonzero(mask)
    ratings = Ratings.from_arrays(u, i, rng.integers(1, 6, len(u)).astype(float))
    assert (ratings.n_users, ratings.n_items) == (n_users, n_items)
    B = ease_item_weights(ratings, lam)
    assert B.dtype == np.float32 and B.flags.c_contiguous and B.shape == (n_items, n_items)
    ref = _reference(ratings, lam)
    np.testing.assert_allclose(B, ref, atol=2e-5 * np.abs(ref).max(), rtol=0)
    assert not np.diag(B).any()


def test_a_repeated_rating_counts_once() -> None:
    users = np.array([0, 0, 1, 1, 2, 2, 0])
    items = np.array([0, 1, 1, 2, 0, 2, 1])  # (0, 1) twice
    twice = Ratings.from_arrays(users, items, np.ones(7))
    once = Ratings.from_arrays(users[:6], items[:6], np.ones(6))
    np.testing.assert_allclose(ease_item_weights(twice, 2.0), _reference(once, 2.0),
                               atol=1e-6)
