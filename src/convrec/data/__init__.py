"""Datasets: one registry entry per dataset, local folders first, then verified downloads.

Resolution order for :func:`locate` (first hit wins):

1. an explicit ``data_dir`` (``--data-dir``) holding ``<folder>/`` in the original layout;
2. ``$CONVREC_DATA/<folder>/``;
3. the cache ``$CONVREC_CACHE/<folder>/`` (earlier downloads);
4. a download with pooch, every file checked against its sha256 (unless offline).
"""

from convrec.data.registry import (
    REGISTRY,
    DatasetEntry,
    DatasetNotFoundError,
    FileSpec,
    locate,
    register,
    sha256_of,
)

__all__ = [
    "REGISTRY",
    "DatasetEntry",
    "DatasetNotFoundError",
    "FileSpec",
    "locate",
    "register",
    "sha256_of",
]
