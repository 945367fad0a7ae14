"""The studio and its API serve the release named by ``--dataset`` (``CONVREC_DATASET``):
its recommender, its titles and search, and its rating scale (half stars for the later
MovieLens releases, integers 1-5 for ML-100K). Checked on a small release written in
ml-latest-small's layout (the fixture of ``tests/recsys/test_releases.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.cli.helpers import run_cli
from tests.recsys.test_releases import write_release

from convrec.data.movielens import DEFAULT_RELEASE, load_movielens, release
from convrec.recsys import Ratings
from convrec.recsys.catalog import default_model_path, provenance_for
from convrec.recsys.registry import model_spec
from convrec.settings import Settings
from convrec.web import Services
from convrec.web.services import DEFAULT_DATASET, movies_missing

SMALL = "ml-latest-small"


@pytest.fixture(scope="module")
def small_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a studio started with ``--dataset ml-latest-small --data-dir ROOT``, whose
    default model for that release is saved in its cache (an explicit ALS, trained here)."""
    root = tmp_path_factory.mktemp("small-release")
    write_release(root)
    settings = Settings(cache_dir=root / "cache", offline=True, data_dir=root,
                        data_dir_origin="CONVREC_DATA", dataset=SMALL)
    data = load_movielens(SMALL, settings=settings)
    model = model_spec("explicit-als").create(progress=False)
    model.fit(Ratings.from_raw(data.ratings, None, data.movies.ids))
    layout = release(SMALL).ratings
    assert layout is not None
    model.save(default_model_path(settings, SMALL), provenance_for(SMALL, data.movies,
                                                                    layout.scale))
    return settings


@pytest.fixture
def small_client(make_client: Callable[..., TestClient], small_settings: Settings) -> TestClient:
    return make_client(services=Services.defaults(small_settings))


def test_titles_and_search_come_from_the_served_release(small_client: TestClient) -> None:
    # id 318 is The Shawshank Redemption here and Schindler's List in ML-100K
    assert small_client.get("/api/movies/318").json()["title"] == \
        "Shawshank Redemption, The (1994)"
    hits = small_client.get("/api/movies/search", params={"q": "amelie"}).json()["results"]
    assert hits[0]["movie_id"] == 4973 and hits[0]["title"].startswith("Amélie")
    assert small_client.get("/api/movies/1682").status_code == 404  # an ML-100K-only id
    status = small_client.get("/api/status").json()
    assert (status["dataset"], status["rating_scale"]) == (SMALL, "half stars 0.5-5")


def test_half_stars_are_taken_and_stored(small_client: TestClient, signup: Any) -> None:
    me = signup(small_client, "halfstar")["user"]["id"]
    base = f"/api/users/{me}/ratings"
    for movie, stars in ((318, 4.5), (4973, 0.5), (1, 3)):
        put = small_client.put(f"{base}/{movie}", json={"rating": stars})
        assert put.status_code == 200 and put.json()["rating"] == stars, put.text
    listed = {r["movie_id"]: r["rating"] for r in small_client.get(base).json()["data"]}
    assert listed == {318: 4.5, 4973: 0.5, 1: 3}
    picks = small_client.get("/api/me/recommendations", params={"n": 3}).json()
    assert picks["based_on"] == 3 and len(picks["recommendations"]) == 3
    assert not {318, 4973, 1} & {p["movie_id"] for p in picks["recommendations"]}
    for bad in (4.3, 0, 5.5):
        response = small_client.put(f"{base}/318", json={"rating": bad})
        assert response.status_code == 422, (bad, response.text)
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", "rating"]
    off_step = small_client.put(f"{base}/318", json={"rating": 4.3}).json()["detail"][0]
    assert "half stars 0.5-5" in off_step["msg"] and f"scale of {SMALL}" in off_step["msg"]


def test_ml100k_keeps_whole_stars(client: TestClient, signup: Any) -> None:
    """The default release (the tiny ML-100K catalogue of conftest): 3.5 is refused, naming
    the scale; whole stars are stored as given."""
    me = signup(client, "wholestar")["user"]["id"]
    response = client.put(f"/api/users/{me}/ratings/50", json={"rating": 3.5})
    assert response.status_code == 422
    assert "integers 1-5" in response.json()["detail"][0]["msg"]
    assert client.put(f"/api/users/{me}/ratings/50", json={"rating": 4}).json()["rating"] == 4
    status = client.get("/api/status").json()
    assert (status["dataset"], status["rating_scale"]) == ("ml-100k", "integers 1-5")


def test_a_missing_release_answers_503_naming_it(make_client: Callable[..., TestClient],
                                                 tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", offline=True, dataset="ml-1m")
    response = make_client(services=Services.defaults(settings)).get("/api/movies/1")
    assert response.status_code == 503
    message = response.json()["detail"][0]["msg"]
    assert message.startswith(movies_missing("ml-1m"))
    assert "`convrec movies download ml-1m`" in message and "holding ml-1m/" in message
    assert "neither --data-dir nor CONVREC_DATA is set" in message  # where it looked


def test_the_studio_default_release_is_the_library_default() -> None:
    assert DEFAULT_DATASET == DEFAULT_RELEASE


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--dataset", "ml-99k"], None, "--dataset ml-99k is not a MovieLens release; use one of "),
    ([], "ml-typo", "CONVREC_DATASET=ml-typo is not a MovieLens release"),
])
def test_the_studio_refuses_an_unknown_release_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    args: list[str], env: str | None, message: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("CONVREC_DATASET", env)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'studio.db'}")
    code, _, err = run_cli(["studio", *args], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert SMALL in err  # the releases it may be


def test_the_studio_command_hands_its_release_to_the_workers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """``convrec studio --dataset`` reaches the worker's services through the environment
    (uvicorn starts workers afresh), and its start line names the release."""
    import uvicorn

    import convrec.web.services
    import convrec.web.training

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    monkeypatch.setattr(convrec.web.training, "start_background_training", lambda _s: None)
    # a serving worker pins numba, BLAS and torch to one thread for good: not this process
    monkeypatch.setattr(convrec.web.services, "pin_thread_pools", lambda _threads=1: None)
    for name in ("CONVREC_DATASET", "CONVREC_STUDIO_LAZY", "DATABASE_URL", "CONVREC_CACHE"):
        monkeypatch.setenv(name, "")  # whatever the command sets is undone after the test
    monkeypatch.setenv("CONVREC_CACHE", str(tmp_path / "cache"))
    code, out, err = run_cli(["studio", "--dataset", SMALL, "--workers", "1", "--lazy",
                              "--database-url", f"sqlite:///{tmp_path / 'studio.db'}"], capsys)
    assert code == 0, err
    assert f"movies from {SMALL}" in " ".join(out.split())
    (app,) = served
    assert app.state.services.dataset == SMALL
    assert app.state.services.release_scale().describe() == "half stars 0.5-5"
