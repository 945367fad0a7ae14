"""Schemathesis fuzzes every operation of the app's own OpenAPI schema: never a 500.

The studio fuzzed here serves the real (small) digit classifier and, when the shared ML-100K
is available, the real recommender. Without it the movie routes must answer 503 with the
fix, and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from tests.web.studio_models import (  # noqa: E402
    build_classifier,
    build_recommender,
    models_cache,
)

from convrec.settings import Limits, Settings  # noqa: E402
from convrec.web import Services, create_app  # noqa: E402
from convrec.web.services import MOVIES_MISSING  # noqa: E402

#: The routes of the digit reader and the movies that the fuzzing must reach.
NEW_ROUTES = {
    ("POST", "/api/mnist/predict"), ("POST", "/api/mnist/predict/upload"),
    ("GET", "/api/movies/search"), ("GET", "/api/movies/{movie_id}"),
    ("GET", "/api/movies/{movie_id}/similar"), ("GET", "/api/me/recommendations"),
    ("GET", "/api/movies/biases"), ("GET", "/api/movies/map.png"),
}
MOVIE_PATHS = ("/api/movies", "/api/me/", "/api/users/")


@pytest.fixture(scope="module")
def studio(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Any, dict[str, str], bool]:
    import numpy as np
    from fastapi.testclient import TestClient

    cache: Path = tmp_path_factory.mktemp("fuzz")
    # small limits keep generated requests cheap; the limits are then fuzzed too
    conf = Settings(cache_dir=cache, offline=True, limits=Limits(
        max_upload_bytes=200_000, max_image_pixels=100_000, max_kernel_size=9, max_batch=8,
    ))
    digits = (np.zeros((2, 28, 28), np.uint8), np.array([0, 1], np.int64))
    models = models_cache(tmp_path_factory)
    try:
        data: Path | None = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        data = None
    recommender = None
    if data is not None and (data / "ml-100k").is_dir():
        recommender = build_recommender(data, models)
    services = Services(
        conf, mnist=digits, classifier=build_classifier(models), recommender=recommender,
        load_recommender=None if recommender is not None else _missing,
    )
    app = create_app(conf, services)
    with TestClient(app) as client:
        token = client.post(
            "/api/auth/signup", json={"username": "fuzzer", "password": "fuzzer password"}
        ).json()["token"]
        if recommender is not None:  # some ratings, so that recommendations fold them in
            me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            for movie in (1, 50, 181):
                client.put(f"/api/users/{me.json()['id']}/ratings/{movie}", json={"rating": 4},
                           headers={"Authorization": f"Bearer {token}"})
    return app, {"Authorization": f"Bearer {token}"}, recommender is not None


def _missing() -> Any:
    from convrec.web.services import ServiceUnavailableError

    raise ServiceUnavailableError(MOVIES_MISSING)


@pytest.fixture(scope="module")
def api_schema(studio: tuple[Any, dict[str, str], bool]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", studio[0])


def test_no_server_errors(api_schema: Any, studio: tuple[Any, dict[str, str], bool]) -> None:
    """Every operation, 15 generated requests each (bounded, derandomized): status < 500.

    Without ML-100K the movie routes (and rating writes, which check the movie id) may
    answer 503, and only with the fix.
    """
    from hypothesis import given

    _, headers, with_movies = studio
    operations = [result.ok() for result in api_schema.get_all_operations()]
    covered = {(op.method.upper(), op.path) for op in operations}
    assert covered >= NEW_ROUTES, NEW_ROUTES - covered
    assert len(operations) >= 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers={} if case.path == "/api/auth/logout" else headers)
            if (response.status_code == 503 and not with_movies
                    and case.path.startswith(MOVIE_PATHS)):
                assert response.json()["detail"][0]["msg"].startswith(MOVIES_MISSING)
                return
            assert response.status_code < 500, (case.method, case.path, response.text[:500])

        check()
