"""Models trained on a ratings file (``convrec movies train --ratings``): shown with that
file's titles or ids and its own rating scale, never with ML-100K's, even where ML-100K is
at hand (``CONVREC_DATA``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tests.cli.helpers import run_cli

from convrec.data.registry import RatingScale


def _write_ratings(folder: Path, items: list[str], scale: tuple[int, int]) -> Path:
    """40 users × 6 items each, ``user,item,rating`` with a header, Windows line ends."""
    rng = np.random.default_rng(0)
    lines = ["user,item,rating"]
    for u in range(40):
        for k in rng.choice(len(items), size=6, replace=False):
            lines.append(f"u{u},{items[k]},{rng.integers(scale[0], scale[1] + 1)}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ratings.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def _train(ratings: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["movies", "train", "--ratings", str(ratings), "--model-type",
                            "biases", "--out", str(out)], capsys)
    assert code == 0, err


def test_numeric_ids_without_titles_show_ids_and_the_files_scale(
        tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # ids that ML-100K also has (50 is Star Wars there): the model must not borrow its titles
    monkeypatch.setenv("CONVREC_DATA", str(shared_data))
    ratings = _write_ratings(tmp_path / "shop", [str(i) for i in range(50, 70)], (1, 10))
    model = tmp_path / "m.npz"
    _train(ratings, model, capsys)
    code, out, err = run_cli(["movies", "recommend", "--model", str(model), "--user", "u1",
                              "-n", "3"], capsys)
    assert code == 0, err
    assert "top 3 for user u1 (ratings.csv)" in out
    assert len(re.findall(r"movie [56]\d \(id [56]\d\)", out)) == 3, out
    assert "Star Wars" not in out
    code, out, err = run_cli(["movies", "rate", "--model", str(model), "id:50=10",
                              "id:51=7"], capsys)
    assert code == 0, err
    assert "movie 50: 10" in out and "Star Wars" not in out
    code, _, err = run_cli(["movies", "rate", "--model", str(model), "id:50=11"], capsys)
    assert code == 2 and "must be one of integers 1-10, got 11" in err


def test_titles_come_from_the_movies_file_beside_the_ratings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = _write_ratings(tmp_path / "club", ["1", "2", "3", "4", "5", "6", "7"], (1, 5))
    titles = ["Toy Story (1995)", "Jumanji (1995)", "Heat (1995)", "Casino (1995)",
              "Babe (1995)", "Se7en (1995)", "Clueless (1995)"]
    movies = ratings.parent / "movies.csv"
    movies.write_text("movieId,title,genres\n" + "".join(
        f"{i},{t},Drama\n" for i, t in enumerate(titles, start=1)))
    model = tmp_path / "m.npz"
    _train(ratings, model, capsys)
    code, out, err = run_cli(["movies", "similar", "jumanji", "--model", str(model), "-n",
                              "2"], capsys)
    assert code == 0, err
    assert "similar to Jumanji (1995)" in out
    # the titles file gone: one line naming it and the command that retrains
    movies.unlink()
    code, _, err = run_cli(["movies", "similar", "jumanji", "--model", str(model)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert f"takes its titles from {movies.resolve()}, which is not there any more" in err
    assert f"convrec movies train --ratings {ratings.resolve()} --out {model}" in err


def test_text_item_ids_are_refused_in_one_line_with_the_way_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = _write_ratings(tmp_path / "books", [f"isbn-{i:05d}" for i in range(15)], (1, 10))
    model = tmp_path / "m.npz"
    _train(ratings, model, capsys)
    code, _, err = run_cli(["movies", "recommend", "--model", str(model), "--user", "u1"],
                           capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "whose item ids are not numbers (e.g. 'isbn-" in err
    assert "Python API" in err and "download" not in err


@pytest.mark.parametrize("values,described", [
    ([1, 3, 10, 7], "integers 1-10"),
    ([0.5, 5.0, 3.5], "half stars 0.5-5"),
    ([1.0, 1.25, 2.0], "1-2 in steps of 0.25"),
    ([-2.0, 0.0, 2.0], "integers -2-2"),
])
def test_the_scale_of_a_ratings_file(values: list[float], described: str) -> None:
    assert RatingScale.of(np.array(values)).describe() == described
