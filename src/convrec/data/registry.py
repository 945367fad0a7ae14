"""The dataset registry: one entry per dataset with everything it needs.

An entry holds the files and their sha256 values (or the archive and its published checksum,
with where that checksum comes from), the mirrors, the local-folder layout, and for rating
datasets the ratings layout (file, separator, header), the rating scale, the movies file and
the expected record counts, plus the terms of use. Adding a MovieLens release or another IDX
dataset is one :func:`register` call; every reader and face reads these entries.

The library never prints the terms: the faces (``convrec movies download``, the studio) show
:attr:`DatasetEntry.licence`.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convrec.settings import Settings, resolve_settings

__all__ = [
    "REGISTRY",
    "DatasetEntry",
    "DatasetNotFoundError",
    "FileSpec",
    "RatingScale",
    "RatingsLayout",
    "locate",
    "register",
    "sha256_of",
]


class DatasetNotFoundError(FileNotFoundError):
    """No local copy and no way to download; the message says which flag or variable fixes it."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset as it lies in the local folder, with its sha256 (``""``: none
    pinned; the archive's published checksum and the record counts check it instead)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class RatingScale:
    """The ratings a dataset allows: ``low..high`` in steps of ``step`` (ML-100K: 1..5 by 1;
    the later MovieLens releases: half stars 0.5..5)."""

    low: float
    high: float
    step: float

    @classmethod
    def of(cls, values: NDArray[np.floating[Any]]) -> RatingScale:
        """The scale a ratings file keeps to: its lowest and highest value, in the coarsest
        of the usual steps (1, 0.5, 0.25, 0.1, 0.01) that every value sits on, else the
        smallest gap between two values (a ``(N,)`` array of at least one rating)."""
        v = np.unique(np.asarray(values, dtype=np.float64))
        low, high = float(v[0]), float(v[-1])
        for step in (1.0, 0.5, 0.25, 0.1, 0.01):
            steps = (v - low) / step
            if bool(np.all(np.abs(steps - np.round(steps)) <= 1e-6)):
                return cls(low, high, step)
        return cls(low, high, float(np.min(np.diff(v))))

    def describe(self) -> str:
        """``"integers 1-5"`` or ``"half stars 0.5-5"``: the words every face uses."""
        if self.step == 1:
            return f"integers {self.low:g}-{self.high:g}"
        if self.step == 0.5:
            return f"half stars {self.low:g}-{self.high:g}"
        return f"{self.low:g}-{self.high:g} in steps of {self.step:g}"

    def off_scale(self, values: NDArray[np.floating[Any]]) -> NDArray[np.bool_]:
        """``(N,)`` True where a value is outside the range or between two steps."""
        v = np.asarray(values, dtype=np.float64)
        steps = (v - self.low) / self.step
        return ~np.isfinite(v) | (v < self.low) | (v > self.high) | (
            np.abs(steps - np.round(steps)) > 1e-6)

    def check(self, value: object, what: str = "rating") -> float:
        """``value`` as a float when it is on the scale, else ``ValueError`` in one line
        naming ``what``, the value and the allowed values. Booleans and strings are refused
        (no coercion of ``"3"`` or ``True``)."""
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer
                                                      | np.floating):
            raise ValueError(f"{what} must be a number ({self.describe()}), got {value!r}")
        v = float(value)
        if bool(self.off_scale(np.array([v]))[0]):
            raise ValueError(f"{what} must be one of {self.describe()}, got {value!r}")
        return v


@dataclass(frozen=True)
class RatingsLayout:
    """How a rating dataset lies on disk and what it holds.

    Attributes:
        ratings_file: e.g. ``"u.data"``, ``"ratings.dat"``, ``"ratings.csv"``.
        sep: ``"\t"``, ``"::"`` or ``","``.
        header: whether the ratings file starts with a header line.
        movies_file: ``"u.item"`` (``|``), ``"movies.dat"`` (``::``) or ``"movies.csv"``.
        scale: the rating scale every rating is checked against.
        n_ratings, n_users, n_movies: the record counts GroupLens publishes (ratings, users
            with a rating, movies in the movies file); None where the release changes.
        counts_source: where the counts come from.
    """

    ratings_file: str
    sep: str
    header: bool
    movies_file: str
    scale: RatingScale
    n_ratings: int | None = None
    n_users: int | None = None
    n_movies: int | None = None
    counts_source: str = ""


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry.

    Attributes:
        name: registry key, e.g. ``"mnist"``, ``"ml-25m"``.
        folder: folder name under a data dir (the original layout), e.g. ``"mnist"``.
        files: every required file with its sha256 (``""`` where none is pinned).
        urls: mirrors, each a base URL the file names are appended to (tried in order), or
            ``archive`` below.
        archive: optional ``(url, checksum or None, member_prefix)`` for datasets shipped as
            one zip; the checksum is ``"md5:..."``/``"sha256:..."``; the listed files are
            extracted from ``member_prefix``.
        checksum_source: where the archive's checksum comes from (or why there is none).
        licence: the terms of use, shown by the faces before a download.
        fetch: optional custom downloader ``(entry, target_dir) -> None``.
        ratings: the ratings layout, scale and counts (rating datasets only).
        description: one line for listings.
    """

    name: str
    folder: str
    files: tuple[FileSpec, ...]
    urls: tuple[str, ...] = ()
    archive: tuple[str, str | None, str] | None = None
    licence: str = ""
    fetch: Callable[[DatasetEntry, Path], None] | None = field(default=None, compare=False)
    checksum_source: str = ""
    ratings: RatingsLayout | None = None
    description: str = ""


REGISTRY: dict[str, DatasetEntry] = {}


def register(entry: DatasetEntry) -> DatasetEntry:
    """Add (or replace) a dataset entry; returns it for module-level use."""
    REGISTRY[entry.name] = entry
    return entry


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file (``algorithm``: any name :func:`hashlib.new` takes, e.g.
    ``"sha256"`` or ``"md5"``), read in chunks by :func:`hashlib.file_digest`."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def sha256_of(path: Path) -> str:
    """The sha256 of a file."""
    return file_digest(path, "sha256")


def _complete(folder: Path, entry: DatasetEntry) -> bool:
    return folder.is_dir() and all((folder / f.name).is_file() for f in entry.files)


def _check_files(entry: DatasetEntry, target: Path) -> None:
    for spec in entry.files:
        if not spec.sha256:
            continue  # none pinned: the archive checksum (and the record counts) vouch for it
        got = sha256_of(target / spec.name)
        if got != spec.sha256:
            (target / spec.name).unlink()
            raise DatasetNotFoundError(
                f"{entry.name}: {spec.name} has sha256 {got}, expected {spec.sha256}; "
                "the file was removed, download it again"
            )


def _extract(entry: DatasetEntry, archive: Path, target: Path) -> None:
    """Extract the entry's files from its zip into ``target`` (each written atomically)."""
    assert entry.archive is not None
    prefix = entry.archive[2]
    target.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = set(zf.namelist())
            for spec in entry.files:
                member = f"{prefix}{spec.name}"
                if member not in members:
                    raise DatasetNotFoundError(
                        f"{archive} has no {member}: it is not the {entry.name} zip "
                        f"(expected {entry.archive[0].rsplit('/', 1)[-1]})")
                tmp = target / (spec.name + ".part")
                with zf.open(member) as src, tmp.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                tmp.replace(target / spec.name)
    except zipfile.BadZipFile as exc:
        raise DatasetNotFoundError(f"{archive} is not a readable zip ({exc}); download "
                                   f"{entry.archive[0]} again") from None
    _check_files(entry, target)


def _published_md5(url: str, cache: Path) -> str | None:
    """GroupLens publishes ``<zip>.md5`` beside each zip: the checksum for entries that pin
    none (the ml-latest releases change over time)."""
    import warnings

    import pooch

    try:
        md5_file = pooch.retrieve(url + ".md5", known_hash=None, path=cache)
        words = Path(md5_file).read_text().split()
        digest = next((w for w in reversed(words) if re.fullmatch(r"[0-9a-f]{32}", w)), None)
        if digest:
            return f"md5:{digest}"
    except Exception as exc:  # the zip is still checked by its record counts
        warnings.warn(f"{url}.md5 could not be fetched ({exc}); only the record counts are "
                      "checked", stacklevel=3)
    return None


def _download(entry: DatasetEntry, target: Path) -> None:
    import pooch

    target.mkdir(parents=True, exist_ok=True)
    if entry.fetch is not None:
        entry.fetch(entry, target)
    elif entry.archive is not None:
        url, known, _ = entry.archive
        known = known or _published_md5(url, target.parent)
        archive = pooch.retrieve(url, known_hash=known, path=target.parent, progressbar=True)
        _extract(entry, Path(archive), target)
        return
    else:
        errors: list[str] = []
        for spec in entry.files:
            for base in entry.urls:
                try:
                    pooch.retrieve(
                        base + spec.name,
                        known_hash=f"sha256:{spec.sha256}",
                        fname=spec.name,
                        path=target,
                        progressbar=True,
                    )
                    break
                except Exception as exc:
                    errors.append(f"{base}{spec.name}: {exc}")
            else:
                raise DatasetNotFoundError(
                    f"could not download {entry.name} file {spec.name}: " + "; ".join(errors)
                )
    _check_files(entry, target)


def _from_zip(entry: DatasetEntry, archive: Path, settings: Settings) -> Path:
    """A dataset given as its zip (``--data-dir ml-25m.zip``): checked against the pinned
    checksum, extracted once into the cache (reused while the zip is unchanged)."""
    if entry.archive is None:
        raise DatasetNotFoundError(f"--data-dir {archive}: {entry.name} is not shipped as a zip; "
                                   f"pass the folder holding {entry.folder}/")
    known = entry.archive[1]
    stat = archive.stat()
    stamp = f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    target = settings.cache_dir / "data" / "from-zip" / entry.folder
    marker = target / ".source"
    if _complete(target, entry) and marker.is_file() and marker.read_text() == stamp:
        return target
    if known:
        algorithm, _, want = known.partition(":")
        got = file_digest(archive, algorithm)
        if got != want:
            raise DatasetNotFoundError(
                f"--data-dir {archive}: {known.partition(':')[0]} {got}, but {entry.name}'s "
                f"published value is {known.partition(':')[2]} ({entry.checksum_source}); the "
                f"zip is damaged or another release: download {entry.archive[0]} again")
    _extract(entry, archive, target)
    marker.write_text(stamp)
    return target


def _folders(entry: DatasetEntry, root: Path) -> list[Path]:
    """Where ``entry`` may lie under ``root``: ``root/<folder>``, ``root/<zip prefix>``
    (ML-10M unzips to ``ml-10M100K/``), or ``root`` itself."""
    out = [root / entry.folder]
    prefix = entry.archive[2].strip("/") if entry.archive is not None else ""
    if prefix and prefix != entry.folder:
        out.append(root / prefix)
    out.append(root)
    return out


def searched_folders(entry: DatasetEntry, settings: Settings) -> tuple[list[Path], str]:
    """Where :func:`locate` looks for ``entry`` when no ``--data-dir`` was given, in order
    (``CONVREC_DATA``'s folders, then the cache's), and the words that say so in a message:
    each folder with where it came from."""
    candidates: list[Path] = []
    if settings.data_dir is not None:
        local = _folders(entry, settings.data_dir)[:-1]
        candidates += local
        where = (f"{settings.describe_data_dir()} has no complete {entry.folder}/ folder "
                 f"(looked in {', '.join(map(str, local))})")
    else:
        where = "neither --data-dir nor CONVREC_DATA is set"
    cache_folder = settings.cache_dir / "data" / entry.folder
    candidates.append(cache_folder)
    return candidates, f"{where}, and the cache has none ({cache_folder})"


def locate(
    name: str,
    data_dir: Path | str | None = None,
    settings: Settings | None = None,
    download: bool = True,
) -> Path:
    """The folder holding dataset ``name`` in its original layout, downloading if needed.

    The data folder comes from ``settings`` (``--data-dir`` or ``CONVREC_DATA``); ``data_dir``
    is a notebook's shortcut for ``--data-dir`` (folded into the settings first, see
    :func:`convrec.settings.resolve_settings`). An explicit ``--data-dir`` may be a folder
    holding ``<folder>/``, the dataset's own folder, or the dataset's zip as published
    (extracted into the cache after its checksum is checked), and is never left for a
    download; ``CONVREC_DATA`` is searched before the cache.

    Raises:
        KeyError: unknown dataset name (lists the known ones).
        DatasetNotFoundError: nothing local and offline (or the download failed); the message
            says which folders were searched, where each came from (``--data-dir``,
            ``CONVREC_DATA``, the cache), and the fix.
    """
    if name not in REGISTRY and name.startswith("ml-"):
        import convrec.data.movielens  # noqa: F401 - registers the releases
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[name]
    settings = resolve_settings(settings, data_dir)
    root = settings.explicit_data_dir
    if root is not None:
        if root.is_file() and root.suffix.lower() == ".zip":
            return _from_zip(entry, root, settings)
        if not root.exists():
            raise DatasetNotFoundError(
                f"--data-dir {root} does not exist. Fix: pass a folder holding "
                f"{entry.folder}/ (or the {entry.name} zip)")
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"--data-dir {root} is a file, not a folder or a .zip. Fix: pass a folder "
                f"holding {entry.folder}/ (or the {entry.name} zip)")
        looked = _folders(entry, root)
        for folder in looked:
            if _complete(folder, entry):
                return folder
        missing = [f.name for f in entry.files if not (root / entry.folder / f.name).is_file()]
        more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
        raise DatasetNotFoundError(
            f"--data-dir {root} has no complete {entry.folder}/ folder (looked in "
            f"{', '.join(map(str, looked))}; missing: {', '.join(missing[:6])}{more}). Fix: "
            f"pass the folder holding {entry.folder}/" + (" (or the zip)" if entry.archive else "")
        )
    candidates, where = searched_folders(entry, settings)
    for folder in candidates:
        if _complete(folder, entry):
            return folder
    cache_folder = candidates[-1]
    if not download or settings.offline:
        why = "CONVREC_OFFLINE is set" if settings.offline else "downloads are off here"
        local = (f"put {entry.folder}/ into {settings.data_dir}, pass --data-dir DIR"
                 if settings.data_dir is not None else
                 "pass --data-dir DIR or set CONVREC_DATA=DIR")
        raise DatasetNotFoundError(
            f"dataset {name!r} not found locally: {where}; {why}. Fix: {local} (a folder "
            f"holding {entry.folder}/, or the zip), or run `convrec movies download {name}` "
            "while online."
            if entry.ratings is not None else
            f"dataset {name!r} not found locally: {where}; {why}. Fix: {local} (a folder "
            f"holding {entry.folder}/), or unset CONVREC_OFFLINE: any convrec command then "
            "downloads it (sha256 checked)."
        )
    try:
        _download(entry, cache_folder)
    except DatasetNotFoundError:
        raise
    except Exception as exc:  # requests/pooch errors: one line with the offline fix
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise DatasetNotFoundError(
            f"could not download {name} ({type(exc).__name__}: {first}); before that, "
            f"{where}. Fix: check the network, or work offline with --data-dir DIR (a folder "
            f"holding {entry.folder}/) or CONVREC_DATA=DIR") from None
    return cache_folder
