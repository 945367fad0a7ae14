"""``/api/movies``: search, one movie, similar movies, the bias and PCA views; and
``/api/me/recommendations``: recommendations folded in from your own ratings.

Every movie id is an id of the MovieLens release the studio serves (``convrec studio
--dataset``, default ML-100K); an unknown one is a 404 naming it. When that release is not
available every route here answers 503 with the fix (see
:func:`convrec.web.services.movies_missing`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from convrec.web.deps import CurrentUser, ServicesDep, call_services
from convrec.web.errors import field_error
from convrec.web.render import json_response
from convrec.web.routers.ratings import user_ratings
from convrec.web.schemas import (
    BiasesOut,
    BiasOut,
    MovieMatchOut,
    MovieOut,
    MovieSearchOut,
    RecommendationsOut,
    ScoredMovieOut,
    SimilarOut,
)
from convrec.web.services import Services, ServiceUnavailableError

if TYPE_CHECKING:
    from convrec.recsys.catalog import RecommenderLike, ScoredMovie

router = APIRouter(tags=["movies"])

MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A MovieLens movie id.")]
Count = Annotated[int, Query(ge=1, le=50, description="How many movies, 1 to 50.")]

#: The sizes of the movie map (each is drawn once, then served from memory).
MAP_SIZES = (25, 50, 100)

#: Explanation of a recommendation for someone who has rated nothing yet.
NO_RATINGS_YET = "liked by most who saw it (rate a few movies to make this list yours)"


def _movie(recommender: RecommenderLike, movie_id: int) -> MovieOut:
    """The movie with this id, or 404 naming the id."""
    try:
        info = recommender.catalog.get(movie_id)
    except KeyError:
        raise field_error(
            ["path", "movie_id"], movie_id,
            f"no movie has id {movie_id} (find ids with /api/movies/search?q=...)",
            status=404, kind="not_found",
        ) from None
    return MovieOut(
        movie_id=info.movie_id, title=info.title, year=info.year if info.year > 0 else None,
        genres=list(info.genres),
    )


def _scored(recommender: RecommenderLike, scored: ScoredMovie,
            explanation: str | None = None) -> ScoredMovieOut:
    """A :class:`convrec.recsys.ScoredMovie` with the movie's year and genres."""
    movie = _movie(recommender, scored.movie_id)
    return ScoredMovieOut(
        **movie.model_dump(), score=round(float(scored.score), 4),
        explanation=explanation or scored.explanation,
    )


@router.get("/api/movies/search", response_model=MovieSearchOut)
def search(
    q: Annotated[str, Query(min_length=1, max_length=100, description="A title, or part of "
                            "one; case, accents and punctuation are ignored.")],
    services: ServicesDep,
    n: Count = 10,
) -> MovieSearchOut:
    """Titles matching ``q``, best first (exact, then prefix, substring, fuzzy)."""
    recommender = services.recommender()
    try:
        hits = recommender.catalog.search(q, n=n)
    except ValueError as exc:
        raise field_error(["query", "q"], q, str(exc)) from exc
    results = [
        MovieMatchOut(**_movie(recommender, info.movie_id).model_dump(), match=round(score, 4))
        for info, score in hits
    ]
    return MovieSearchOut(query=q, results=results)


@router.get("/api/movies/biases", response_model=BiasesOut)
def biases(
    services: ServicesDep,
    n: Count = 10,
    min_ratings: Annotated[int, Query(ge=1, le=500, description="Only movies with at least "
                                      "this many ratings (rarely rated ones are noise).")] = 20,
) -> BiasesOut:
    """The movies with the lowest and the highest learned bias: rated worse (or better)
    than their viewers' tastes predict, as in chapter 8 of fastai's book."""
    from convrec.recsys.interpret import bias_extremes

    recommender = services.recommender()
    try:
        low, high = bias_extremes(recommender.model, recommender.catalog, n, min_ratings)
    except ValueError as exc:  # a model without item biases
        raise ServiceUnavailableError(f"no bias view: {exc}") from exc
    return BiasesOut(
        min_ratings=min_ratings,
        lowest=[BiasOut(title=t, bias=round(b, 4)) for t, b in low],
        highest=[BiasOut(title=t, bias=round(b, 4)) for t, b in high],
    )


@router.get(
    "/api/movies/map.png", response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "A PNG image."}},
)
def movie_map(
    services: ServicesDep,
    n: Annotated[int, Query(description="The n most-rated movies: 25, 50 or 100.",
                            json_schema_extra={"enum": list(MAP_SIZES)})] = 50,
) -> Response:
    """The most-rated movies placed by the first two principal components of their learned
    factors: movies liked by the same people land close together."""
    if n not in MAP_SIZES:  # each size is drawn once and kept: a few sizes, not any
        raise field_error(["query", "n"], n, "must be one of 25, 50 or 100")
    return Response(
        services.movie_map_png(n), media_type="image/png",
        headers={"Cache-Control": "private, max-age=600"},
    )


@router.get("/api/movies/{movie_id}", response_model=MovieOut)
def movie(movie_id: MovieId, services: ServicesDep) -> MovieOut:
    """One movie: title, year and genres."""
    return _movie(services.recommender(), movie_id)


@router.get("/api/movies/{movie_id}/similar", response_model=SimilarOut)
def similar(movie_id: MovieId, services: ServicesDep, n: Count = 10) -> SimilarOut:
    """The movies closest to this one (cosine similarity of their learned factors)."""
    recommender = services.recommender()
    this = _movie(recommender, movie_id)
    try:
        found = services.similar_movies(movie_id, n)
    except KeyError as exc:  # in the catalogue but never rated: the model has no vector
        raise field_error(
            ["path", "movie_id"], movie_id, f"movie {movie_id} has no ratings to compare by",
            status=404, kind="not_found",
        ) from exc
    return SimilarOut(movie=this, similar=[_scored(recommender, s) for s in found])


@router.get("/api/me/recommendations", response_model=RecommendationsOut)
async def recommendations(
    user: CurrentUser,
    request: Request,
    services: ServicesDep,
    n: Annotated[int, Query(ge=1, le=100, description="How many movies, 1 to 100.")] = 10,
) -> Response:
    """Movies for you, from your own ratings in the database (login required).

    Your ratings are *folded in* (a user vector solved against the fixed movie factors, in
    milliseconds, no retraining), so a new rating changes this list at once. Movies you rated
    are left out; each pick says which of your favourites it is closest to.
    """
    stored = user_ratings(request.app.state.db, user.id)
    return json_response(
        await call_services(services, _recommendations_for, services, user.id, stored, n))


def _recommendations_for(
    services: Services, user_id: int, stored: dict[int, float], n: int
) -> RecommendationsOut:
    """The top ``n`` for one user's stored ratings (those of movies the model knows)."""
    recommender = services.recommender()
    ratings = {m: float(r) for m, r in stored.items() if m in recommender.catalog}
    start = time.perf_counter()
    picks = services.recommend_for_ratings(ratings, n=n)
    elapsed_ms = (time.perf_counter() - start) * 1000
    explanation = None if ratings else NO_RATINGS_YET
    return RecommendationsOut(
        user_id=user_id, based_on=len(ratings), fold_in_ms=round(elapsed_ms, 2),
        recommendations=[_scored(recommender, p, explanation) for p in picks],
    )
