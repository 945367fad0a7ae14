"""Every metric against a hand-computed example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convrec.recsys import metrics as M


def test_rmse_mae_by_hand() -> None:
    # errors 1, -1, 2: RMSE sqrt((1+1+4)/3) = sqrt(2); MAE 4/3
    assert M.rmse([3, 4, 5], [4, 3, 3]) == pytest.approx(math.sqrt(2))
    assert M.mae([3, 4, 5], [4, 3, 3]) == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="one length"):
        M.rmse([1, 2], [1])


def test_ranking_metrics_by_hand() -> None:
    ranked = np.array([[5, 1, 7], [2, 3, 4]])
    relevant = [[1, 9], [8]]
    # user 0: hit at position 1 only; user 1: no hit
    assert M.hit_rate_at_k(ranked, relevant) == pytest.approx(0.5)
    assert M.precision_at_k(ranked, relevant) == pytest.approx((1 / 3 + 0) / 2)
    assert M.recall_at_k(ranked, relevant) == pytest.approx((1 / 2 + 0) / 2)
    # NDCG user 0: (1/log2 3) / (1 + 1/log2 3)
    ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k(ranked, relevant) == pytest.approx(ndcg0 / 2)
    # AP user 0: precision@2 = 1/2 at the hit, over min(|rel|, k) = 2 -> 1/4
    assert M.map_at_k(ranked, relevant) == pytest.approx(0.25 / 2)
    assert M.catalog_coverage(ranked, 12) == pytest.approx(6 / 12)


def test_perfect_ranking_scores_one() -> None:
    per = M.ranking_per_user(np.array([[3, 4]]), [[3, 4]])
    names = ("hr", "precision", "recall", "ndcg", "map")
    assert all(per[k][0] == pytest.approx(1.0) for k in names)


def test_paired_bootstrap_interval_contains_mean() -> None:
    a = np.array([1.0, 0, 1, 1, 0, 1])
    b = np.zeros(6)
    diff, lo, hi = M.paired_bootstrap(a, b, n_boot=500)
    assert diff == pytest.approx(4 / 6) and lo <= diff <= hi and lo > 0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="ranked must be"):
        M.hit_rate_at_k(np.array([1, 2]), [[1]])
    with pytest.raises(ValueError, match="relevant has 2 users"):
        M.hit_rate_at_k(np.array([[1, 2]]), [[1], [2]])
