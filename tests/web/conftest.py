"""Fixtures for the studio: an app on a temporary SQLite database with small services.

The MNIST digits and the small movie catalogue of the rating tests are made below. The digit
reader and movie tests use real, small models built once per session
(:mod:`tests.web.studio_models`); the recommender needs the ``shared_data`` ML-100K.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.web import studio_models

from convrec.settings import Limits, Settings
from convrec.web import Services, create_app

# the small real models, built once per session (shared with tests/e2e): see studio_models.py
studio_models_cache = studio_models.studio_models_cache
digit_classifier = studio_models.digit_classifier
movie_recommender = studio_models.movie_recommender

#: A tiny movie catalogue for rating tests (the real one comes from convrec.recsys).
TITLES = {1: "Toy Story (1995)", 2: "GoldenEye (1995)", 3: "Four Rooms (1995)",
          50: "Star Wars (1977)", 181: "Return of the Jedi (1983)"}


def tiny_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Three 28×28 "digits" made here: a vertical bar (1), a square ring (0), a blank."""
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 4:24, 13:15] = 255
    images[1, 6:22, 6:22] = 255
    images[1, 9:19, 9:19] = 0
    return images, np.array([1, 0, 5], np.int64)


def png_b64(pixels: np.ndarray) -> str:
    """A PNG file of ``pixels`` ((H, W) gray or (H, W, 3) colour) as base64."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def signup(client: TestClient, username: str, password: str = "correct horse") -> dict[str, Any]:
    """Sign up; returns the TokenOut body (the client also keeps the cookie)."""
    response = client.post("/api/auth/signup", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build clients on one fresh database; ``limits=`` and service arguments may be given."""
    clients: list[TestClient] = []

    def build(
        limits: Limits | None = None, services: Services | None = None, **service_args: Any
    ) -> TestClient:
        """A client; ``services`` (built by the caller) wins over ``service_args``. With a
        ``recommender``, titles come from its catalogue instead of the tiny one above."""
        settings = Settings(cache_dir=tmp_path / "cache", offline=True, limits=limits or Limits())
        if services is None:
            service_args.setdefault("mnist", tiny_mnist())
            if "recommender" not in service_args:
                service_args.setdefault("movie_titles", TITLES.get)
            services = Services(settings, **service_args)
        app = create_app(settings, services, database_url=f"sqlite:///{tmp_path / 'studio.db'}")
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(name="png_b64")
def _png_b64() -> Callable[[np.ndarray], str]:
    return png_b64


@pytest.fixture(name="signup")
def _signup() -> Callable[..., dict[str, Any]]:
    return signup


@pytest.fixture
def digits_client(make_client: Callable[..., TestClient], digit_classifier: Any) -> TestClient:
    """A studio serving the (small, real) digit classifier."""
    return make_client(classifier=digit_classifier)


@pytest.fixture
def movies_client(make_client: Callable[..., TestClient], movie_recommender: Any) -> TestClient:
    """A studio serving the (small, real) ML-100K recommender; skips without shared data."""
    return make_client(recommender=movie_recommender)
