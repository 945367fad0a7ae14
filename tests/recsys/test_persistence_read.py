"""Model files are read over a memory map: the same arrays as numpy's reader, writable,
aligned for their dtype (an unaligned array made fold-ins 2.7x slower), and a compressed file
(not what save_model writes) still read through np.load."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from convrec.recsys import ItemKNNBaseline, Ratings
from convrec.recsys.persistence import (
    MEMBER_ALIGNMENT,
    ModelFileError,
    _mapped_members,
    load_model,
)


def _similarity(path: Path) -> np.ndarray:
    model = load_model(path)
    assert isinstance(model, ItemKNNBaseline)
    out: np.ndarray = model.similarity_
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 600), rng.integers(0, 30, 600)
    stars = rng.integers(1, 6, 600).astype(np.float64)
    model = ItemKNNBaseline(k=5).fit(Ratings.from_arrays(users, 100 + items, stars))
    return model.save(tmp_path_factory.mktemp("model") / "knn.npz")


def test_mapped_arrays_equal_numpy_reader(saved: Path) -> None:
    with saved.open("rb") as fh:
        mapped = _mapped_members(fh)
    assert mapped is not None
    with np.load(saved, allow_pickle=False) as reference:
        assert sorted(mapped) == sorted(reference.files)
        for name in reference.files:
            np.testing.assert_array_equal(mapped[name], reference[name])
            assert mapped[name].dtype == reference[name].dtype
    similarity = _similarity(saved)
    similarity[0, 0] = 7.0  # private copy-on-write pages: the file is untouched
    assert _similarity(saved)[0, 0] != 7.0


def test_saved_arrays_are_aligned_and_mapped_without_a_copy(saved: Path) -> None:
    with zipfile.ZipFile(saved) as archive:
        infos = archive.infolist()
    with saved.open("rb") as fh:
        mapped = _mapped_members(fh)
        blob = saved.read_bytes()
    assert mapped is not None
    for info in infos:
        array = mapped[info.filename[:-4]]
        assert array.flags.aligned and not array.flags.owndata, info.filename  # a view
        # where the data sits in the file: a multiple of the alignment
        name_len, extra_len = np.frombuffer(blob, "<u2", 2, info.header_offset + 26)
        member = info.header_offset + 30 + int(name_len) + int(extra_len)
        assert member % MEMBER_ALIGNMENT == 0, info.filename
    assert all(v.flags.aligned for v in vars(load_model(saved)).values()
               if isinstance(v, np.ndarray))


def test_a_file_with_unaligned_members_loads_aligned_copies(saved: Path, tmp_path: Path
                                                            ) -> None:
    """Files written before the alignment (np.savez puts members where they fall)."""
    with np.load(saved, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)  # type: ignore[arg-type]
    with old.open("rb") as fh:
        mapped = _mapped_members(fh)
    assert mapped is not None
    assert all(a.flags.aligned for a in mapped.values())
    np.testing.assert_array_equal(_similarity(old), _similarity(saved))


def test_compressed_file_is_read_by_numpy(saved: Path, tmp_path: Path) -> None:
    with np.load(saved, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, **arrays)  # type: ignore[arg-type]
    with packed.open("rb") as fh:
        assert _mapped_members(fh) is None
    np.testing.assert_array_equal(_similarity(packed), _similarity(saved))


def test_truncated_member_is_refused_in_one_line(saved: Path, tmp_path: Path) -> None:
    blob = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("similarity_.npy")
    blob[info.header_offset:info.header_offset + 4] = b"XXXX"  # its local header destroyed
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="torn or not a convrec model file"):
        load_model(bad)
