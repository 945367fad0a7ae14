"""The dataset registry: files, sha256 values, mirrors and the local-folder layout."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from convrec.settings import Settings, get_settings

__all__ = [
    "REGISTRY",
    "DatasetEntry",
    "DatasetNotFoundError",
    "FileSpec",
    "locate",
    "register",
    "sha256_of",
]


class DatasetNotFoundError(FileNotFoundError):
    """No local copy and no way to download; the message says which flag or variable fixes it."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset as it lies in the local folder, with its sha256."""

    name: str
    sha256: str


@dataclass(frozen=True)
class DatasetEntry:
    """A registry entry.

    Attributes:
        name: registry key, e.g. ``"mnist"``.
        folder: folder name under a data dir (the original layout), e.g. ``"mnist"``.
        files: every required file with its sha256.
        urls: mirrors, each a base URL the file names are appended to (tried in order), or
            ``archive`` below.
        archive: optional ``(url, sha256 or None, member_prefix)`` for datasets shipped as one
            zip; extracted files are still checked against ``files``.
        licence: one line shown to users before a download (terms of use).
        fetch: optional custom downloader ``(entry, target_dir) -> None``.
    """

    name: str
    folder: str
    files: tuple[FileSpec, ...]
    urls: tuple[str, ...] = ()
    archive: tuple[str, str | None, str] | None = None
    licence: str = ""
    fetch: Callable[[DatasetEntry, Path], None] | None = field(default=None, compare=False)


REGISTRY: dict[str, DatasetEntry] = {}


def register(entry: DatasetEntry) -> DatasetEntry:
    """Add (or replace) a dataset entry; returns it for module-level use."""
    REGISTRY[entry.name] = entry
    return entry


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _complete(folder: Path, entry: DatasetEntry) -> bool:
    return folder.is_dir() and all((folder / f.name).is_file() for f in entry.files)


def _download(entry: DatasetEntry, target: Path) -> None:
    import pooch

    target.mkdir(parents=True, exist_ok=True)
    if entry.fetch is not None:
        entry.fetch(entry, target)
    elif entry.archive is not None:
        import zipfile

        url, known, prefix = entry.archive
        archive = pooch.retrieve(url, known_hash=known, path=target.parent, progressbar=True)
        with zipfile.ZipFile(archive) as zf:
            for spec in entry.files:
                member = f"{prefix}{spec.name}"
                (target / spec.name).write_bytes(zf.read(member))
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
    for spec in entry.files:
        got = sha256_of(target / spec.name)
        if got != spec.sha256:
            (target / spec.name).unlink()
            raise DatasetNotFoundError(
                f"{entry.name}: {spec.name} has sha256 {got}, expected {spec.sha256}; "
                "the download was removed, try again"
            )


def locate(
    name: str,
    data_dir: Path | str | None = None,
    settings: Settings | None = None,
    download: bool = True,
) -> Path:
    """The folder holding dataset ``name`` in its original layout, downloading if needed.

    Raises:
        KeyError: unknown dataset name (lists the known ones).
        DatasetNotFoundError: nothing local and offline (or the download failed); the message
            names ``--data-dir``, ``CONVREC_DATA`` and the download command.
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}")
    entry = REGISTRY[name]
    settings = settings or get_settings()
    candidates: list[Path] = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        candidates += [root / entry.folder, root]
    if settings.data_dir is not None:
        candidates.append(settings.data_dir / entry.folder)
    cache_folder = settings.cache_dir / "data" / entry.folder
    candidates.append(cache_folder)
    for folder in candidates:
        if _complete(folder, entry):
            return folder
    if data_dir is not None:
        missing = [
            f.name for f in entry.files if not (Path(data_dir) / entry.folder / f.name).is_file()
        ]
        raise DatasetNotFoundError(
            f"--data-dir {data_dir} has no complete {entry.folder}/ folder (missing: "
            f"{', '.join(missing)})"
        )
    if not download or settings.offline:
        raise DatasetNotFoundError(
            f"dataset {name!r} not found locally. Fix: pass --data-dir DIR (a folder holding "
            f"{entry.folder}/), set CONVREC_DATA=DIR, or run `convrec data download {name}` "
            "while online."
        )
    _download(entry, cache_folder)
    return cache_folder
