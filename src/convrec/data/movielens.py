"""MovieLens in its original layouts: registry entries and validating readers.

Releases and their files (GroupLens, https://grouplens.org/datasets/movielens/):

======================  ==========================================  ======================
release                 ratings file (fields)                       movies file
======================  ==========================================  ======================
``ml-100k``             ``u.data`` tab: user item rating time       ``u.item`` ``|`` latin-1
``ml-1m``               ``ratings.dat`` ``::``: same fields         ``movies.dat`` ``::``
``ml-latest-small``,    ``ratings.csv`` with a header:              ``movies.csv``
``ml-20m``, ``ml-25m``, ``userId,movieId,rating,timestamp``
``ml-32m``
======================  ==========================================  ======================

ML-100K also ships the official splits ``u1..u5`` (5 disjoint test folds) and ``ua/ub``
(10 test ratings per user); :func:`read_ml100k_split` reads them.

Every reader reports a malformed line as ``file:line: what is wrong``. Ratings come back as
:class:`RawRatings` with the *original* ids; ``convrec.recsys`` maps them to contiguous indices.

Verification: ML-100K files are checked against the sha256 values below (from a verified
copy). For the other releases no sha256 values are pinned here: :func:`download_release`
checks the zip against the md5 that GroupLens publishes beside it (``<zip>.md5``) when that
file can be fetched, and :func:`check_counts` checks the known record counts after reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data.registry import (
    DatasetEntry,
    DatasetNotFoundError,
    FileSpec,
    locate,
    register,
)
from convrec.settings import Settings, get_settings

__all__ = [
    "ML100K_GENRES",
    "ML100K_SPLITS",
    "RELEASES",
    "MovieLensData",
    "Movies",
    "RatingsFormatError",
    "RawRatings",
    "check_counts",
    "download_release",
    "load_movielens",
    "locate_release",
    "read_ml100k_split",
    "read_movies",
    "read_ratings_file",
]

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
TERMS = (
    "MovieLens data by GroupLens Research (University of Minnesota): research use only, "
    "no redistribution or commercial use without permission, acknowledge use in publications "
    "(F. M. Harper and J. A. Konstan, ACM TiiS 5(4), 2015)."
)

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
ML100K_SPLITS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

_ML100K_SHA256 = {
    "README": "4883b8cf340ed0059971b33f56ad3adc88a40792108ebca3d24aafc4c82e8b52",
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
    "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}

ML100K = register(
    DatasetEntry(
        name="ml-100k",
        folder="ml-100k",
        files=tuple(FileSpec(name, sha) for name, sha in _ML100K_SHA256.items()),
        # The zip's own hash is not pinned (unknown here); every extracted file is checked.
        archive=(GROUPLENS + "ml-100k.zip", None, "ml-100k/"),
        licence=TERMS,
    )
)


@dataclass(frozen=True)
class Release:
    """One MovieLens release other than ML-100K (no pinned sha256; see the module doc)."""

    name: str
    ratings_file: str
    movies_file: str
    n_ratings: int  # known record count, checked after reading (GroupLens READMEs)
    n_users: int


RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("ml-1m", "ratings.dat", "movies.dat", 1_000_209, 6_040),
        Release("ml-latest-small", "ratings.csv", "movies.csv", 100_836, 610),
        Release("ml-20m", "ratings.csv", "movies.csv", 20_000_263, 138_493),
        Release("ml-25m", "ratings.csv", "movies.csv", 25_000_095, 162_541),
        Release("ml-32m", "ratings.csv", "movies.csv", 32_000_204, 200_948),
    )
}


def _no_registry_download(entry: DatasetEntry, target: Path) -> None:
    raise DatasetNotFoundError(
        f"{entry.name} has no pinned sha256 values; download it with "
        f"`convrec movies download {entry.name}` (checks GroupLens's md5) or pass --data-dir"
    )


for _rel in RELEASES.values():
    register(
        DatasetEntry(
            name=_rel.name,
            folder=_rel.name,
            # sha256 unknown ("" never matches): the registry finds local copies of these
            # files; downloads go through download_release(), which checks the md5.
            files=(FileSpec(_rel.ratings_file, ""), FileSpec(_rel.movies_file, "")),
            licence=TERMS,
            fetch=_no_registry_download,
        )
    )


class RatingsFormatError(ValueError):
    """A malformed ratings or movies file; the message is ``file:line: what is wrong``."""


@dataclass(frozen=True)
class RawRatings:
    """Ratings with their original ids, one entry per rating.

    Attributes:
        users: ``(N,)`` original user ids (int64, or str for generic CSV files).
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


@dataclass(frozen=True)
class Movies:
    """Movie metadata: ``ids[k]`` has ``titles[k]``, ``years[k]`` (-1 unknown), ``genres[k]``."""

    ids: NDArray[np.int64]
    titles: tuple[str, ...]
    years: NDArray[np.int64]
    genres: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class MovieLensData:
    """A whole release: all ratings, movie metadata and the folder it was read from."""

    name: str
    ratings: RawRatings
    movies: Movies
    folder: Path


def _first_bad_line(lines: Sequence[str], n_fields: int, sep: str, numeric: Sequence[int],
                    path: Path, first_line: int) -> str | None:
    """Find the first malformed line (slow path, run only after a fast parse failed)."""
    for k, line in enumerate(lines):
        where = f"{path}:{first_line + k}"
        if not line.strip():
            return f"{where}: empty line"
        fields = line.split(sep)
        if len(fields) != n_fields:
            return f"{where}: expected {n_fields} fields separated by {sep!r}, got {len(fields)}"
        for col in numeric:
            try:
                value = float(fields[col])
            except ValueError:
                return f"{where}: field {col + 1} is {fields[col]!r}, not a number"
            if not np.isfinite(value):
                return f"{where}: field {col + 1} is {fields[col]!r}, not a finite number"
    return None


def _ids(column: NDArray[np.generic]) -> NDArray[np.generic]:
    """Integer ids when every id is an integer, else str (fixed width, saves without pickle)."""
    try:
        return column.astype(np.int64)
    except (ValueError, TypeError, OverflowError):
        return column.astype(str)


def read_ratings_file(
    path: str | Path,
    sep: str = "\t",
    columns: Sequence[str | int] = ("user", "item", "rating", "timestamp"),
    header: bool = False,
    encoding: str = "utf-8",
    rating_range: tuple[float, float] | None = None,
) -> RawRatings:
    """Read a delimited ratings file: one rating per line.

    Args:
        path: the file (``u.data``, ``ratings.dat``, ``ratings.csv`` or any CSV).
        sep: field separator (``"\\t"``, ``"::"``, ``","``...).
        columns: the role of each field, in file order: ``"user"``, ``"item"``, ``"rating"``,
            optionally ``"timestamp"``; ``None``/``""`` ignores a field. With ``header=True``
            a mapping can also use header names: ``columns=("userId", "movieId", "rating")``
            picks those named columns in that role order (user, item, rating[, timestamp]).
        header: the first line names the columns (skipped, or used by name as above).
        encoding: text encoding (ML-100K's ``u.item`` is latin-1; ratings files are ASCII).
        rating_range: optional inclusive ``(low, high)``; ratings outside raise.

    Returns:
        :class:`RawRatings` with ``(N,)`` arrays.

    Raises:
        FileNotFoundError: no such file.
        RatingsFormatError: ``file:line: reason`` for the first malformed line.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ratings file not found: {path}")
    text = path.read_text(encoding=encoding)
    lines = text.splitlines()
    first_line = 1
    names: list[str]
    roles = ("user", "item", "rating", "timestamp")
    if header:
        if not lines:
            raise RatingsFormatError(f"{path}:1: empty file, expected a header line")
        head = [h.strip() for h in lines[0].split(sep)]
        lines = lines[1:]
        first_line = 2
        if all(isinstance(c, str) and c in head for c in columns if c):
            picked = [str(c) for c in columns]
            names = [""] * len(head)
            for role, col in zip(roles, picked, strict=False):
                names[head.index(col)] = role
        else:
            names = [str(c) if c else "" for c in columns]
            if len(names) != len(head):
                raise RatingsFormatError(
                    f"{path}:1: header has {len(head)} fields ({', '.join(head)}), columns= "
                    f"names {len(names)}; give one role per field or header names"
                )
    else:
        names = [str(c) if c else "" for c in columns]
    for required in ("user", "item", "rating"):
        if required not in names:
            raise ValueError(
                f"columns must map a field to {required!r}, got columns={tuple(columns)!r}; "
                "allowed roles: user, item, rating, timestamp"
            )
    n_fields = len(names)
    numeric = [k for k, n in enumerate(names) if n in ("rating", "timestamp")]
    if not lines:
        raise RatingsFormatError(f"{path}: no ratings in the file")
    body = "\n".join(lines)
    one_char = sep if len(sep) == 1 else "\x1f"
    if len(sep) > 1:
        body = body.replace(sep, one_char)
    import io

    frame = None
    try:
        frame = pd.read_csv(
            io.StringIO(body), sep=one_char, header=None, dtype=str, skip_blank_lines=False,
            names=list(range(n_fields)), keep_default_na=False, engine="c",
        )
    except Exception:
        frame = None
    problem: str | None = None
    if frame is None or frame.shape[1] != n_fields:
        problem = _first_bad_line(lines, n_fields, sep, numeric, path, first_line)
    else:
        blank = np.array((frame == "").any(axis=1).to_numpy(), dtype=bool)
        parsed: dict[str, NDArray[np.float64]] = {}
        for k in numeric:
            vals = pd.to_numeric(frame[k], errors="coerce").to_numpy(dtype=np.float64)
            parsed[names[k]] = vals
            blank |= ~np.isfinite(vals)
        if blank.any():
            bad = int(np.flatnonzero(blank)[0])
            problem = _first_bad_line(lines[bad:bad + 1], n_fields, sep, numeric, path,
                                      first_line + bad) or f"{path}:{first_line + bad}: bad line"
    if problem is not None or frame is None:
        raise RatingsFormatError(problem or f"{path}: cannot parse")
    ratings = parsed["rating"].astype(np.float32)
    if rating_range is not None:
        lo, hi = rating_range
        outside = (ratings < lo) | (ratings > hi)
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            raise RatingsFormatError(
                f"{path}:{first_line + bad}: rating {ratings[bad]:g} is outside {lo:g}..{hi:g}"
            )
    times = parsed["timestamp"].astype(np.int64) if "timestamp" in parsed else None
    users = _ids(frame[names.index("user")].str.strip().to_numpy())
    items = _ids(frame[names.index("item")].str.strip().to_numpy())
    return RawRatings(users, items, ratings, times, str(path))


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _year(title: str) -> int:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else -1


def read_movies(path: str | Path) -> Movies:
    """Read movie metadata from ``u.item`` (ML-100K), ``movies.dat`` (ML-1M) or ``movies.csv``.

    Raises:
        FileNotFoundError: no such file.
        RatingsFormatError: ``file:line: reason``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"movies file not found: {path}")
    ids: list[int] = []
    titles: list[str] = []
    genres: list[tuple[str, ...]] = []
    name = path.name
    if name == "movies.csv":
        import csv

        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            head = next(reader, None)
            if head is None or [h.strip() for h in head[:3]] != ["movieId", "title", "genres"]:
                raise RatingsFormatError(f"{path}:1: expected header movieId,title,genres")
            for row in reader:
                line_no = reader.line_num
                if len(row) != 3:
                    raise RatingsFormatError(
                        f"{path}:{line_no}: expected 3 fields, got {len(row)}")
                try:
                    ids.append(int(row[0]))
                except ValueError:
                    raise RatingsFormatError(
                        f"{path}:{line_no}: movieId {row[0]!r} is not an integer") from None
                titles.append(row[1].strip())
                g = row[2].strip()
                genres.append(() if g in ("", "(no genres listed)") else tuple(g.split("|")))
    else:
        is_item = name == "u.item"
        sep = "|" if is_item else "::"
        text = path.read_text(encoding="latin-1")
        for k, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split(sep)
            want = 24 if is_item else 3
            if len(fields) != want:
                raise RatingsFormatError(
                    f"{path}:{k}: expected {want} fields separated by {sep!r}, got {len(fields)}"
                )
            try:
                ids.append(int(fields[0]))
            except ValueError:
                raise RatingsFormatError(
                    f"{path}:{k}: movie id {fields[0]!r} is not an integer") from None
            titles.append(fields[1].strip())
            if is_item:
                flags = fields[5:24]
                if any(f not in ("0", "1") for f in flags):
                    raise RatingsFormatError(f"{path}:{k}: genre flags must be 0 or 1")
                genres.append(tuple(g for g, f in zip(ML100K_GENRES, flags, strict=True)
                                    if f == "1"))
            else:
                genres.append(tuple(fields[2].split("|")) if fields[2] else ())
    return Movies(
        ids=np.asarray(ids, dtype=np.int64),
        titles=tuple(titles),
        years=np.asarray([_year(t) for t in titles], dtype=np.int64),
        genres=tuple(genres),
    )


def _ratings_in(folder: Path, name: str) -> RawRatings:
    if name == "ml-100k":
        return read_ratings_file(folder / "u.data", "\t", rating_range=(1, 5))
    rel = RELEASES[name]
    if rel.ratings_file.endswith(".dat"):
        return read_ratings_file(folder / rel.ratings_file, "::", rating_range=(0.5, 5))
    return read_ratings_file(folder / rel.ratings_file, ",",
                             ("userId", "movieId", "rating", "timestamp"), header=True,
                             rating_range=(0.5, 5))


def check_counts(name: str, ratings: RawRatings) -> None:
    """Check the known record counts of a release (the check we can make without sha256).

    Raises:
        RatingsFormatError: the counts differ from GroupLens's README.
    """
    if name == "ml-100k":
        want_n, want_users = 100_000, 943
    elif name in RELEASES:
        want_n, want_users = RELEASES[name].n_ratings, RELEASES[name].n_users
    else:
        return
    got_users = len(np.unique(ratings.users))
    if len(ratings) != want_n or got_users != want_users:
        raise RatingsFormatError(
            f"{ratings.source}: {len(ratings):,} ratings from {got_users:,} users, but {name} "
            f"has {want_n:,} from {want_users:,}; the copy is incomplete or not {name}"
        )


def locate_release(
    name: str, data_dir: Path | str | None = None, settings: Settings | None = None,
    download: bool = True,
) -> Path:
    """The folder of a MovieLens release: local copies first, then a verified download."""
    if name != "ml-100k" and name not in RELEASES:
        known = ", ".join(["ml-100k", *RELEASES])
        raise KeyError(f"unknown MovieLens release {name!r}; known: {known}")
    if name == "ml-100k":
        return locate(name, data_dir=data_dir, settings=settings, download=download)
    try:
        return locate(name, data_dir=data_dir, settings=settings, download=False)
    except DatasetNotFoundError:
        settings = settings or get_settings()
        if data_dir is not None or not download or settings.offline:
            raise
    return download_release(name, settings)


def download_release(name: str, settings: Settings | None = None) -> Path:
    """Download a release zip from GroupLens into the cache and extract it.

    ML-100K goes through the registry (each file's sha256 checked). Other releases are
    checked against GroupLens's published ``<zip>.md5`` when that can be fetched; a warning
    says so when it cannot. Prints the terms of use first.
    """
    import warnings
    import zipfile

    import pooch

    settings = settings or get_settings()
    if settings.offline:
        raise DatasetNotFoundError(f"CONVREC_OFFLINE is set; cannot download {name}")
    print(TERMS)
    if name == "ml-100k":
        return locate("ml-100k", settings=settings, download=True)
    if name not in RELEASES:
        raise KeyError(f"unknown MovieLens release {name!r}; known: ml-100k, {', '.join(RELEASES)}")
    cache = settings.cache_dir / "data"
    cache.mkdir(parents=True, exist_ok=True)
    url = f"{GROUPLENS}{name}.zip"
    known: str | None = None
    try:
        md5_file = pooch.retrieve(url + ".md5", known_hash=None, path=cache)
        digest = Path(md5_file).read_text().split()[0]
        if re.fullmatch(r"[0-9a-f]{32}", digest):
            known = f"md5:{digest}"
    except Exception as exc:
        warnings.warn(f"{name}: no md5 from GroupLens ({exc}); only record counts are checked",
                      stacklevel=2)
    archive = pooch.retrieve(url, known_hash=known, path=cache, progressbar=True)
    target = cache / name
    rel = RELEASES[name]
    with zipfile.ZipFile(archive) as zf:
        for member in (rel.ratings_file, rel.movies_file):
            tmp = target / (member + ".part")
            target.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(zf.read(f"{name}/{member}"))
            tmp.replace(target / member)
    check_counts(name, _ratings_in(target, name))
    return target


def load_movielens(
    name: str = "ml-100k", data_dir: Path | str | None = None, settings: Settings | None = None,
    download: bool = True,
) -> MovieLensData:
    """Locate (or download) a release and read all its ratings and movie metadata."""
    folder = locate_release(name, data_dir=data_dir, settings=settings, download=download)
    movies_file = "u.item" if name == "ml-100k" else RELEASES[name].movies_file
    return MovieLensData(name, _ratings_in(folder, name), read_movies(folder / movies_file),
                         folder)


def read_ml100k_split(folder: str | Path, split: str) -> tuple[RawRatings, RawRatings]:
    """Read an official ML-100K split: ``u1``..``u5`` or ``ua``/``ub`` → ``(base, test)``."""
    if split not in ML100K_SPLITS:
        raise ValueError(f"split must be one of {', '.join(ML100K_SPLITS)}, got split={split!r}")
    folder = Path(folder)
    return (read_ratings_file(folder / f"{split}.base", rating_range=(1, 5)),
            read_ratings_file(folder / f"{split}.test", rating_range=(1, 5)))
