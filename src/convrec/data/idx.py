"""Reader for the IDX format of the original MNIST files (gzip-compressed or raw).

Layout (big-endian): two zero bytes, a type code (0x08 = uint8), the number of dimensions,
then one uint32 per dimension, then the data. Images are magic 2051 (0x00000803, 3 dims),
labels magic 2049 (0x00000801, 1 dim).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["IdxFormatError", "read_idx", "write_idx"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049


class IdxFormatError(ValueError):
    """A file that is not valid IDX; the message names the file and what is wrong."""


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise IdxFormatError(f"{path}: cannot read ({exc})") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IdxFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return raw


def read_idx(path: str | Path, expect_magic: int | None = None) -> NDArray[np.uint8]:
    """Read an IDX file of unsigned bytes into an array of its stored shape.

    Args:
        path: ``.gz`` or raw IDX file.
        expect_magic: 2051 for images (N, 28, 28), 2049 for labels (N,), or None for any.

    Raises:
        IdxFormatError: wrong magic number, non-uint8 data, truncated or oversized payload.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxFormatError(f"{path}: too short to be IDX ({len(data)} bytes)")
    zero, dtype_code, ndim = data[0:2], data[2], data[3]
    magic = struct.unpack(">I", data[:4])[0]
    if zero != b"\x00\x00" or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise IdxFormatError(
            f"{path}: bad magic number {magic} (0x{magic:08x}); expected 2051 for images or "
            "2049 for labels (unsigned-byte IDX)"
        )
    if expect_magic is not None and magic != expect_magic:
        kind = "images" if expect_magic == IMAGES_MAGIC else "labels"
        raise IdxFormatError(f"{path}: magic number {magic}, expected {expect_magic} ({kind} file)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{path}: truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    payload = len(data) - header
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing bytes"
        raise IdxFormatError(
            f"{path}: {what}: header says {dims} = {expected} bytes of data, found {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: str | Path, array: NDArray[np.uint8], compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); used by tests and tools."""
    path = Path(path)
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | arr.ndim
    blob = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        blob = gzip.compress(blob)
    path.write_bytes(blob)
