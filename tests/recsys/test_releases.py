"""Every MovieLens release by name: a small release in ml-latest-small's CSV layout, written
here, trained and used through the CLI as a user would (titles from the release the model was
trained on, search words, the rating scale, ``id:N``, torn and foreign model files)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from tests.cli.helpers import run_cli

from convrec.cli.common import console
from convrec.data.movielens import load_movielens, releases
from convrec.data.registry import REGISTRY, DatasetNotFoundError

#: (movieId, title, genres) as ml-latest-small writes them (ids are the real ones)
MOVIES = [
    (1, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy"),
    (2, "Jumanji (1995)", "Adventure|Children|Fantasy"),
    (50, "Usual Suspects, The (1995)", "Crime|Mystery|Thriller"),
    (260, "Star Wars: Episode IV - A New Hope (1977)", "Action|Adventure|Sci-Fi"),
    (318, "Shawshank Redemption, The (1994)", "Crime|Drama"),
    (364, "Lion King, The (1994)", "Adventure|Animation|Children|Drama|Musical|IMAX"),
    (858, "Godfather, The (1972)", "Crime|Drama"),
    (919, "Wizard of Oz, The (1939)", "Adventure|Children|Fantasy|Musical"),
    (1214, "Alien (1979)", "Horror|Sci-Fi"),
    (1221, "Godfather: Part II, The (1974)", "Crime|Drama"),
    (1374, "Star Trek II: The Wrath of Khan (1982)", "Action|Adventure|Sci-Fi|Thriller"),
    (1721, "Titanic (1997)", "Drama|Romance"),
    (4306, "Shrek (2001)", "Adventure|Animation|Children|Comedy|Fantasy|Romance"),
    (4973, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
]


def write_release(root: Path, n_users: int = 30, seed: int = 0) -> Path:
    """``root/ml-latest-small/{ratings,movies}.csv``: half-star ratings, every movie rated."""
    folder = root / "ml-latest-small"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(1, n_users + 1):
        for k in rng.choice(len(MOVIES), size=9, replace=False):
            stars = np.clip(np.round((3.5 + rng.normal(0, 1)) * 2) / 2, 0.5, 5.0)
            lines.append(f"{u},{MOVIES[k][0]},{stars:g},{1_000_000 + u * 100 + int(k)}")
    (folder / "ratings.csv").write_text("\n".join(lines) + "\n")
    rows = ["movieId,title,genres"]
    rows += [f'{i},"{t}",{g}' if "," in t else f"{i},{t},{g}" for i, t, g in MOVIES]
    (folder / "movies.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def release_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("releases")
    write_release(root)
    return root


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 250)  # titles stay on one line in the tables


def test_every_release_has_one_complete_entry() -> None:
    assert releases() == ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m",
                          "ml-latest-small", "ml-latest")
    for name in releases():
        entry = REGISTRY[name]
        assert entry.ratings is not None and entry.archive is not None
        assert entry.archive[0] == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
        assert entry.checksum_source  # a published value and its source, or why there is none
        assert (entry.archive[1] is None) == entry.checksum_source.startswith("none pinned")
        assert "GroupLens" in entry.licence
    assert REGISTRY["ml-100k"].ratings.scale.describe() == "integers 1-5"  # type: ignore[union-attr]
    assert REGISTRY["ml-1m"].ratings.scale.describe() == "integers 1-5"  # type: ignore[union-attr]
    assert REGISTRY["ml-25m"].ratings.scale.describe() == "half stars 0.5-5"  # type: ignore[union-attr]
    assert REGISTRY["ml-10m"].archive[2] == "ml-10M100K/"  # type: ignore[index]
    assert REGISTRY["ml-1m"].ratings.sep == "::"  # type: ignore[union-attr]


def test_help_lists_the_releases_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["movies", "train", "--help"], capsys)
    assert code == 0
    for name in releases():
        assert name in out


def test_model_type_typo_fails_before_any_data(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, _, err = run_cli(["movies", "train", "--model-type", "typo", "--data-dir",
                            str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--model-type must be one of global-mean, biases" in err and "'typo'" in err


def test_data_dir_folder_or_zip(release_root: Path, tmp_path: Path) -> None:
    data = load_movielens("ml-latest-small", data_dir=release_root)
    assert len(data.movies) == len(MOVIES) and len(data.ratings) == 30 * 9
    assert data.ratings.ratings.dtype == np.float32
    archive = tmp_path / "ml-latest-small.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in ("ratings.csv", "movies.csv"):
            zf.write(release_root / "ml-latest-small" / f, f"ml-latest-small/{f}")
    zipped = load_movielens("ml-latest-small", data_dir=archive)
    assert zipped.movies.fingerprint() == data.movies.fingerprint()
    own = load_movielens("ml-latest-small", data_dir=release_root / "ml-latest-small")
    assert own.movies.titles == data.movies.titles


def test_a_zip_that_is_not_the_published_one_is_refused_with_the_fix(tmp_path: Path) -> None:
    # ml-1m pins GroupLens's md5: a zip of another content must not be extracted or read
    archive = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", "1::1::5::978300760\n")
    with pytest.raises(DatasetNotFoundError, match=r"--data-dir .*ml-1m\.zip: md5 [0-9a-f]{32}, "
                       r"but ml-1m's published value is c4d9eecf.*download https://.*ml-1m\.zip"):
        load_movielens("ml-1m", data_dir=archive)


def test_titles_search_and_ratings_from_the_trained_release(
        release_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dd = ["--data-dir", str(release_root)]
    model = tmp_path / "small.npz"
    code, out, err = run_cli(["movies", "train", "--dataset", "ml-latest-small", "--model-type",
                              "biases", "--out", str(model), *dd], capsys)
    assert code == 0, err
    # the model file knows its release: no --dataset needed, titles are ml-latest-small's
    m = ["--model", str(model), *dd]
    code, out, err = run_cli(["movies", "similar", "id:318", "-n", "3", *m], capsys)
    assert code == 0, err
    assert "similar to Shawshank Redemption, The (1994)" in out
    code, out, err = run_cli(["movies", "similar", "The Godfather", "-n", "2", *m], capsys)
    assert code == 0 and "similar to Godfather, The (1972)" in out, err
    code, out, err = run_cli(["movies", "rate", "amelie=4.5", "id:318=5", "titanic=1", *m],
                             capsys)
    assert code == 0, err
    assert "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001): 4.5" in out
    assert "Shawshank Redemption, The (1994): 5" in out and "Titanic (1997): 1" in out
    # explanations never call a movie rated 1 "rated highly"
    assert "rated “Titanic (1997)” highly" not in out
    for args, message in [
        (["50=5"], "a bare number is not a title; write id:50=5 for movie id 50"),
        (["amelie=4.3"], "the rating of Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001) "
                         "must be one of half stars 0.5-5"),
        (["id:318=5", "shawshank redemption=4"], "Shawshank Redemption, The (1994) (id:318) "
                                                  "is rated twice"),
        (["zzzzqqq=3"], "no movie matches 'zzzzqqq' in ml-latest-small"),
        (["star=5"], "'star' matches 2 movies in ml-latest-small: Star Trek II"),
        (["id:99999=3"], "no movie has id 99999 in ml-latest-small"),
        (["titanic==5"], "'titanic==5' has more than one rating; write TITLE=RATING once"),
        (["titanic=5=4"], "'titanic=5=4' has more than one rating; write TITLE=RATING once"),
    ]:
        code, _, err = run_cli(["movies", "rate", *args, *m], capsys)
        assert code == 2 and message in err and err.count("\n") == 1, (args, err)
    # a model of one release is never shown with another release's titles
    code, _, err = run_cli(["movies", "similar", "toy story", "--dataset", "ml-100k", *m],
                           capsys)
    assert code == 2 and "was trained on ml-latest-small, not --dataset ml-100k" in err


def test_search_words(release_root: Path) -> None:
    from convrec.recsys.catalog import AmbiguousTitleError, MovieCatalog, NoMatchError

    catalog = MovieCatalog(load_movielens("ml-latest-small", data_dir=release_root).movies,
                           "ml-latest-small")
    assert catalog.find("Amelie").movie_id == 4973
    assert catalog.find("The Godfather").movie_id == 858
    assert catalog.find("godfather").movie_id == 858
    assert catalog.find("godfather part ii").movie_id == 1221
    assert catalog.find("the shawshank redemption").movie_id == 318
    assert catalog.find("Toy Story (1995)").movie_id == 1
    assert catalog.search("zzzzqqq") == []
    with pytest.raises(NoMatchError):
        catalog.find("zzzzqqq")
    with pytest.raises(AmbiguousTitleError) as info:
        catalog.find("star")
    assert {c.movie_id for c in info.value.candidates} == {260, 1374}


def test_default_names_include_the_release(release_root: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from convrec.settings import get_settings

    code, out, err = run_cli(["movies", "train", "--dataset", "ml-latest-small",
                              "--model-type", "biases", "--data-dir", str(release_root)], capsys)
    assert code == 0, err
    written = get_settings().cache_dir / "models" / "ml-latest-small-biases.npz"
    assert written.is_file() and str(written) in out.replace("\n", "")
    # --ratings without --out: the name says which file, so releases never overwrite each other
    other = release_root.parent / "other" / "ml-latest-small"
    other.mkdir(parents=True)
    for f in ("ratings.csv", "movies.csv"):
        (other / f).write_bytes((release_root / "ml-latest-small" / f).read_bytes())
    names = []
    for folder in (release_root / "ml-latest-small", other):
        code, out, err = run_cli(["movies", "train", "--ratings", str(folder / "ratings.csv"),
                                  "--model-type", "biases"], capsys)
        assert code == 0, err
        names.append(out.replace("\n", "").rsplit("→ ", 1)[1].strip())
    assert names[0] != names[1] and all(Path(n).is_file() for n in names)


def test_torn_and_mismatched_model_files(release_root: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.npz"
    dd = ["--data-dir", str(release_root)]
    code, _, err = run_cli(["movies", "train", "--dataset", "ml-latest-small", "--model-type",
                            "biases", "--out", str(model), *dd], capsys)
    assert code == 0, err
    blob = model.read_bytes()
    torn = tmp_path / "torn.npz"
    torn.write_bytes(blob[: len(blob) // 2])
    code, _, err = run_cli(["movies", "similar", "toy story", "--model", str(torn), *dd], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "is torn or not a convrec model file" in err
    assert f"convrec movies train --out {torn}" in err
    # the release's movies changed after training: refused, with the command that retrains
    changed = tmp_path / "changed"
    write_release(changed)
    movies = changed / "ml-latest-small" / "movies.csv"
    movies.write_text(movies.read_text().replace("Jumanji", "Jumanji 2"))
    code, _, err = run_cli(["movies", "similar", "toy story", "--model", str(model),
                            "--data-dir", str(changed)], capsys)
    assert code == 2 and "whose movies differ from the ml-latest-small in" in err
    assert "convrec movies train --dataset ml-latest-small --out" in err


def test_a_torn_default_model_names_the_command_that_rebuilds_it(
        release_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convrec.recsys.catalog import default_model_path
    from convrec.settings import get_settings

    path = default_model_path(get_settings(), "ml-latest-small")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 torn")
    dd = ["--dataset", "ml-latest-small", "--data-dir", str(release_root)]
    code, _, err = run_cli(["movies", "recommend", "--user", "1", *dd], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "the default ml-latest-small model" in err and "is torn" in err
    assert err.rstrip().endswith("rebuild it with `convrec movies train --dataset "
                                 "ml-latest-small`")
    code, _, err = run_cli(["movies", "train", *dd], capsys)  # the fix, as written
    assert code == 0, err
    code, out, err = run_cli(["movies", "recommend", "--user", "1", "-n", "2", *dd], capsys)
    assert code == 0 and "top 2 for user 1 (ml-latest-small)" in out, err
