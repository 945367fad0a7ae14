"""The one ratings reader: delimited text (``::``, tab, CSV with a header) and Parquet.

Every source of ratings goes through :func:`read_ratings_file`: the MovieLens releases (through
their registry entry), ``convrec movies train --ratings FILE`` and the scale engine. It is lean
on purpose: pandas' C tokenizer writes straight into typed columns (int32 ids when they fit,
float32 ratings), so no per-rating Python object is ever made. ``::`` files (ML-1M, ML-10M)
are tokenised on ``:`` and the empty fields between the two colons are skipped, so they take
the same C path instead of pandas' python engine.

Validation happens on the fast path where it is free (non-finite values, the rating scale)
and otherwise only after the fast parse failed: a streaming pass then finds the first bad
line, so every error reads ``file:line: what is wrong``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.data._text import is_number

if TYPE_CHECKING:
    from convrec.data.registry import RatingScale

__all__ = [
    "COLUMN_NAMES",
    "RatingsFormatError",
    "RawRatings",
    "read_ratings_file",
]

ROLES = ("user", "item", "rating", "timestamp")
#: file suffixes read as delimited text (``u.data``, ``u1.base``, ``ratings.dat``, ...)
TEXT_SUFFIXES = ("", ".csv", ".tsv", ".txt", ".dat", ".data", ".base", ".test")
PARQUET_SUFFIXES = (".parquet", ".pq")

#: accepted header names for each role (first match wins)
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("user", "userId", "user_id", "userid", "UserID"),
    "item": ("item", "movieId", "item_id", "itemId", "movie_id", "itemid", "MovieID"),
    "rating": ("rating", "score", "value", "Rating"),
    "timestamp": ("timestamp", "time", "ts", "Timestamp"),
}


class RatingsFormatError(ValueError):
    """A malformed ratings or movies file; the message is ``file:line: what is wrong``."""


@dataclass(frozen=True)
class RawRatings:
    """Ratings with their original ids, one entry per rating.

    Attributes:
        users: ``(N,)`` original user ids (an integer dtype, or str for generic files).
        items: ``(N,)`` original item ids.
        ratings: ``(N,)`` float32.
        timestamps: ``(N,)`` int64 seconds, or None when the file has none.
        source: where the ratings came from (a path), for messages.
    """

    users: NDArray[np.generic]
    items: NDArray[np.generic]
    ratings: NDArray[np.float32]
    timestamps: NDArray[np.int64] | None
    source: str = ""

    def __len__(self) -> int:
        return int(self.ratings.shape[0])


def _sniff_sep(first: str) -> str:
    for sep in ("::", "\t", ","):
        if sep in first:
            return sep
    return "\t" if " " not in first.strip() else " "


def _roles_from_header(head: list[str], columns: Sequence[str | int | None] | None,
                       path: Path) -> list[str]:
    """The role of each field (``""`` = ignored) from the header names."""
    names = [""] * len(head)
    if columns is not None and all(isinstance(c, str) and c in head for c in columns if c):
        # header names given in role order (user, item, rating[, timestamp])
        for role, col in zip(ROLES, columns, strict=False):
            if col:
                names[head.index(str(col))] = role
        return names
    if columns is not None:
        picked = [str(c) if c else "" for c in columns]
        if len(picked) != len(head):
            raise RatingsFormatError(
                f"{path}:1: the header has {len(head)} fields ({', '.join(head)}) but "
                f"columns= names {len(picked)}; give one role per field or header names")
        return picked
    for role, candidates in COLUMN_NAMES.items():
        found = [h for h in candidates if h in head]
        if found:
            names[head.index(found[0])] = role
        elif role != "timestamp":
            raise RatingsFormatError(
                f"{path}:1: no {role} column in the header ({', '.join(head)}); expected one "
                f"of {', '.join(candidates)}")
    return names


def _check_roles(names: Sequence[str], columns: object) -> None:
    for required in ("user", "item", "rating"):
        if required not in names:
            raise ValueError(
                f"columns must map a field to {required!r}, got columns={columns!r}; "
                "allowed roles: user, item, rating, timestamp")


def _lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        for k, line in enumerate(fh, start=1):
            yield k, line.rstrip("\r\n")


def _first_bad_line(path: Path, sep: str, names: Sequence[str], first_line: int,
                    encoding: str, string_ids: bool) -> str | None:
    """Stream the file and describe its first malformed line (run only after a fast parse
    failed, so its Python speed never costs a valid file anything)."""
    numeric = [k for k, n in enumerate(names) if n in ("rating", "timestamp")]
    ids = [] if string_ids else [k for k, n in enumerate(names) if n in ("user", "item")]
    for k, line in _lines(path, encoding):
        if k < first_line:
            continue
        where = f"{path}:{k}"
        if not line.strip():
            return f"{where}: empty line"
        fields = line.split(sep)
        if len(fields) != len(names):
            return (f"{where}: expected {len(names)} fields separated by {sep!r}, got "
                    f"{len(fields)}")
        for col in numeric:
            try:
                value = float(fields[col])
            except ValueError:
                return f"{where}: field {col + 1} is {fields[col]!r}, not a number"
            if not np.isfinite(value):
                return f"{where}: field {col + 1} is {fields[col]!r}, not a finite number"
        for col in ids:
            if not fields[col].strip().lstrip("-").isdigit():
                return None  # string ids: a legitimate file, read it with str ids
    return None


def _read_delimited(path: Path, sep: str, names: list[str], skip: int, encoding: str,
                    id_dtype: Any) -> dict[str, NDArray[Any]]:
    import pandas as pd

    if sep == "::":
        # tokenise on ':'; fields 1, 3, 5 are the empty strings between the colons
        char, positions = ":", [2 * k for k in range(len(names))]
        n_fields = 2 * len(names) - 1
    else:
        char, positions, n_fields = sep, list(range(len(names))), len(names)
    use = {positions[k]: role for k, role in enumerate(names) if role}
    dtypes: dict[int, Any] = {}
    for pos, role in use.items():
        dtypes[pos] = {"rating": np.float32, "timestamp": np.int64}.get(role, id_dtype)
    frame = pd.read_csv(
        path, sep=char, header=None, skiprows=skip, names=list(range(n_fields)),
        usecols=list(use), dtype=dtypes, engine="c", skip_blank_lines=False,
        encoding=encoding, na_filter=id_dtype is not str, keep_default_na=False,
        na_values=[""],
    )
    cols = {role: frame[pos].to_numpy() for pos, role in use.items()}
    del frame
    return cols


def _read_parquet(path: Path, columns: Sequence[str | int | None] | None
                  ) -> dict[str, NDArray[Any]]:
    import pyarrow.parquet as pq

    head = list(pq.read_schema(path).names)
    names = _roles_from_header(head, columns, path)
    _check_roles(names, columns)
    picked = {role: head[k] for k, role in enumerate(names) if role}
    table = pq.read_table(path, columns=list(picked.values()))
    return {role: table.column(name).to_numpy() for role, name in picked.items()}


def _ids(column: NDArray[Any]) -> NDArray[np.generic]:
    """Integer ids as they are, else str (fixed width: saves without pickle)."""
    if column.dtype.kind in "iu":
        return column
    try:
        out: NDArray[np.generic] = column.astype(np.int64)
        return out
    except (ValueError, TypeError, OverflowError):
        return np.asarray([str(v).strip() for v in column]).astype(str)


def read_ratings_file(
    path: str | Path,
    sep: str | None = None,
    columns: Sequence[str | int | None] | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    rating_range: tuple[float, float] | None = None,
    scale: RatingScale | None = None,
) -> RawRatings:
    """Read a ratings file: one rating per line (or row of a Parquet file).

    Args:
        path: ``u.data``, ``ratings.dat``, ``ratings.csv``, any CSV/TSV, or ``.parquet``.
        sep: field separator (``"\\t"``, ``"::"``, ``","``); None sniffs it from line 1.
        columns: the role of each field in file order (``"user"``, ``"item"``, ``"rating"``,
            optionally ``"timestamp"``; ``None``/``""`` ignores a field), or, with a header,
            header names in role order (``("userId", "movieId", "rating")``). None: by header
            name (:data:`COLUMN_NAMES`), else ``user, item, rating[, timestamp]``.
        header: whether line 1 names the columns; None guesses (a non-numeric field).
        encoding: text encoding.
        rating_range: optional inclusive ``(low, high)``; ratings outside raise.
        scale: optional :class:`~convrec.data.registry.RatingScale` (range and step) that every
            rating must be on (ML-100K: integers 1..5).

    Returns:
        :class:`RawRatings` with ``(N,)`` arrays (int32 ids when they fit, float32 ratings).

    Raises:
        FileNotFoundError: no such file.
        RatingsFormatError: ``file:line: reason`` for the first malformed line.
        ValueError: ``columns`` does not name the three required roles.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES + PARQUET_SUFFIXES:
        raise ValueError(f"{path}: unknown ratings format {suffix!r}; expected delimited text "
                         f"({', '.join(s for s in TEXT_SUFFIXES if s)}) or Parquet (.parquet)")
    if suffix in PARQUET_SUFFIXES:
        cols = _read_parquet(path, columns)
        first_line = 1
    else:
        with path.open(encoding=encoding, errors="replace") as fh:
            first = fh.readline().rstrip("\r\n")
        if not first.strip():
            raise RatingsFormatError(f"{path}:1: empty line (expected ratings"
                                     f"{' or a header' if header is not False else ''})")
        sep = sep or _sniff_sep(first)
        head = [h.strip().strip('"') for h in first.split(sep)]
        if header is None:
            header = not all(is_number(h) for h in head[:3] if h)
        if header:
            names = _roles_from_header(head, columns, path)
        elif columns is not None:
            names = [str(c) if c else "" for c in columns]
        else:
            names = list(ROLES[:len(head)]) if len(head) <= 4 else [*ROLES, *[""] * (len(head)
                                                                            - 4)]
        _check_roles(names, tuple(columns) if columns is not None else None)
        first_line = 2 if header else 1
        cols = {}
        for id_dtype in (np.int32, np.int64, str):
            try:
                cols = _read_delimited(path, sep, names, first_line - 1, encoding, id_dtype)
                break
            except OverflowError:
                continue  # ids beyond int32: the next width
            except (ValueError, TypeError, IndexError) as exc:
                problem = _first_bad_line(path, sep, names, first_line, encoding,
                                          string_ids=id_dtype is str)
                if problem is not None:
                    raise RatingsFormatError(problem) from None
                if id_dtype is str:
                    raise RatingsFormatError(f"{path}: cannot parse ({exc})") from None
        if not cols or len(cols["rating"]) == 0:
            raise RatingsFormatError(f"{path}: no ratings in the file")
    ratings = np.asarray(cols["rating"], dtype=np.float32)
    bad = ~np.isfinite(ratings)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        problem = None
        if suffix not in PARQUET_SUFFIXES:  # the line's own words: '' or 'nan'
            problem = _first_bad_line(path, sep or ",", names, first_line + k, encoding, True)
        raise RatingsFormatError(problem or f"{path}:{first_line + k}: the rating is "
                                 f"{float(ratings[k])}, not a finite number")
    if rating_range is not None:
        lo, hi = rating_range
        outside = (ratings < lo) | (ratings > hi)
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            raise RatingsFormatError(
                f"{path}:{first_line + k}: rating {ratings[k]:g} is outside {lo:g}..{hi:g}")
    if scale is not None:
        off = scale.off_scale(ratings)
        if off.any():
            k = int(np.flatnonzero(off)[0])
            raise RatingsFormatError(
                f"{path}:{first_line + k}: rating {ratings[k]:g} is not on the scale "
                f"({scale.describe()})")
    times = cols.get("timestamp")
    return RawRatings(_ids(np.asarray(cols["user"])), _ids(np.asarray(cols["item"])), ratings,
                      None if times is None else np.asarray(times, dtype=np.int64), str(path))
