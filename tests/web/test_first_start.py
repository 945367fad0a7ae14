"""First start: the pages answer at once while the default models train in the background;
a route that needs a model still training answers 503 saying so, then works without a
restart once the model is saved. (The trainer itself is convrec.web.training.main.)"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from convrec.settings import Settings
from convrec.web import Services, create_app
from convrec.web.training import STATUS_FILE, missing_models, model_paths


def _trainer_says(cache: Path, classifier: str, recommender: str) -> None:
    """Write the status file as the background trainer (this process, alive) does."""
    cache.mkdir(parents=True, exist_ok=True)
    now = time.time()
    (cache / STATUS_FILE).write_text(json.dumps({"pid": os.getpid(), "models": {
        "classifier": {"state": classifier, "since": now - 12},
        "recommender": {"state": recommender, "since": now},
    }}))


def test_routes_say_what_is_training_and_come_alive_when_it_is_saved(
    tmp_path: Path, studio_models_cache: Path, digit_classifier: object
) -> None:
    from convrec.vision.predict import DEFAULT_CHECKPOINT

    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    assert missing_models(settings) == ["classifier", "recommender"]
    _trainer_says(settings.cache_dir, "training", "waiting")
    digits = (np.zeros((2, 28, 28), np.uint8), np.array([0, 1], np.int64))
    services = Services.defaults(settings, train=False)
    services._mnist.value = digits  # the picker's digits are not what this test is about
    app = create_app(settings, services, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with TestClient(app) as client:
        assert client.get("/").status_code == 200  # the pages work meanwhile
        status = client.get("/api/status").json()
        assert status["ready"] is False
        assert status["parts"]["classifier"]["state"] == "training"
        assert status["parts"]["classifier"]["seconds"] >= 12
        assert status["parts"]["recommender"]["state"] == "waiting"
        busy = client.post("/api/mnist/predict", json={"images": [{"mnist_index": 0}]})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert "being trained in the background" in busy.json()["detail"][0]["msg"]
        # the trainer saves the model (here: the small one the web tests share) ...
        saved = model_paths(settings)["classifier"]
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_bytes((studio_models_cache / "models" / DEFAULT_CHECKPOINT).read_bytes())
        _trainer_says(settings.cache_dir, "ready", "training")
        # ... and the next request loads it: no restart, no training inside a request
        assert client.get("/api/status").json()["parts"]["classifier"]["state"] == "ready"
        done = client.post("/api/mnist/predict", json={"images": [{"mnist_index": 0}]})
        assert done.status_code in (200, 422), done.text  # a blank digit may be refused
        assert done.status_code != 503


def test_without_a_trainer_a_missing_model_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    services = Services.defaults(settings, train=False)
    app = create_app(settings, services, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with TestClient(app) as client:
        response = client.get("/api/movies/1")
        assert response.status_code == 503
        assert "convrec movies train" in response.json()["detail"][0]["msg"]
        assert client.get("/api/status").json()["parts"]["recommender"]["state"] == "missing"


@pytest.mark.parametrize("text", ["null", "[]", '"ready"', '{"models": []}',
                                  '{"pid": 1, "models": {"classifier": 5}}'])
def test_a_status_file_that_is_not_the_trainers_object_reads_as_no_trainer(
    tmp_path: Path, text: str
) -> None:
    from convrec.web.training import read_status, training_message

    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / STATUS_FILE).write_text(text)
    assert read_status(settings) == {}
    assert training_message(settings, "classifier") is None


def test_api_status_answers_when_the_status_file_holds_null(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    settings.cache_dir.mkdir(parents=True)
    (settings.cache_dir / STATUS_FILE).write_text("null")
    app = create_app(settings, Services.defaults(settings, train=False),
                     database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with TestClient(app) as client:
        response = client.get("/api/status")
        assert response.status_code == 200, response.text
        assert response.json()["parts"]["classifier"]["state"] == "missing"
