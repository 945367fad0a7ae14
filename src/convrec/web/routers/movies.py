"""``/api/movies``: search, one movie, similar movies, recommendations, bias and PCA views."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/movies", tags=["movies"])
