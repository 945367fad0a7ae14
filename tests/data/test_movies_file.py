"""The movie metadata reader: every layout (``movies.csv``, ``movies.dat``, ``u.item``) reads
its ids and titles, and a bad id is one line naming ``file:line`` and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.data.movielens import read_movies
from convrec.data.ratings import RatingsFormatError

U_ITEM_FLAGS = "|".join(["0"] * 18 + ["1"])  # 19 genre flags, the last one set


@pytest.mark.parametrize(("name", "good", "bad", "message"), [
    ("movies.csv", '1,"Toy Story (1995)",Comedy', "x,Heat (1995),Action",
     "movies.csv:3: movieId 'x' is not an integer"),
    ("movies.dat", "1::Toy Story (1995)::Comedy", "x::Heat (1995)::Action",
     "movies.dat:2: movie id 'x' is not an integer"),
    ("u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|{U_ITEM_FLAGS}",
     f"x|Heat (1995)|01-Jan-1995||http://x|{U_ITEM_FLAGS}",
     "u.item:2: movie id 'x' is not an integer"),
])
def test_each_layout_reads_and_a_bad_id_names_file_line_and_field(
    tmp_path: Path, name: str, good: str, bad: str, message: str
) -> None:
    path = tmp_path / name
    header = "movieId,title,genres\n" if name.endswith(".csv") else ""
    path.write_text(header + good + "\n")
    movies = read_movies(path)
    assert movies.ids.tolist() == [1] and movies.titles[0] == "Toy Story (1995)"
    path.write_text(header + good + "\n" + bad + "\n")
    with pytest.raises(RatingsFormatError) as info:
        read_movies(path)
    assert str(info.value) == f"{tmp_path}/{message}"
