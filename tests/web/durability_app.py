"""The studio the SIGKILL tests run under uvicorn workers: ``uvicorn
tests.web.durability_app:app --factory --workers N`` (settings from the environment)."""

from __future__ import annotations

from fastapi import FastAPI

from convrec.settings import get_settings
from convrec.web import Services, create_app


def app() -> FastAPI:
    """A studio whose movie ids 1..100000 all exist (no dataset needed)."""
    settings = get_settings()
    services = Services(settings, movie_titles=lambda i: f"movie {i}" if i <= 100000 else None)
    return create_app(settings, services)
