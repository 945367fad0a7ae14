"""The movie API on real ML-100K: search, one movie, similar, recommendations from your own
ratings (fold-in), biases, the PCA map; and the 503 with the fix when the data is missing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from convrec.settings import Settings
from convrec.web import Services
from convrec.web.routers.movies import NO_RATINGS_YET
from convrec.web.services import MOVIES_MISSING, ServiceUnavailableError, _Lazy

#: Star Wars, Empire Strikes Back, Return of the Jedi, Raiders of the Lost Ark, Terminator 2
SCI_FI = {50: 5, 172: 5, 181: 5, 174: 4, 96: 4}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rate_all(client: TestClient, user: dict[str, Any], ratings: dict[int, int]) -> None:
    base = f"/api/users/{user['user']['id']}/ratings"
    for movie, stars in ratings.items():
        response = client.put(f"{base}/{movie}", json={"rating": stars},
                              headers=bearer(user["token"]))
        assert response.status_code == 200, response.text


def test_search_finds_titles_ignoring_case_and_articles(movies_client: TestClient) -> None:
    out = movies_client.get("/api/movies/search", params={"q": "STAR WARS", "n": 3}).json()
    # only titles above the catalogue's match threshold come back (no junk after the hits)
    assert out["query"] == "STAR WARS" and 1 <= len(out["results"]) <= 3
    first = out["results"][0]
    assert first == {"movie_id": 50, "title": "Star Wars (1977)", "year": 1977,
                     "genres": ["Action", "Adventure", "Romance", "Sci-Fi", "War"],
                     "match": 1.0}  # the whole title without its year: exact
    # "Empire Strikes Back, The (1980)" is found as "the empire strikes back"
    hit = movies_client.get("/api/movies/search", params={"q": "the empire strikes back"})
    assert hit.json()["results"][0]["movie_id"] == 172


@pytest.mark.parametrize(
    ("params", "loc", "rule"),
    [
        ({"q": ""}, ["query", "q"], "at least 1 character"),
        ({"q": " , "}, ["query", "q"], "letters or digits"),
        ({"q": "x" * 101}, ["query", "q"], "at most 100 characters"),
        ({}, ["query", "q"], "Field required"),
        ({"q": "alien", "n": 0}, ["query", "n"], "greater than or equal to 1"),
        ({"q": "alien", "n": 51}, ["query", "n"], "less than or equal to 50"),
    ],
)
def test_bad_searches_are_422_naming_the_field(
    movies_client: TestClient, params: dict[str, Any], loc: list[str], rule: str
) -> None:
    response = movies_client.get("/api/movies/search", params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == loc and rule in detail["msg"], detail


def test_one_movie_and_unknown_ids(movies_client: TestClient) -> None:
    assert movies_client.get("/api/movies/1").json()["title"] == "Toy Story (1995)"
    for path in ("/api/movies/99999", "/api/movies/99999/similar"):
        response = movies_client.get(path)
        assert response.status_code == 404, path
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["path", "movie_id"] and detail["input"] == 99999
        assert "no movie has id 99999" in detail["msg"]
    assert movies_client.get("/api/movies/0").status_code == 422
    assert movies_client.get("/api/movies/star-wars").status_code == 422


def test_similar_movies(movies_client: TestClient) -> None:
    out = movies_client.get("/api/movies/50/similar", params={"n": 5}).json()
    assert out["movie"]["title"] == "Star Wars (1977)"
    ids = [m["movie_id"] for m in out["similar"]]
    assert len(ids) == 5 and 50 not in ids
    assert {172, 181} & set(ids), [m["title"] for m in out["similar"]]
    scores = [m["score"] for m in out["similar"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert out["similar"][0]["explanation"] == "similar to “Star Wars (1977)”"
    assert movies_client.get("/api/movies/50/similar", params={"n": 0}).status_code == 422


def test_recommendations_follow_your_ratings_at_once(
    movies_client: TestClient, signup: Any, movie_recommender: Any
) -> None:
    assert movies_client.get("/api/me/recommendations").status_code == 401
    me = signup(movies_client, "alice")
    empty = movies_client.get("/api/me/recommendations").json()
    assert empty["based_on"] == 0 and len(empty["recommendations"]) == 10
    assert all(r["explanation"] == NO_RATINGS_YET for r in empty["recommendations"])
    rate_all(movies_client, me, SCI_FI)
    out = movies_client.get("/api/me/recommendations", params={"n": 20}).json()
    assert out["user_id"] == me["user"]["id"] and out["based_on"] == 5
    recs = out["recommendations"]
    assert len(recs) == 20 and not {r["movie_id"] for r in recs} & set(SCI_FI)
    assert all(r["explanation"].startswith("because you rated “") for r in recs)
    # exactly the recommender's fold-in of the ratings stored in the database
    direct = movie_recommender.recommend_for_ratings(SCI_FI, n=20)
    assert [r["movie_id"] for r in recs] == [d.movie_id for d in direct]
    # one more rating changes the list at once, and the movie leaves it
    top = recs[0]["movie_id"]
    rate_all(movies_client, me, {top: 1})
    after = movies_client.get("/api/me/recommendations", params={"n": 20}).json()
    assert after["based_on"] == 6 and top not in {r["movie_id"] for r in after["recommendations"]}
    bad = movies_client.get("/api/me/recommendations", params={"n": 101})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "n"]


def test_recommendations_answer_every_field_as_defined(
    movies_client: TestClient, signup: Any, movie_recommender: Any
) -> None:
    """The whole answer (ids, titles, years, genres, scores, reasons) for many rating sets
    and lengths is the recommender's list with the catalogue's metadata: the route builds
    each movie once, and must give what a movie built from its parts gives."""
    import numpy as np

    me = signup(movies_client, "carol")
    base = f"/api/users/{me['user']['id']}/ratings"
    rng = np.random.default_rng(16)
    rated: list[int] = []
    for case in range(12):
        for movie in rated:
            movies_client.delete(f"{base}/{movie}").raise_for_status()
        ratings = {int(m): int(rng.integers(1, 6))
                   for m in rng.choice(np.arange(1, 1683), size=1 + 3 * case, replace=False)}
        rate_all(movies_client, me, ratings)
        rated = list(ratings)
        for n in (1, 10, 37):
            body = movies_client.get("/api/me/recommendations", params={"n": n}).json()
            want = []
            for pick in movie_recommender.recommend_for_ratings(ratings, n=n):
                info = movie_recommender.catalog.get(pick.movie_id)
                assert pick.title == info.title
                want.append({"movie_id": info.movie_id, "title": info.title,
                             "year": info.year if info.year > 0 else None,
                             "genres": list(info.genres), "score": round(pick.score, 4),
                             "explanation": pick.explanation})
            assert body["based_on"] == len(ratings) and body["recommendations"] == want


def test_recommendations_use_only_your_own_ratings(
    make_client: Any, movie_recommender: Any, signup: Any
) -> None:
    client_a = make_client(recommender=movie_recommender)
    client_b = make_client(recommender=movie_recommender)
    a, b = signup(client_a, "alice"), signup(client_b, "bobby")
    romance = {88: 5, 69: 5, 70: 4, 451: 5, 94: 2}  # Sleepless in Seattle, Gump, Grease...
    rate_all(client_a, a, SCI_FI)
    rate_all(client_b, b, romance)
    for client, user, mine in ((client_a, a, SCI_FI), (client_b, b, romance)):
        for headers in ({}, bearer(user["token"])):  # by cookie, then by bearer token
            out = client.get("/api/me/recommendations", params={"n": 15}, headers=headers)
            body = out.json()
            assert body["user_id"] == user["user"]["id"] and body["based_on"] == 5
            want = [m.movie_id for m in movie_recommender.recommend_for_ratings(mine, n=15)]
            assert [r["movie_id"] for r in body["recommendations"]] == want
    # and neither can read or change the other's ratings
    b_base = f"/api/users/{b['user']['id']}/ratings"
    assert client_a.get(b_base).status_code == 403
    assert client_a.put(f"{b_base}/50", json={"rating": 1}).status_code == 403


def test_ratings_use_the_real_catalogue(movies_client: TestClient, signup: Any) -> None:
    me = signup(movies_client, "carol")["user"]["id"]
    put = movies_client.put(f"/api/users/{me}/ratings/50", json={"rating": 5})
    assert put.status_code == 200 and put.json()["title"] == "Star Wars (1977)"
    unknown = movies_client.put(f"/api/users/{me}/ratings/99999", json={"rating": 5})
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["input"] == 99999
    listed = movies_client.get(f"/api/users/{me}/ratings").json()
    assert listed["data"][0]["title"] == "Star Wars (1977)"


def test_biases_lowest_and_highest(movies_client: TestClient) -> None:
    out = movies_client.get("/api/movies/biases", params={"n": 4}).json()
    assert out["min_ratings"] == 20 and len(out["lowest"]) == len(out["highest"]) == 4
    low = [b["bias"] for b in out["lowest"]]
    high = [b["bias"] for b in out["highest"]]
    assert low == sorted(low) and high == sorted(high, reverse=True)
    assert max(low) < 0 < min(high)
    for params in ({"n": 0}, {"n": 51}, {"min_ratings": 0}):
        assert movies_client.get("/api/movies/biases", params=params).status_code == 422


def test_the_pca_map_is_a_png(movies_client: TestClient) -> None:
    response = movies_client.get("/api/movies/map.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n" and len(response.content) > 20_000
    again = movies_client.get("/api/movies/map.png?n=50")  # drawn once, then kept
    assert again.content == response.content
    small = movies_client.get("/api/movies/map.png?n=25")
    assert small.status_code == 200 and small.content != response.content
    for n in ("7", "fifty"):
        bad = movies_client.get(f"/api/movies/map.png?n={n}")
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "n"]


def test_the_studio_defaults_load_the_saved_recommender(
    make_client: Any, shared_data: Path, studio_models_cache: Path, movie_recommender: Any
) -> None:
    """``Services.defaults`` goes through ``get_default_recommender``: the saved model loads."""
    settings = Settings(cache_dir=studio_models_cache, offline=True, data_dir=shared_data)
    client = make_client(services=Services.defaults(settings))
    assert client.get("/api/movies/50").json()["title"] == "Star Wars (1977)"
    loaded = client.app.state.services.recommender()
    assert loaded is not movie_recommender and type(loaded.model) is type(movie_recommender.model)


# ------------------------------------------------------------ without the dataset
def test_without_ml100k_movie_routes_answer_503_with_the_fix(
    make_client: Any, tmp_path: Path, signup: Any
) -> None:
    empty = tmp_path / "no-data"
    empty.mkdir()
    settings = Settings(cache_dir=tmp_path / "cache", offline=True, data_dir=empty)
    client = make_client(services=Services.defaults(settings))
    me = signup(client, "dora")["user"]["id"]
    for method, path in [
        ("GET", "/api/movies/search?q=star"), ("GET", "/api/movies/50"),
        ("GET", "/api/movies/50/similar"), ("GET", "/api/movies/biases"),
        ("GET", "/api/movies/map.png"), ("GET", "/api/me/recommendations"),
        ("PUT", f"/api/users/{me}/ratings/50"),
    ]:
        response = client.request(method, path, json={"rating": 4} if method == "PUT" else None)
        assert response.status_code == 503, (path, response.text)
        detail = response.json()["detail"][0]
        assert detail["msg"].startswith(MOVIES_MISSING) and detail["type"] == "unavailable"
        assert "has no complete ml-100k/ folder" in detail["msg"]  # and the cause
    for fix in ("`convrec movies download`", "CONVREC_DATA=DIR", "--data-dir DIR"):
        assert fix in MOVIES_MISSING
    # your own ratings can still be read (without titles)
    assert client.get(f"/api/users/{me}/ratings").json() == {"data": [], "count": 0}
    # the pages still load, and the digit reader does not depend on movies
    assert client.get("/movies").status_code == 200


def test_a_failed_load_is_retried_after_a_while() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def loader() -> str:
        with lock:
            calls.append(1)
        if len(calls) == 1:
            raise ServiceUnavailableError("not yet")
        return "ready"

    lazy = _Lazy("thing", loader, retry_after=3600)
    for _ in range(3):
        with pytest.raises(ServiceUnavailableError, match="not yet"):
            lazy.get()
    assert len(calls) == 1  # remembered, not retried on every request
    lazy.retry_after = 0
    assert lazy.get() == "ready" and len(calls) == 2
    assert lazy.get() == "ready" and len(calls) == 2
