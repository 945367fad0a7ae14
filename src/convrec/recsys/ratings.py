"""Ratings as compact arrays with id maps, and the splits used to evaluate models.

Users are rows everywhere: ``users[k]`` is a row index in ``0..n_users-1`` and ``items[k]`` a
column index; ``user_ids[row]`` and ``item_ids[col]`` give the original ids back.

Splits keep the vocabulary of the whole data set, so train and test share one index space;
a model treats a user or item with no *training* rating as unknown (it predicts a fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from convrec.data.movielens import RawRatings

__all__ = [
    "Ratings",
    "leave_last_out_split",
    "random_split",
    "temporal_split",
]


def _vocab(values: NDArray[np.generic]) -> NDArray[np.generic]:
    return np.unique(values)


@dataclass(frozen=True)
class Ratings:
    """Ratings in index space with the maps back to original ids.

    Attributes:
        users: ``(N,)`` int32 row indices.
        items: ``(N,)`` int32 column indices.
        ratings: ``(N,)`` float32 values.
        timestamps: ``(N,)`` int64 or None.
        user_ids: ``(n_users,)`` original user id of each row (sorted).
        item_ids: ``(n_items,)`` original item id of each column (sorted).
    """

    users: NDArray[np.int32]
    items: NDArray[np.int32]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64] | None
    user_ids: NDArray[np.generic]
    item_ids: NDArray[np.generic]
    _user_lookup: dict[object, int] = field(default_factory=dict, repr=False, compare=False)
    _item_lookup: dict[object, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_raw(
        cls,
        raw: RawRatings,
        user_ids: NDArray[np.generic] | None = None,
        item_ids: NDArray[np.generic] | None = None,
    ) -> Ratings:
        """Map original ids to indices. With ``user_ids``/``item_ids`` given (e.g. the vocabulary
        of the whole data set), every id in ``raw`` must be in them."""
        uvocab = _vocab(raw.users) if user_ids is None else np.asarray(user_ids)
        ivocab = _vocab(raw.items) if item_ids is None else np.asarray(item_ids)
        # one column at a time, int32 at once: at 32M ratings each int64 temporary is 256 MB
        u = cls._indices("user", raw.users, uvocab, raw.source)
        i = cls._indices("item", raw.items, ivocab, raw.source)
        return cls(u, i, raw.ratings.astype(np.float32, copy=False), raw.timestamps, uvocab,
                   ivocab)

    @staticmethod
    def _indices(what: str, ids: NDArray[np.generic], vocab: NDArray[np.generic],
                 source: str) -> NDArray[np.int32]:
        """``(N,)`` int32 positions of ``ids`` in the sorted ``vocab`` (``KeyError`` naming the
        first id that is not in it)."""
        if len(vocab) == 0 and len(ids):
            raise KeyError(f"{what} id {ids[0]!r} (rating 1 of {source or 'the data'}) is not in "
                           "the given vocabulary (it is empty)")
        idx = np.searchsorted(vocab, ids).astype(np.int32)
        np.minimum(idx, max(len(vocab) - 1, 0), out=idx)
        bad = vocab[idx] != ids  # an id past the end was clipped to the last: != too
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise KeyError(f"{what} id {ids[k]!r} (rating {k + 1} of {source or 'the data'}) "
                           "is not in the given vocabulary")
        return idx

    @classmethod
    def from_arrays(
        cls, users: NDArray[np.generic] | list[object], items: NDArray[np.generic] | list[object],
        ratings: NDArray[np.floating] | list[float],
        timestamps: NDArray[np.integer] | None = None,
    ) -> Ratings:
        """Build from parallel arrays of original ids (handy for tests and notebooks)."""
        t = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        try:
            r = np.asarray(ratings, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"ratings must be numbers, got {list(ratings)[:3]!r}...") from None
        if not (len(users) == len(items) == len(r)):
            raise ValueError(f"users, items and ratings must have one length, got "
                             f"{len(users)}, {len(items)}, {len(r)}")
        if not np.isfinite(r).all():
            raise ValueError("ratings must be finite numbers")
        return cls.from_raw(RawRatings(np.asarray(users), np.asarray(items), r, t))

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def __len__(self) -> int:
        return int(self.ratings.shape[0])

    def subset(self, mask_or_index: NDArray[np.bool_] | NDArray[np.integer]) -> Ratings:
        """The ratings selected by a boolean mask or index array (same vocabulary)."""
        sel = mask_or_index
        return Ratings(self.users[sel], self.items[sel], self.ratings[sel],
                       None if self.timestamps is None else self.timestamps[sel],
                       self.user_ids, self.item_ids)

    def user_index(self, user_id: object) -> int:
        """Row of an original user id, or -1 when unknown."""
        if not self._user_lookup:
            self._user_lookup.update({_key(v): k for k, v in enumerate(self.user_ids.tolist())})
        return self._user_lookup.get(_key(user_id), -1)

    def item_index(self, item_id: object) -> int:
        """Column of an original item id, or -1 when unknown."""
        if not self._item_lookup:
            self._item_lookup.update({_key(v): k for k, v in enumerate(self.item_ids.tolist())})
        return self._item_lookup.get(_key(item_id), -1)

    def csr(self, by: Literal["user", "item"] = "user") -> tuple[
            NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
        """Compressed rows: ``(indptr (n+1,), indices (N,), values (N,))`` grouped by user
        (indices are items) or by item (indices are users)."""
        rows, cols = (self.users, self.items) if by == "user" else (self.items, self.users)
        n = self.n_users if by == "user" else self.n_items
        order = np.lexsort((cols, rows))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        return indptr, cols[order].astype(np.int32), self.ratings[order]


def _key(value: object) -> object:
    """Normalise ids so that 42, np.int64(42) and "42" find the same integer id."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def random_split(ratings: Ratings, test_fraction: float = 0.2, seed: int = 0
                 ) -> tuple[Ratings, Ratings]:
    """Random split of the ratings (not per user), ``(train, test)``, fixed by ``seed``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(ratings), dtype=bool)
    test[rng.permutation(len(ratings))[: round(test_fraction * len(ratings))]] = True
    return ratings.subset(~test), ratings.subset(test)


def _user_order(ratings: Ratings) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices sorted by (user, time, file order) and the rank of each rating in its user."""
    if ratings.timestamps is None:
        raise ValueError("this split needs timestamps, but the ratings have none")
    order = np.lexsort((np.arange(len(ratings)), ratings.timestamps, ratings.users))
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(ratings)) - starts[ratings.users[order]]
    return order, rank


def temporal_split(ratings: Ratings, test_fraction: float = 0.2) -> tuple[Ratings, Ratings]:
    """Per-user temporal split: each user's latest ``test_fraction`` of ratings go to test
    (ties in time keep file order); users with one rating stay in train."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order, rank = _user_order(ratings)
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    n_test = np.floor(counts * test_fraction).astype(np.int64)
    u = ratings.users[order]
    is_test = rank >= counts[u] - n_test[u]
    test = np.zeros(len(ratings), dtype=bool)
    test[order[is_test]] = True
    return ratings.subset(~test), ratings.subset(test)


def leave_last_out_split(ratings: Ratings, n: int = 1, min_train: int = 1
                         ) -> tuple[Ratings, Ratings]:
    """Each user's last ``n`` ratings by time (ties: file order) are the test set; users with
    fewer than ``n + min_train`` ratings stay wholly in train."""
    if not isinstance(ratings, Ratings):
        raise TypeError(f"ratings must be a convrec.recsys.Ratings, got "
                        f"{type(ratings).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got n={n}")
    order, rank = _user_order(ratings)
    counts = np.bincount(ratings.users, minlength=ratings.n_users)
    u = ratings.users[order]
    is_test = (rank >= counts[u] - n) & (counts[u] >= n + min_train)
    test = np.zeros(len(ratings), dtype=bool)
    test[order[is_test]] = True
    return ratings.subset(~test), ratings.subset(test)
