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
            "/api/auth/signup", json={"username": "fuzzer", "password": "a fuzzing passphrase"}
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


# ---------------------------------------------------------------- hand-picked bad bodies
#: (path, raw body, the ``loc`` the 422 must name, or begin with). ``{me}``: the user's id.
BAD_BODIES = [
    ("/api/users/{me}/ratings/50", b'{"rating": NaN}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": Infinity}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": -Infinity}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": 1e309}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": "3"}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": true}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": 3.5}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b'{"rating": [3]}', ["body", "rating"]),
    ("/api/users/{me}/ratings/50", b"\xff\xfe\x00garbage", ["body"]),
    ("/api/users/{me}/ratings/50", b'{"rating": 3', ["body", 12]),
    ("/api/conv/apply", b'{"image": {"pixels": [[1, NaN], [1, 2]]}, '
     b'"kernels": [{"name": "top_edge"}]}', ["body", "image", "pixels", 0, 1]),
    ("/api/conv/apply", b'{"image": {"pixels": [[1, 1e309]]}, "kernels": [{"name": "top_edge"}]}',
     ["body", "image", "pixels", 0, 1]),
    ("/api/conv/apply", b'{"image": {"mnist_index": 0}, "kernels": [{"values": [[NaN]]}]}',
     ["body", "kernels", 0, "values", 0, 0]),
    ("/api/conv/apply", b'{"image": {"mnist_index": 0}, "kernels": [{"values": [[-1e400]]}]}',
     ["body", "kernels", 0, "values", 0, 0]),
    ("/api/conv/apply", b'{"image": {"mnist_index": "0"}, "kernels": [{"name": "top_edge"}]}',
     ["body", "image", "mnist_index"]),
    ("/api/conv/apply", b'{"image": {"mnist_index": 0}, "kernels": [{"name": "top_edge"}], '
     b'"stride": true}', ["body", "stride"]),
    ("/api/conv/apply", '{"image": {"mnist_index": 0}, "kernels": [{"name": "top_édge"}]}'
     .encode("latin-1"), ["body"]),
    ("/api/mnist/predict", b'{"images": [{"pixels": [[0, Infinity]]}]}',
     ["body", "images", 0, "pixels", 0, 1]),
    ("/api/auth/login", b'{"username": 5, "password": "long enough pass"}',
     ["body", "username"]),
    ("/api/auth/signup", b"\x80\x81\x82", ["body"]),
]


@pytest.mark.parametrize(("path", "raw", "loc"), BAD_BODIES)
def test_bad_bodies_are_422_naming_the_field(client, signup, path: str, raw: bytes,
                                             loc: list[Any]) -> None:
    """Non-finite numbers, coerced types, broken JSON, bytes that are not UTF-8: 422 with
    the field, never a 500 (the echoed input must itself be valid JSON)."""
    me = signup(client, "strict")["user"]["id"]
    method = "PUT" if "/ratings/" in path else "POST"
    response = client.request(method, path.format(me=me), content=raw,
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    first = response.json()["detail"][0]
    assert first["loc"][: len(loc)] == loc and first["msg"], first
    if "/ratings/" in path:  # and nothing was stored
        assert client.get(f"/api/users/{me}/ratings").json()["count"] == 0


@pytest.mark.parametrize("content_type", [
    "multipart/form-data; boundary=xyz", "multipart/form-data",
    "multipart/form-data; boundary=\"\"",
])
def test_malformed_multipart_is_422(client, content_type: str) -> None:
    response = client.post("/api/mnist/predict/upload", content=b"\xff\xfe not multipart",
                           headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_over_limit_bodies_are_413_however_sent(make_client) -> None:
    from convrec.settings import Limits

    client = make_client(limits=Limits(max_upload_bytes=1_000))

    def chunks() -> Any:  # no Content-Length: Transfer-Encoding chunked
        for _ in range(100):
            yield b"x" * 1_000

    sent = [
        client.post("/api/conv/apply", content=b"x" * 200_000,
                    headers={"content-type": "application/json"}),
        client.post("/api/conv/apply", content=chunks(),
                    headers={"content-type": "application/json"}),
        client.post("/api/mnist/predict/upload", content=chunks(),
                    headers={"content-type": "multipart/form-data; boundary=xyz"}),
        client.post("/api/mnist/predict/upload", files={"file": ("big.png", b"\x89" * 90_000)}),
    ]
    for response in sent:
        assert response.status_code == 413, response.text
        assert "over the limit" in response.json()["detail"][0]["msg"]
