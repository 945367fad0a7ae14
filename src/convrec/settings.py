"""One settings object for every face of convrec, read from the environment in one place.

Environment variables:
    CONVREC_DATA       a local folder holding datasets in their original layout
                       (``mnist/``, ``ml-100k/``, ...); checked before any download.
    CONVREC_CACHE      where downloads, trained models and the default database live
                       (default ``$XDG_CACHE_HOME/convrec`` or ``~/.cache/convrec``).
    CONVREC_OFFLINE    ``1`` to never download (use local folders and embedded defaults).
    DATABASE_URL       SQLAlchemy URL for the studio (default: SQLite in the cache folder).
    CONVREC_HOST, CONVREC_PORT   the studio's bind address (default 127.0.0.1:8000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["Limits", "Settings", "get_settings"]


@dataclass(frozen=True)
class Limits:
    """Request limits of the studio and CLI (why: keep one request from eating the machine)."""

    max_upload_bytes: int = 5_000_000  # a phone photo fits; a decompression bomb does not
    max_image_pixels: int = 25_000_000  # same order as Pillow's bomb guard (89M), stricter
    max_kernel_size: int = 31  # larger kernels belong to FFT convolution, not a playground
    max_batch: int = 256
    max_padding: int = 64  # per side; 'full' padding of the largest kernel needs 30
    # per API request (convrec.conv.limits); 10^8 is about 0.1 s of one core
    max_multiply_adds: int = 10**8


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convrec"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings`; override per call with flags."""

    data_dir: Path | None = None
    cache_dir: Path = field(default_factory=_default_cache)
    offline: bool = False
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    limits: Limits = field(default_factory=Limits)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.cache_dir / 'studio.sqlite3'}"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides`` (e.g. ``data_dir`` from ``--data-dir``)."""
    env = os.environ
    data_dir = Path(env["CONVREC_DATA"]).expanduser() if env.get("CONVREC_DATA") else None
    cache = Path(env["CONVREC_CACHE"]).expanduser() if env.get("CONVREC_CACHE") else None
    port_text = env.get("CONVREC_PORT", "8000")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ValueError(f"CONVREC_PORT must be an integer, got {port_text!r}") from exc
    base = Settings(
        data_dir=data_dir,
        cache_dir=cache or _default_cache(),
        offline=env.get("CONVREC_OFFLINE", "") not in ("", "0", "false", "no"),
        database_url=env.get("DATABASE_URL") or None,
        host=env.get("CONVREC_HOST", "127.0.0.1"),
        port=port,
    )
    if "data_dir" in overrides and overrides["data_dir"] is not None:
        overrides["data_dir"] = Path(overrides["data_dir"]).expanduser()
    return base.with_overrides(**overrides)
