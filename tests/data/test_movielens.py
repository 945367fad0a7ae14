"""MovieLens readers: the real ML-100K files, and malformed input reported by file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convrec.data.movielens import (
    RatingsFormatError,
    check_counts,
    load_movielens,
    read_ml100k_split,
    read_movies,
    read_ratings_file,
)
from convrec.data.registry import REGISTRY, DatasetNotFoundError, locate


def test_ml100k_reads_whole_release(shared_data: Path) -> None:
    data = load_movielens("ml-100k", data_dir=shared_data)
    r = data.ratings
    assert len(r) == 100_000
    assert len(np.unique(r.users)) == 943 and len(np.unique(r.items)) == 1682
    assert np.bincount(r.ratings.astype(int))[1:].tolist() == [6110, 11370, 27145, 34174, 21201]
    assert r.timestamps is not None and r.timestamps.min() == 874724710
    assert len(data.movies) == 1682 and data.movies.titles[0] == "Toy Story (1995)"
    assert data.movies.genres[0] == ("Animation", "Children's", "Comedy")
    assert any("Misérables" in t for t in data.movies.titles)  # latin-1 decoded
    check_counts("ml-100k", r)


@pytest.mark.parametrize("split,n_test", [("u1", 20_000), ("ua", 9_430)])
def test_official_splits(shared_data: Path, split: str, n_test: int) -> None:
    base, test = read_ml100k_split(shared_data / "ml-100k", split)
    assert len(test) == n_test and len(base) + len(test) == 100_000


def test_unknown_split_is_named(shared_data: Path) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        read_ml100k_split(shared_data / "ml-100k", "u9")


def test_registry_entries_and_offline_message(tmp_path: Path) -> None:
    assert {"ml-100k", "ml-1m", "ml-latest-small", "ml-25m"} <= set(REGISTRY)
    assert "GroupLens" in REGISTRY["ml-100k"].licence
    with pytest.raises(DatasetNotFoundError, match="--data-dir"):
        locate("ml-100k")  # tests run offline with an empty cache


@pytest.mark.parametrize(
    "body,match",
    [
        ("1\t2\t3\t4\n1\t3\tfive\t5\n", r"data\.tsv:2: field 3 is 'five', not a number"),
        ("1\t2\t3\t4\n1\t3\t4\n", r"data\.tsv:2: expected 4 fields"),
        ("1\t2\t3\t4\n\n1\t3\t4\t5\n", r"data\.tsv:2: empty line"),
        ("1\t2\t3\t4\n1\t3\t9\t5\n", r"data\.tsv:2: rating 9 is outside 1\.\.5"),
    ],
)
def test_malformed_lines_report_file_and_line(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "data.tsv"
    path.write_text(body)
    with pytest.raises(RatingsFormatError, match=match):
        read_ratings_file(path, rating_range=(1, 5))


def test_generic_csv_with_header_mapping_and_string_ids(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("when,who,what,stars\n10,alice,m1,4.5\n11,bob,m2,3\n")
    raw = read_ratings_file(path, ",", ("who", "what", "stars", "when"), header=True)
    assert raw.users.tolist() == ["alice", "bob"] and raw.items.tolist() == ["m1", "m2"]
    assert raw.ratings.tolist() == [4.5, 3.0] and raw.timestamps is not None
    assert raw.timestamps.tolist() == [10, 11]


def test_double_colon_files(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    raw = read_ratings_file(path, "::")
    assert raw.items.tolist() == [1193, 661] and raw.users.dtype.kind == "i"
    movies = tmp_path / "movies.dat"
    movies.write_text("1::Toy Story (1995)::Animation|Children's|Comedy\n", encoding="latin-1")
    m = read_movies(movies)
    assert m.years.tolist() == [1995] and m.genres[0][0] == "Animation"


def test_columns_must_name_roles(tmp_path: Path) -> None:
    path = tmp_path / "x.tsv"
    path.write_text("1\t2\n")
    with pytest.raises(ValueError, match="columns must map a field to 'rating'"):
        read_ratings_file(path, columns=("user", "item"))
    with pytest.raises(FileNotFoundError):
        read_ratings_file(tmp_path / "missing.tsv")
