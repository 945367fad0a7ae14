"""Title search: the shortcuts (fuzzy pass skipped, difflib's quick bounds) change no answer."""

from __future__ import annotations

import difflib
from pathlib import Path

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
    with pytest.raises(KeyError, match=r"'star' matches \d+ movies.*Star Wars \(1977\)"):
        catalog.find("star")
