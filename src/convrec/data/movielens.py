"""MovieLens in its original layouts: one registry entry per release, and the readers.

Every release (GroupLens, https://grouplens.org/datasets/movielens/) is one
:class:`~convrec.data.registry.DatasetEntry` below: its zip URL and published checksum (with
the source named), the zip's folder prefix, the ratings layout (``u.data`` tab,
``ratings.dat`` ``::``, ``ratings.csv`` with a header), the rating scale, the movies file, the
expected counts and the terms. :func:`load_movielens` reads any of them by name through the
one ratings reader (:func:`convrec.data.ratings.read_ratings_file`).

ML-100K also ships the official splits ``u1..u5`` (5 disjoint test folds) and ``ua/ub``
(10 test ratings per user); :func:`read_ml100k_split` reads them.

Checksums. ML-100K's files are pinned by sha256 (from a verified copy). The zips of ML-100K,
ML-1M, ML-10M, ML-20M and ML-25M are pinned by the md5 that GroupLens publishes beside each
zip (``<zip>.md5``). ``ml-latest`` and ``ml-latest-small`` change when GroupLens regenerates
them and ML-32M's published md5 could not be read here, so no value is pinned for those: the
``.md5`` file is fetched at download time and the record counts are checked after reading.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from convrec.data.ratings import RatingsFormatError, RawRatings, read_ratings_file
from convrec.data.registry import (
    REGISTRY,
    DatasetEntry,
    FileSpec,
    RatingScale,
    RatingsLayout,
    locate,
    register,
)
from convrec.settings import Settings, resolve_settings

__all__ = [
    "DEFAULT_RELEASE",
    "GROUPLENS",
    "HALF_STARS",
    "INTEGER_STARS",
    "ML100K_GENRES",
    "ML100K_SPLITS",
    "TERMS",
    "MovieLensData",
    "Movies",
    "RatingsFormatError",
    "RawRatings",
    "check_counts",
    "download_release",
    "load_movielens",
    "load_movielens_movies",
    "locate_release",
    "read_ml100k_split",
    "read_movies",
    "read_ratings_file",
    "release",
    "releases",
]

GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
#: the release every face uses when none is named (the one the project ships tests for)
DEFAULT_RELEASE = "ml-100k"
TERMS = (
    "MovieLens data by GroupLens Research (University of Minnesota): research use only, "
    "no redistribution or commercial use without permission, acknowledge use in publications "
    "(F. M. Harper and J. A. Konstan, ACM TiiS 5(4), 2015)."
)
#: ML-100K and ML-1M: whole stars; ML-10M and later: half stars
INTEGER_STARS = RatingScale(1.0, 5.0, 1.0)
HALF_STARS = RatingScale(0.5, 5.0, 0.5)

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

_MD5_SOURCE = ("GroupLens's published {zip}.md5 ({url}.md5), as quoted by "
               "github.com/eli-osherovich/papers_with_code datasets/movielens/dl_config.py")
_NO_MD5 = ("none pinned: {why}; the {zip}.md5 that GroupLens publishes is fetched at download "
           "time and the record counts are checked after reading")
_README = "the release's README on grouplens.org"


def _release(name: str, prefix: str, md5: str | None, layout: RatingsLayout,
             description: str, why_no_md5: str = "") -> DatasetEntry:
    url = f"{GROUPLENS}{name}.zip"
    zip_name = f"{name}.zip"
    files = ((FileSpec(n, sha) for n, sha in _ML100K_SHA256.items()) if name == "ml-100k"
             else (FileSpec(layout.ratings_file, ""), FileSpec(layout.movies_file, "")))
    return register(DatasetEntry(
        name=name, folder=name, files=tuple(files),
        archive=(url, f"md5:{md5}" if md5 else None, prefix),
        checksum_source=(_MD5_SOURCE.format(zip=zip_name, url=url) if md5
                         else _NO_MD5.format(why=why_no_md5, zip=zip_name)),
        licence=TERMS, ratings=layout, description=description,
    ))


def _csv(n_ratings: int | None = None, n_users: int | None = None, n_movies: int | None = None,
         counts_source: str = _README) -> RatingsLayout:
    """ML-20M and later: ``ratings.csv`` with a header, half stars."""
    return RatingsLayout("ratings.csv", ",", True, "movies.csv", HALF_STARS, n_ratings,
                         n_users, n_movies, counts_source)


def _dat(scale: RatingScale, n_ratings: int, n_users: int, n_movies: int) -> RatingsLayout:
    """ML-1M and ML-10M: ``ratings.dat`` and ``movies.dat`` separated by ``::``."""
    return RatingsLayout("ratings.dat", "::", False, "movies.dat", scale, n_ratings, n_users,
                         n_movies, _README)


ML100K = _release("ml-100k", "ml-100k/", "0e33842e24a9c977be4e0107933c0723", RatingsLayout(
    "u.data", "\t", False, "u.item", INTEGER_STARS, 100_000, 943, 1_682, _README),
    "100,000 ratings (1-5) from 943 users on 1,682 movies, 1998")
_release("ml-1m", "ml-1m/", "c4d9eecfca2ab87c1945afe126590906",
         _dat(INTEGER_STARS, 1_000_209, 6_040, 3_883),
         "1,000,209 ratings (1-5) from 6,040 users, 2003")
_release("ml-10m", "ml-10M100K/", "ce571fd55effeba0271552578f2648bd",
         _dat(HALF_STARS, 10_000_054, 69_878, 10_681),
         "10,000,054 half-star ratings from 69,878 users, 2009")
_release("ml-20m", "ml-20m/", "cd245b17a1ae2cc31bb14903e1204af3",
         _csv(20_000_263, 138_493, 27_278),
         "20,000,263 half-star ratings from 138,493 users, 2015")
_release("ml-25m", "ml-25m/", "6b51fb2759a8657d3bfcbfc42b592ada",
         _csv(25_000_095, 162_541, 62_423),
         "25,000,095 half-star ratings from 162,541 users, 2019")
_release("ml-32m", "ml-32m/", None, _csv(32_000_204, 200_948, 87_585),
         "32,000,204 half-star ratings from 200,948 users, 2023",
         why_no_md5="no published value could be read while this entry was written")
_release("ml-latest-small", "ml-latest-small/", None, _csv(
    100_836, 610, 9_742, "the README of the 2018-09 snapshot (the release changes over time)"),
    "about 100,000 half-star ratings from 610 users (changes over time)",
    why_no_md5="the release is regenerated over time, so no fixed value exists")
_release("ml-latest", "ml-latest/", None, _csv(),
         "the full latest release (changes over time; about 33M ratings)",
         why_no_md5="the release is regenerated over time, so no fixed value exists")


def releases() -> tuple[str, ...]:
    """Every MovieLens release by name, in registry order (for help texts and listings)."""
    return tuple(name for name, e in REGISTRY.items() if e.ratings is not None)


def release(name: str) -> DatasetEntry:
    """The registry entry of a MovieLens release (``KeyError`` listing the known ones)."""
    entry = REGISTRY.get(name)
    if entry is None or entry.ratings is None:
        raise KeyError(f"unknown MovieLens release {name!r}; known: {', '.join(releases())}")
    return entry


@dataclass(frozen=True)
class Movies:
    """Movie metadata: ``ids[k]`` has ``titles[k]``, ``years[k]`` (-1 unknown), ``genres[k]``."""

    ids: NDArray[np.int64]
    titles: tuple[str, ...]
    years: NDArray[np.int64]
    genres: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def fingerprint(self) -> str:
        """16 hex digits of the sha256 of the ids and titles: a model file stores it, so that
        a model is never shown with another release's titles."""
        digest = hashlib.sha256(np.ascontiguousarray(self.ids, dtype=np.int64).tobytes())
        for title in self.titles:
            digest.update(title.encode("utf-8") + b"\x00")
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class MovieLensData:
    """A whole release: all ratings, movie metadata and the folder it was read from."""

    name: str
    ratings: RawRatings
    movies: Movies
    folder: Path


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _year(title: str) -> int:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else -1


def _movie_id(text: str, where: str, field: str) -> int:
    """A movie id field as an int, or the reader's one line naming ``file:line`` and the field."""
    try:
        return int(text)
    except ValueError:
        raise RatingsFormatError(f"{where}: {field} {text!r} is not an integer") from None


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
                where = f"{path}:{reader.line_num}"
                if len(row) != 3:
                    raise RatingsFormatError(f"{where}: expected 3 fields, got {len(row)}")
                ids.append(_movie_id(row[0], where, "movieId"))
                titles.append(row[1].strip())
                g = row[2].strip()
                genres.append(() if g in ("", "(no genres listed)") else tuple(g.split("|")))
    else:
        is_item = name == "u.item"
        sep = "|" if is_item else "::"
        raw = path.read_bytes()
        try:  # ML-100K and ML-1M are latin-1, later .dat files UTF-8
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        for k, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split(sep)
            want = 24 if is_item else 3
            if len(fields) != want:
                raise RatingsFormatError(
                    f"{path}:{k}: expected {want} fields separated by {sep!r}, got {len(fields)}"
                )
            ids.append(_movie_id(fields[0], f"{path}:{k}", "movie id"))
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
    layout = release(name).ratings
    assert layout is not None
    return read_ratings_file(folder / layout.ratings_file, layout.sep,
                             header=layout.header, scale=layout.scale)


def check_counts(name: str, ratings: RawRatings) -> None:
    """Check the published record counts of a release (where its sha256 is not pinned, the
    check that a copy is whole).

    Raises:
        RatingsFormatError: the counts differ from the registry entry's.
    """
    layout = release(name).ratings
    assert layout is not None
    if layout.n_ratings is None or layout.n_users is None:
        return  # a release that changes over time: nothing fixed to check
    got_users = len(np.unique(ratings.users))
    if len(ratings) != layout.n_ratings or got_users != layout.n_users:
        raise RatingsFormatError(
            f"{ratings.source}: {len(ratings):,} ratings from {got_users:,} users, but {name} "
            f"has {layout.n_ratings:,} from {layout.n_users:,} ({layout.counts_source}); the "
            f"copy is incomplete or not {name}"
        )


def locate_release(name: str, settings: Settings, download: bool = True) -> Path:
    """The folder of a MovieLens release: ``--data-dir`` (a folder or the zip), else
    ``CONVREC_DATA``, the cache, then a verified download (see
    :func:`convrec.data.registry.locate`)."""
    release(name)
    return locate(name, settings=settings, download=download)


def download_release(name: str, settings: Settings | None = None) -> MovieLensData:
    """Download a release zip from GroupLens into the cache (checked against its published
    checksum), extract it, check its record counts, and return what was read for the check.
    The terms of use are the entry's ``licence``: the faces show them, the library never
    prints.

    Returns:
        :class:`MovieLensData`: ``(N,)`` ratings with original ids, the movies, the folder.

    Raises:
        DatasetNotFoundError: offline, or the download failed (one line with the fix).
        RatingsFormatError: the copy's record counts are not the release's.
    """
    data = load_movielens(name, settings=settings, download=True)
    check_counts(name, data.ratings)  # the ratings read once serve the check and the caller
    return data


def load_movielens(
    name: str = "ml-100k", data_dir: Path | str | None = None, settings: Settings | None = None,
    download: bool = True,
) -> MovieLensData:
    """Locate (or download) a release and read all its ratings and movie metadata.

    Args:
        name: a release (:func:`releases`): ``ml-100k``, ``ml-1m``, ..., ``ml-latest``.
        data_dir: a folder holding ``<name>/``, the release's own folder, or its zip (as
            ``--data-dir``: a shortcut folded into ``settings``).
        settings: where ``--data-dir``/``CONVREC_DATA`` and the cache are.
        download: allow a verified download when nothing is local.

    Returns:
        :class:`MovieLensData`: ``(N,)`` ratings with original ids, and the movies.
    """
    entry = release(name)
    assert entry.ratings is not None
    folder = locate_release(name, resolve_settings(settings, data_dir), download=download)
    return MovieLensData(name, _ratings_in(folder, name),
                         read_movies(folder / entry.ratings.movies_file), folder)


def load_movielens_movies(
    name: str = "ml-100k", settings: Settings | None = None, download: bool = True,
) -> tuple[Movies, Path]:
    """A release's movie metadata only (no ratings read) and the folder it came from:
    what titles, search and a model file's catalogue check need (``u.data`` alone is
    0.75 s of a fresh ``convrec movies rate``)."""
    entry = release(name)
    assert entry.ratings is not None
    folder = locate_release(name, resolve_settings(settings, None), download=download)
    return read_movies(folder / entry.ratings.movies_file), folder


def read_ml100k_split(folder: str | Path, split: str) -> tuple[RawRatings, RawRatings]:
    """Read an official ML-100K split: ``u1``..``u5`` or ``ua``/``ub`` → ``(base, test)``."""
    if split not in ML100K_SPLITS:
        raise ValueError(f"split must be one of {', '.join(ML100K_SPLITS)}, got split={split!r}")
    folder = Path(folder)
    return (read_ratings_file(folder / f"{split}.base", "\t", header=False, scale=INTEGER_STARS),
            read_ratings_file(folder / f"{split}.test", "\t", header=False, scale=INTEGER_STARS))
