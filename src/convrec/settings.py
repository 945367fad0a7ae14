"""One settings object for every face of convrec, read from the environment in one place.

:func:`get_settings` is the only place where the environment is read and where flags
override it: a command passes its flags (``get_settings(data_dir=..., port=...)``) and hands
the resulting :class:`Settings` down; nothing below reads ``os.environ`` for these again.

Environment variables:
    CONVREC_DATA       a local folder holding datasets in their original layout
                       (``mnist/``, ``ml-100k/``, ...); checked before any download.
                       ``--data-dir`` overrides it.
    CONVREC_CACHE      where downloads, trained models and the default database live
                       (default ``$XDG_CACHE_HOME/convrec`` or ``~/.cache/convrec``).
    CONVREC_OFFLINE    ``1`` to never download (use local folders and embedded defaults).
    CONVREC_THREADS    torch threads for training (default: the CPUs this process may use
                       less those the load average says are busy).
    CONVREC_DEBUG      ``1`` for full tracebacks from the CLI (read by ``cli/common.py``).
    CONVREC_DATASET    the MovieLens release the studio and its API serve (default
                       ``ml-100k``; ``--dataset`` overrides it).
    DATABASE_URL       SQLAlchemy URL for the studio (default: SQLite in the cache folder).
    CONVREC_HOST, CONVREC_PORT   the studio's bind address (default 127.0.0.1:8000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["DataDirOrigin", "Limits", "Settings", "get_settings", "resolve_settings"]

DataDirOrigin = Literal["--data-dir", "CONVREC_DATA"]
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Limits:
    """Request limits of the studio and CLI (why: keep one request from eating the machine)."""

    max_upload_bytes: int = 5_000_000  # a phone photo fits; a decompression bomb does not
    max_image_pixels: int = 25_000_000  # same order as Pillow's bomb guard (89M), stricter
    max_kernel_size: int = 31  # larger kernels belong to FFT convolution, not a playground
    max_batch: int = 256
    # one web request's convolution work: 10^8 multiply-adds take about 0.1 s on one core
    max_multiply_adds: int = 10**8


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convrec"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings`; override per call with flags.

    Attributes:
        data_dir: the folder of local datasets, from ``--data-dir`` or ``CONVREC_DATA``.
        data_dir_origin: which of the two gave ``data_dir`` (``None`` when neither did), so
            that a "not found" message names what was searched, and an explicit
            ``--data-dir`` is never left for a download.
        cache_dir: downloads, trained models, the default database.
        offline: never download.
        database_url: the studio's database (``None``: SQLite in ``cache_dir``).
        host, port: the studio's bind address.
        limits: per-request limits.
        dataset: the MovieLens release the studio serves (``None``: the default release,
            ML-100K), from ``--dataset`` or ``CONVREC_DATASET``.
    """

    data_dir: Path | None = None
    cache_dir: Path = field(default_factory=_default_cache)
    offline: bool = False
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    limits: Limits = field(default_factory=Limits)
    data_dir_origin: DataDirOrigin | None = None
    dataset: str | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.cache_dir / 'studio.sqlite3'}"

    @property
    def explicit_data_dir(self) -> Path | None:
        """``data_dir`` when the user named it with ``--data-dir`` (never left for a download)."""
        return self.data_dir if self.data_dir_origin == "--data-dir" else None

    def describe_data_dir(self) -> str:
        """Where local datasets were searched, for messages: ``CONVREC_DATA=/data`` or
        ``--data-dir /data``, or a sentence saying that neither is set."""
        if self.data_dir is None:
            return "no local data folder (neither --data-dir nor CONVREC_DATA is set)"
        if self.data_dir_origin is None:  # built in code, not from the user
            return f"the data folder {self.data_dir}"
        if self.data_dir_origin == "CONVREC_DATA":
            return f"CONVREC_DATA={self.data_dir}"
        return f"--data-dir {self.data_dir}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored.

        A ``data_dir`` given here is the user's ``--data-dir`` unless ``data_dir_origin``
        says otherwise.
        """
        kept = {k: v for k, v in changes.items() if v is not None}
        if "data_dir" in kept:
            kept["data_dir"] = Path(kept["data_dir"]).expanduser()
            kept.setdefault("data_dir_origin", "--data-dir")
        return replace(self, **kept) if kept else self


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise ValueError(
            f"CONVREC_PORT must be a port number from 1 to 65535, got {text!r}. Fix: "
            "export CONVREC_PORT=8000 (or unset it), or pass --port"
        )
    return port


def _flag(name: str) -> bool:
    text = os.environ.get(name, "").strip().lower()
    if text not in _TRUE + _FALSE:
        raise ValueError(
            f"{name} must be 1 or 0 (true/false, yes/no), got {text!r}. Fix: export {name}=1, "
            f"or unset it"
        )
    return text in _TRUE


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides`` (the command's flags, e.g. ``data_dir``
    from ``--data-dir``; ``None`` means "flag not given").

    Raises:
        ValueError: an environment variable holds a value it cannot have (one line, the fix).
    """
    env = os.environ
    data_dir = Path(env["CONVREC_DATA"]).expanduser() if env.get("CONVREC_DATA") else None
    cache = Path(env["CONVREC_CACHE"]).expanduser() if env.get("CONVREC_CACHE") else None
    base = Settings(
        data_dir=data_dir,
        data_dir_origin="CONVREC_DATA" if data_dir is not None else None,
        cache_dir=cache or _default_cache(),
        offline=_flag("CONVREC_OFFLINE"),
        database_url=env.get("DATABASE_URL") or None,
        host=env.get("CONVREC_HOST", "127.0.0.1"),
        port=_port(env.get("CONVREC_PORT", "8000")),
        dataset=env.get("CONVREC_DATASET", "").strip() or None,
    )
    return base.with_overrides(**overrides)


def resolve_settings(settings: Settings | None = None,
                     data_dir: Path | str | None = None) -> Settings:
    """The one place where a function's ``data_dir=`` convenience argument (a notebook's
    ``load_movielens("ml-100k", data_dir="data")``) is folded into :class:`Settings`.

    Public entry points call this first and hand only the result down, so no internal
    function carries a data folder beside its settings. ``data_dir`` counts as the user's
    ``--data-dir`` (an explicit folder, never left for a download); ``None`` keeps what
    ``settings`` (default: :func:`get_settings`, the environment) already says.
    """
    return (settings or get_settings()).with_overrides(data_dir=data_dir)
