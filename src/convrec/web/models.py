"""Tables of the studio: users, their login tokens and their movie ratings.

Times are integer Unix seconds (portable between SQLite and PostgreSQL, no time zones).
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AuthToken", "Base", "LoginFailure", "Rating", "User"]


class Base(DeclarativeBase):
    """Declarative base of every studio table."""


class User(Base):
    """An account. ``password_hash`` is an argon2id hash (never the password).

    ``username`` is shown as the user typed it (after NFKC); ``username_key`` is its NFKC
    case fold, unique, so that ``alice``, ``ALICE`` and fullwidth ``ａｌｉｃｅ`` are one account.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    username_key: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)


class AuthToken(Base):
    """A login session. Only the sha256 of the token is stored: a leaked table logs no one in."""

    __tablename__ = "auth_tokens"
    __table_args__ = (Index("ix_auth_tokens_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[int] = mapped_column(Integer, nullable=False)


class Rating(Base):
    """One user's rating of one MovieLens movie (0.5 to 5 stars; the served release's scale,
    integers or half stars, is checked by the API); one row per (user, movie)."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id", name="uq_ratings_user_movie"),
        CheckConstraint("rating >= 0.5 AND rating <= 5", name="ck_ratings_range"),
        Index("ix_ratings_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    movie_id: Mapped[int] = mapped_column(Integer, nullable=False)
    rating: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[int] = mapped_column(Integer, nullable=False)


class LoginFailure(Base):
    """Failed log-ins under one key (``account:<username key>`` or ``address:<client ip>``),
    kept in the database so that every worker and machine sees the same count."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[int] = mapped_column(Integer, nullable=False)
