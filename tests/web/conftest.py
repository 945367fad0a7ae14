"""Fixtures for the studio: an app on a temporary SQLite database with small services.

No real dataset is read here: the MNIST digits and the movie catalogue are made below.
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

from convrec.settings import Limits, Settings
from convrec.web import Services, create_app

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

    def build(limits: Limits | None = None, **service_args: Any) -> TestClient:
        settings = Settings(cache_dir=tmp_path / "cache", offline=True, limits=limits or Limits())
        service_args.setdefault("mnist", tiny_mnist())
        service_args.setdefault("movie_titles", TITLES.get)
        app = create_app(settings, Services(settings, **service_args))
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
