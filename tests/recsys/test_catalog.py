"""Title search: the shortcuts (fuzzy pass skipped, difflib's quick bounds) change no answer."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pytest

from convrec.recsys.catalog import MAX_FUZZY, MIN_SCORE, MovieCatalog

QUERIES = ("star wars", "toy story", "titanic", "star", "the godfather", "amelie", "zzzzqqq",
           "alien", "les miserables", "usual suspect", "jedi", "empire strikes", "twelve monkys",
           "shawshenk redemption", "fargo (1996)", "chasing amy (199x)", "sleepr")


def _reference(catalog: MovieCatalog, query: str, n: int) -> list[tuple[int, float]]:
    """Every title scored in full: its word score, else difflib's exact ratio (no bounds)."""
    from convrec.recsys.catalog import _fold, _forms

    q = _fold(query)
    q_forms = _forms(q)
    scored = []
    for k in range(len(catalog)):
        s = catalog._word_score(k, q, q_forms)
        if s == 0.0:
            s = MAX_FUZZY * max(difflib.SequenceMatcher(None, a, b).ratio()
                                for a, b in zip(q_forms[::-1], catalog._forms[k][::-1],
                                                strict=True))
        if s >= MIN_SCORE:
            scored.append((-round(s, 4), k))
    scored.sort()
    return [(int(catalog.movies.ids[k]), -s) for s, k in scored[:n]]


@pytest.fixture(scope="module")
def catalog(shared_data: Path) -> MovieCatalog:
    from convrec.data.movielens import load_movielens_movies
    from convrec.settings import get_settings

    movies, _ = load_movielens_movies("ml-100k", settings=get_settings(data_dir=shared_data))
    return MovieCatalog(movies, "ml-100k")


@pytest.mark.data
@pytest.mark.parametrize("query", QUERIES)
def test_search_equals_the_full_scoring(catalog: MovieCatalog, query: str) -> None:
    for n in (1, 8):
        got = [(info.movie_id, score) for info, score in catalog.search(query, n=n)]
        assert got == _reference(catalog, query, n), (query, n)


@pytest.mark.data
def test_find_answers_as_the_full_search_does(catalog: MovieCatalog) -> None:
    """find() skips the fuzzy pass when a word hit is clear of every fuzzy score."""
    assert catalog.find("titanic").movie_id == 313
    assert catalog.find("sleepr").movie_id == 152  # fuzzy only: the pass still runs
    with pytest.raises(KeyError, match=r"'star' matches 8 or more movies.*Star Wars \(1977\)"):
        catalog.find("star")


@pytest.mark.data
def test_ambiguous_title_error_says_how_many_it_did_not_list(catalog: MovieCatalog) -> None:
    """The error names six candidates; the rest are counted, not silently dropped."""
    from convrec.recsys.catalog import AmbiguousTitleError

    with pytest.raises(AmbiguousTitleError) as info:
        catalog.find("star")
    message = str(info.value)
    listed = message.count("(id:")
    assert listed == 6, message
    assert f" and {len(info.value.candidates) - listed} more;" in message, message


def _same(a: MovieCatalog, b: MovieCatalog) -> None:
    np.testing.assert_array_equal(a.movies.ids, b.movies.ids)
    np.testing.assert_array_equal(a.movies.years, b.movies.years)
    assert a.movies.titles == b.movies.titles and a.movies.genres == b.movies.genres
    assert a._folded == b._folded and a._forms == b._forms
    assert a.fingerprint() == b.fingerprint() and a.dataset == b.dataset


def test_release_catalog_cache_is_the_parsed_catalogue(tmp_path: Path) -> None:
    """The cached catalogue equals a fresh parse; a changed movies file is parsed again."""
    import os

    from tests.recsys.test_releases import write_release

    from convrec.data.movielens import read_movies
    from convrec.recsys.catalog import release_catalog
    from convrec.settings import get_settings

    folder = write_release(tmp_path / "data")
    settings = get_settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    first, where = release_catalog("ml-latest-small", settings, download=False)
    assert where == folder
    (cached,) = (tmp_path / "cache" / "catalogues").glob("ml-latest-small-*.json")
    again, _ = release_catalog("ml-latest-small", settings, download=False)
    fresh = MovieCatalog(read_movies(folder / "movies.csv"), "ml-latest-small")
    _same(first, fresh)
    _same(again, fresh)
    assert again.find("amelie").movie_id == 4973

    movies = folder / "movies.csv"
    movies.write_text(movies.read_text(encoding="utf-8").replace("Jumanji", "Jumanji II"),
                      encoding="utf-8")
    stat = movies.stat()
    os.utime(movies, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later copy
    changed, _ = release_catalog("ml-latest-small", settings, download=False)
    assert changed.get(2).title == "Jumanji II (1995)"
    _same(changed, MovieCatalog(read_movies(movies), "ml-latest-small"))

    cached.write_text("{torn", encoding="utf-8")  # a torn cache is parsed over, not trusted
    _same(release_catalog("ml-latest-small", settings, download=False)[0], changed)
