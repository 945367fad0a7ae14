"""Schemathesis fuzzes every operation of the app's own OpenAPI schema: never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from convrec.settings import Limits, Settings  # noqa: E402
from convrec.web import Services, create_app  # noqa: E402


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    import numpy as np
    from fastapi.testclient import TestClient

    cache: Path = tmp_path_factory.mktemp("fuzz")
    # small limits keep generated requests cheap; the limits are then fuzzed too
    conf = Settings(cache_dir=cache, offline=True, limits=Limits(
        max_upload_bytes=200_000, max_image_pixels=100_000, max_kernel_size=9, max_batch=8,
    ))
    digits = (np.zeros((2, 28, 28), np.uint8), np.array([0, 1], np.int64))
    app = create_app(conf, Services(conf, mnist=digits, movie_titles={1: "Toy Story"}.get))
    with TestClient(app) as client:
        token = client.post(
            "/api/auth/signup", json={"username": "fuzzer", "password": "fuzzer password"}
        ).json()["token"]
    return app, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(studio: tuple[Any, dict[str, str]]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", studio[0])


def test_no_server_errors(api_schema: Any, studio: tuple[Any, dict[str, str]]) -> None:
    """Every operation, 15 generated requests each (bounded, derandomized): status < 500."""
    from hypothesis import given

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            headers = {} if case.path == "/api/auth/logout" else studio[1]
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text[:500])

        check()
