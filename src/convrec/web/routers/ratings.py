"""``/api/users/{user_id}/ratings``: a user's own movie ratings (create, read, update, delete).

Only the owner may touch them: another logged-in user gets 403, an anonymous client 401.
Every write is committed before the answer is sent, so an acknowledged rating is durable.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from convrec.web.db import Database
from convrec.web.deps import CurrentUser, ServicesDep, SessionDep, call_services
from convrec.web.errors import field_error
from convrec.web.models import Rating
from convrec.web.render import json_response
from convrec.web.schemas import RatingIn, RatingOut, RatingsOut
from convrec.web.security import SessionUser
from convrec.web.services import Services, ServiceUnavailableError

router = APIRouter(prefix="/api/users/{user_id}/ratings", tags=["ratings"])

UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Your user id (see /api/auth/me).")]
MovieId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A MovieLens movie id.")]


def own(user: SessionUser, user_id: int) -> None:
    """403 unless ``user_id`` is the logged-in user's own id."""
    if user.id != user_id:
        raise field_error(
            ["path", "user_id"], user_id,
            "you can only read and change your own ratings", status=403, kind="forbidden",
        )


def known_movie(services: Services, movie_id: int) -> str:
    """The title of ``movie_id``, or 404 naming the id."""
    title = services.movie_title(movie_id)
    if title is None:
        raise field_error(
            ["path", "movie_id"], movie_id, "no movie has this id (search with /api/movies)",
            status=404, kind="not_found",
        )
    return title


def on_scale(services: Services, rating: float) -> float:
    """``rating`` when the served release allows it (ML-100K: integers 1 to 5; the later
    releases: half stars 0.5 to 5), else 422 naming the allowed values."""
    try:
        return services.check_rating(rating)
    except ValueError as exc:
        raise field_error(["body", "rating"], rating,
                          f"{exc} (the scale of {services.dataset})") from None


def title_or_none(services: Services, movie_id: int) -> str | None:
    """The title for display; ``None`` when the movie metadata cannot be loaded (reading
    your own ratings still works without the dataset)."""
    try:
        return services.movie_title(movie_id)
    except ServiceUnavailableError:
        return None


#: One user's ratings (the recommender's input).
USER_RATINGS = select(Rating.movie_id, Rating.rating).where(
    Rating.user_id == bindparam("user_id"))
#: One user's ratings as the list shows them, newest first.
USER_RATINGS_NEWEST_FIRST = (
    select(Rating.movie_id, Rating.rating, Rating.updated_at)
    .where(Rating.user_id == bindparam("user_id"))
    .order_by(Rating.updated_at.desc(), Rating.id.desc())
)


def user_ratings(database: Database, user_id: int) -> dict[int, float]:
    """``{movie_id: rating}`` of one user, from the database (one read, inline)."""
    return {movie_id: rating for movie_id, rating in database.read(USER_RATINGS, user_id=user_id)}


def titles_or_none(services: Services, movie_ids: list[int]) -> list[str | None]:
    """:func:`title_or_none` of each id, in order."""
    return [title_or_none(services, movie_id) for movie_id in movie_ids]


@router.get("", response_model=RatingsOut)
async def list_ratings(
    user_id: UserId, user: CurrentUser, request: Request, services: ServicesDep
) -> Response:
    """Your ratings, newest first."""
    own(user, user_id)
    rows = request.app.state.db.read(USER_RATINGS_NEWEST_FIRST, user_id=user_id)
    titles = await call_services(services, titles_or_none, services, [r[0] for r in rows])
    data = [
        RatingOut(movie_id=movie_id, rating=rating, title=title, updated_at=updated_at)
        for (movie_id, rating, updated_at), title in zip(rows, titles, strict=True)
    ]
    return json_response(RatingsOut(data=data, count=len(data)))


@router.get("/{movie_id}", response_model=RatingOut)
def get_rating(
    user_id: UserId, movie_id: MovieId, user: CurrentUser, session: SessionDep,
    services: ServicesDep,
) -> RatingOut:
    """Your rating of one movie (404 if you have not rated it)."""
    own(user, user_id)
    row = session.scalar(
        select(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )
    if row is None:
        raise field_error(
            ["path", "movie_id"], movie_id, "you have not rated this movie", status=404,
            kind="not_found",
        )
    return RatingOut(
        movie_id=movie_id, rating=row.rating, title=title_or_none(services, movie_id),
        updated_at=row.updated_at,
    )


def checked_rating(services: Services, movie_id: int, rating: float) -> tuple[str, float]:
    """The movie's title and the rating on the release's scale (404 / 422 otherwise)."""
    return known_movie(services, movie_id), on_scale(services, rating)


@router.put("/{movie_id}", response_model=RatingOut)
async def put_rating(
    user_id: UserId, movie_id: MovieId, body: RatingIn, user: CurrentUser, request: Request,
    services: ServicesDep,
) -> Response:
    """Rate a movie on the served release's scale: integers 1 to 5 for ml-100k, half stars
    0.5 to 5 for the later releases (creates or replaces your rating)."""
    own(user, user_id)
    title, rating = await call_services(services, checked_rating, services, movie_id,
                                        body.rating)
    now = int(time.time())

    def upsert(connection: Connection) -> None:  # the same row when repeated (see write)
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(Rating)
            .values(user_id=user_id, movie_id=movie_id, rating=rating, updated_at=now)
            .on_conflict_do_update(index_elements=["user_id", "movie_id"],
                                   set_={"rating": rating, "updated_at": now})
        )

    # committed with the other writes that arrive meanwhile (a group commit), durable on return
    await request.app.state.db.write(upsert)
    return json_response(RatingOut(movie_id=movie_id, rating=rating, title=title,
                                   updated_at=now))


@router.delete("/{movie_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rating(
    user_id: UserId, movie_id: MovieId, user: CurrentUser, session: SessionDep
) -> Response:
    """Remove your rating of a movie (404 if there was none)."""
    own(user, user_id)
    result = session.execute(
        delete(Rating).where(Rating.user_id == user_id, Rating.movie_id == movie_id)
    )
    session.commit()
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise field_error(
            ["path", "movie_id"], movie_id, "you have not rated this movie", status=404,
            kind="not_found",
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
