"""Model files: one ``.npz`` per fitted model, with a versioned header and a checksum.

Layout: every persisted array under its attribute name, plus ``__header__``, a UTF-8 JSON
document::

    {"format": "convrec-model", "format_version": 2,
     "model": "bayesian-mf", "class": "BayesianMF", "schema_version": 1,
     "params": {...}, "scalars": {...}, "absent": [...],
     "provenance": {"dataset": "ml-latest-small", "catalogue": "59301dd0cad86c37",
                    "scale": [0.5, 5.0, 0.5], "ratings_file": null, "movies_file": null},
     "sha256": "<over every array's name, dtype, shape and bytes>"}

What is written is the model's schema in :mod:`convrec.recsys.registry` (the shared fitted
attributes and the entry's ``state``), never "whatever ends in ``_``": a fitted attribute
outside the schema is an error at save time, so a new attribute cannot silently go missing.
Files are written atomically (a temporary file renamed over the target) and read with
``allow_pickle=False``. A torn, foreign, old or modified file is refused in one line that
names the command rebuilding it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from convrec.recsys.registry import MODELS, SHARED_STATE, spec_of

if TYPE_CHECKING:
    from convrec.recsys.base import Recommender

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelFileError",
    "Provenance",
    "load_model",
    "read_header",
    "rebuild_command",
    "save_model",
]

FORMAT = "convrec-model"
FORMAT_VERSION = 2


class ModelFileError(ValueError):
    """A model file that cannot be used: torn, foreign, old, modified, or trained on another
    release. The message is one line ending in the command that rebuilds the file."""


@dataclass(frozen=True)
class Provenance:
    """What a model was trained on: the release name, the fingerprint of its movie catalogue
    (:meth:`convrec.data.movielens.Movies.fingerprint`) and its rating scale
    ``(low, high, step)``; for a model trained on a ratings file (``train --ratings``), that
    file and the movies file beside it, whose titles it is shown with. None where unknown
    (a generic ratings file has no catalogue)."""

    dataset: str | None = None
    catalogue: str | None = None
    scale: tuple[float, float, float] | None = None
    ratings_file: str | None = None
    movies_file: str | None = None


def rebuild_command(path: str | Path, model: str | None = None, dataset: str | None = None,
                    ratings_file: str | None = None) -> str:
    """The ``convrec movies train`` command that writes ``path`` again."""
    parts = ["convrec movies train"]
    if dataset:
        parts.append(f"--dataset {dataset}")
    elif ratings_file:
        parts.append(f"--ratings {ratings_file}")
    if model:
        parts.append(f"--model-type {model}")
    parts.append(f"--out {path}")
    return " ".join(parts)


def _digest(arrays: dict[str, NDArray[Any]]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.reshape(-1).view(np.uint8).data)  # the bytes, without a copy
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def save_model(model: Recommender, path: str | Path, provenance: Provenance | None = None
               ) -> Path:
    """Write a fitted model to ``path`` (``.npz``) atomically; returns the path.

    Args:
        model: a fitted model whose class is in the model registry.
        path: the file; its folder is created.
        provenance: the release, catalogue fingerprint and scale; default: the model's
            ``provenance_`` (set when it was loaded or saved with one), else none.

    Raises:
        ValueError: the model has a fitted attribute outside its schema, or a value that is
            neither an array nor JSON.
    """
    model._check_fitted()
    spec = spec_of(model)
    schema = (*SHARED_STATE, *spec.state)
    attrs = vars(model)
    extra = sorted(k for k in attrs if k.endswith("_") and not k.startswith("_")
                   and k not in schema and k != "provenance_")
    if extra:
        raise ValueError(
            f"{type(model).__name__} has fitted attributes outside its persistence schema: "
            f"{', '.join(extra)}; add them to state= of {spec.name!r} in "
            "src/convrec/recsys/registry.py (and bump its schema_version)")
    arrays: dict[str, NDArray[Any]] = {}
    scalars: dict[str, Any] = {}
    absent: list[str] = []
    for name in schema:
        if name not in attrs:
            if hasattr(type(model), name):  # a class-level default (e.g. y_range_ = None)
                scalars[name] = _plain(getattr(model, name))
            else:
                absent.append(name)
            continue
        value = attrs[name]
        if isinstance(value, np.ndarray):
            arrays[name] = value.astype(str) if value.dtype == object else value
        else:
            scalars[name] = _plain(value)
    prov = provenance or getattr(model, "provenance_", None) or Provenance()
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": spec.name,
        "class": type(model).__name__, "schema_version": spec.schema_version,
        "params": {k: _plain(v) for k, v in model.get_params().items()},
        "scalars": scalars, "absent": absent,
        "provenance": {"dataset": prov.dataset, "catalogue": prov.catalogue,
                       "scale": list(prov.scale) if prov.scale else None,
                       "ratings_file": prov.ratings_file, "movies_file": prov.movies_file},
        "sha256": _digest(arrays),
    }
    try:
        blob = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{type(model).__name__}: a fitted attribute is not JSON: {exc}"
                         ) from exc
    arrays["__header__"] = np.frombuffer(blob.encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_aligned_npz(fh, arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    model.provenance_ = prov  # type: ignore[attr-defined]
    return path


def _read(path: Path) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    fix = rebuild_command(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}. Fix: `{fix}`")
    try:
        # our own handle: np.load leaks its file when the zip directory is torn
        with path.open("rb") as fh:
            members = _mapped_members(fh)
            if members is None:  # compressed or unusual: numpy's own reader
                fh.seek(0)
                with np.load(fh, allow_pickle=False) as data:
                    members = ({k: data[k] for k in data.files} if hasattr(data, "files")
                               else {})
            if "__header__" not in members:
                raise ModelFileError(f"{path} is not a convrec model file (no header); "
                                     f"rebuild it with `{fix}`")
            header = json.loads(bytes(members.pop("__header__")).decode("utf-8"))
            arrays = members
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError,
            AttributeError, UnicodeDecodeError) as exc:  # a .npy has no __enter__ either
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path} is torn or not a convrec model file ({reason}); "
                             f"rebuild it with `{fix}`") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is not a convrec model file (bad header); rebuild it "
                             f"with `{fix}`")
    return header, arrays


# Each member's array data starts at a multiple of this in the file (numpy pads a ``.npy``
# header to 64 bytes, so the member itself is aligned): arrays mapped from the file are then
# aligned for their dtype. An unaligned array is correct but slow: ``np.take`` on a
# (1682, 240) float64 took 0.56 ms against 0.008 ms aligned (a whole-array copy per call),
# which made a loaded model's fold-in and top-10 2.7x slower (benchmarks/RESULTS.md).
MEMBER_ALIGNMENT = 64
_PADDING_FIELD = 0xD935  # zipalign's extra-field id; readers skip fields they do not know


def _write_aligned_npz(fh: BinaryIO, arrays: dict[str, NDArray[Any]]) -> None:
    """What ``np.savez`` writes (uncompressed, ZIP64, ``name.npy`` members, no pickles), with
    each member's data at a multiple of :data:`MEMBER_ALIGNMENT` bytes of the file: a padding
    extra field in the member's local header, as Android's zipalign does."""
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True
                         ) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            # local header: 30 fixed bytes, the name, our field (4 + pad), the ZIP64 field (20)
            start = fh.tell() + 30 + len(info.filename.encode("utf-8")) + 4 + 20
            pad = -start % MEMBER_ALIGNMENT
            info.extra = struct.pack("<HH", _PADDING_FIELD, pad) + bytes(pad)
            with archive.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _mapped_members(fh: BinaryIO) -> dict[str, NDArray[Any]] | None:
    """Every ``.npy`` member of an uncompressed ``.npz`` as an array over one copy-on-write
    memory map of the file (what :func:`save_model` writes): no read into a buffer, no copy
    out of it, no CRC pass (the header's sha256 checks the bytes). None when a member is
    compressed, not ``.npy`` or holds objects: then ``np.load`` reads the file.

    Raises:
        zipfile.BadZipFile, ValueError, OSError: a torn or foreign file.
    """
    import mmap

    with zipfile.ZipFile(fh) as archive:
        infos = archive.infolist()
    if not infos or any(i.compress_type != zipfile.ZIP_STORED or not i.filename.endswith(".npy")
                        for i in infos):
        return None
    mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)  # writable, private
    out: dict[str, NDArray[Any]] = {}
    for info in infos:
        local = mapped[info.header_offset:info.header_offset + 30]
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"member {info.filename}: bad local header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        member = memoryview(mapped)[start:start + info.file_size]
        stream = io.BytesIO(member[:min(len(member), 65_536)])
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
        if dtype.hasobject:
            return None
        count = int(np.prod(shape, dtype=np.int64))
        arr = np.frombuffer(member, dtype=dtype, count=count, offset=stream.tell())
        if not arr.flags.aligned:  # a file written before MEMBER_ALIGNMENT: an aligned copy
            arr = arr.copy()
        out[info.filename[:-4]] = arr.reshape(shape, order="F" if fortran else "C")
    return out


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a model file (validated as :func:`load_model` does)."""
    return _validated(Path(path))[0]


def _validated(path: Path) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    header, arrays = _read(path)
    prov = header.get("provenance") if isinstance(header.get("provenance"), dict) else {}
    name = header.get("model")
    fix = rebuild_command(path, name if isinstance(name, str) else None,
                          prov.get("dataset") if isinstance(prov, dict) else None,
                          prov.get("ratings_file") if isinstance(prov, dict) else None)
    if header.get("format") != FORMAT:
        version = header.get("format")
        what = (f"an older convrec model file (format {version})" if isinstance(version, int)
                else "not a convrec model file")
        raise ModelFileError(f"{path} is {what}; rebuild it with `{fix}`")
    if header.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} has model format version {header.get('format_version')!r}"
                             f", this convrec reads {FORMAT_VERSION}; rebuild it with `{fix}`")
    if not isinstance(name, str) or name not in MODELS:
        raise ModelFileError(f"{path}: unknown model {name!r} (known: {', '.join(MODELS)}); "
                             f"rebuild it with `{fix}`")
    spec = MODELS[name]
    if header.get("schema_version") != spec.schema_version:
        raise ModelFileError(f"{path}: {name} schema version {header.get('schema_version')!r}, "
                             f"this convrec reads {spec.schema_version}; rebuild it with `{fix}`")
    if header.get("sha256") != _digest(arrays):
        raise ModelFileError(f"{path} is damaged or was modified (checksum mismatch); rebuild "
                             f"it with `{fix}`")
    schema = {*SHARED_STATE, *spec.state}
    unknown = sorted((set(arrays) | set(header.get("scalars", {}))) - schema)
    if unknown:
        raise ModelFileError(f"{path}: attributes outside the {name} schema: "
                             f"{', '.join(unknown)}; rebuild it with `{fix}`")
    return header, arrays


def load_model(path: str | Path) -> Recommender:
    """Load a model written by :func:`save_model` (``allow_pickle=False``).

    The returned model carries ``provenance_`` (:class:`Provenance`).

    Raises:
        FileNotFoundError: no such file (with the command that writes it).
        ModelFileError: torn, foreign, old, unknown or modified (one line with the fix).
    """
    path = Path(path)
    header, arrays = _validated(path)
    spec = MODELS[header["model"]]
    cls = spec.load_class()
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in header["params"].items()}
    try:
        model = cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{path}: its parameters do not fit {cls.__name__} ({exc}); "
                             f"rebuild it with `{rebuild_command(path, spec.name)}`") from None
    for key, value in header.get("scalars", {}).items():
        setattr(model, key, tuple(value) if isinstance(value, list) else value)
    for key, arr in arrays.items():
        setattr(model, key, arr)
    prov = header.get("provenance") or {}
    scale = prov.get("scale")
    model.provenance_ = Provenance(  # type: ignore[attr-defined]
        prov.get("dataset"), prov.get("catalogue"),
        (float(scale[0]), float(scale[1]), float(scale[2])) if scale else None,
        prov.get("ratings_file"), prov.get("movies_file"))
    return model
