"""The one ratings reader: every layout MovieLens uses, Parquet, and bad lines by file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convrec.data.movielens import HALF_STARS, INTEGER_STARS
from convrec.data.ratings import RatingsFormatError, read_ratings_file


@pytest.mark.parametrize("name,body", [
    ("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"),
    ("ratings.dat", "196::242::3::881250949\n186::302::3::891717742\n"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n196,242,3.0,881250949\n"
                    "186,302,3.0,891717742\n"),
])
def test_each_layout_reads_the_same(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / name
    path.write_text(body)
    raw = read_ratings_file(path)  # separator and header sniffed from the first line
    assert raw.users.tolist() == [196, 186] and raw.items.tolist() == [242, 302]
    assert raw.ratings.tolist() == [3.0, 3.0] and raw.ratings.dtype == np.float32
    assert raw.timestamps is not None and raw.timestamps.tolist() == [881250949, 891717742]


def test_parquet_by_column_names(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"movieId": [5, 6], "userId": [1, 2], "rating": [4.5, 1.0]}), path)
    raw = read_ratings_file(path)
    assert raw.users.tolist() == [1, 2] and raw.items.tolist() == [5, 6]
    assert raw.timestamps is None


def test_wide_and_string_ids(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,4294967296,4\n2,7,3\n")
    raw = read_ratings_file(path)
    assert raw.items.tolist() == [2**32, 7] and raw.items.dtype == np.int64
    path.write_text("user,item,rating\nalice,m1,4\nbob,m2,3\n")
    raw = read_ratings_file(path)
    assert raw.users.tolist() == ["alice", "bob"] and raw.items.tolist() == ["m1", "m2"]


@pytest.mark.parametrize("name,body,match", [
    ("ratings.dat", "1::2::3::4\n1::3::4::5\n1::3::4\n", r"ratings\.dat:3: expected 4 fields "
                                                         r"separated by '::', got 3"),
    ("ratings.dat", "1::2::3::4\n1::3::x::5\n", r"ratings\.dat:2: field 3 is 'x', not a number"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,4\n1,3,,5\n",
     r"ratings\.csv:3: field 3 is '', not a number"),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,4\n1,3,nan,5\n",
     r"ratings\.csv:3: field 3 is 'nan', not a finite number"),
    ("u.data", "1\t2\t3\t4\n1\t3\t2.5\t5\n", r"u\.data:2: rating 2\.5 is not on the scale "
                                            r"\(integers 1-5\)"),
])
def test_bad_lines_are_reported_by_file_and_line(tmp_path: Path, name: str, body: str,
                                                 match: str) -> None:
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(RatingsFormatError, match=match):
        read_ratings_file(path, scale=INTEGER_STARS)


def test_scale_words_and_checks() -> None:
    assert HALF_STARS.describe() == "half stars 0.5-5"
    assert HALF_STARS.check(4.5) == 4.5
    for bad in (4.3, 0.0, 5.5, float("nan")):
        with pytest.raises(ValueError, match=r"must be one of half stars 0\.5-5"):
            HALF_STARS.check(bad)
    for bad in ("3", True, None):
        with pytest.raises(ValueError, match="must be a number"):
            INTEGER_STARS.check(bad)
    np.testing.assert_array_equal(INTEGER_STARS.off_scale(np.array([1, 2.5, 5, 6])),
                                  [False, True, False, True])


def test_unknown_suffix_and_missing_roles(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown ratings format '\.json'"):
        (tmp_path / "r.json").write_text("{}")
        read_ratings_file(tmp_path / "r.json")
    path = tmp_path / "r.csv"
    path.write_text("userId,title\n1,x\n")
    with pytest.raises(RatingsFormatError, match=r"r\.csv:1: no item column in the header"):
        read_ratings_file(path)
