"""The live training page: a run streams its steps, evaluations and colorful dimension as
server-sent events; one run at a time; cancellable; bad values named."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient


def events_of(client: TestClient, url: str) -> list[dict[str, object]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(line[6:]) for line in response.text.splitlines()
            if line.startswith("data: ") and line != "data: {}"]


def test_a_run_streams_steps_evals_and_histograms(client: TestClient) -> None:
    response = client.post("/api/training/runs", json={
        "model": "simple", "epochs": 1, "batch_size": 64, "n_train": 512, "lr": 0.06,
        "schedule": "one_cycle"})
    assert response.status_code == 201, response.text
    events = events_of(client, response.json()["events"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "status" and "start" in kinds and kinds[-1] == "done", kinds
    start = next(e for e in events if e["type"] == "start")
    assert start["total_steps"] == 8 and start["layers"][-1] == "4.0 Conv2d"
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 9))
    assert all(len(e["hist"]) == len(start["layers"]) and len(e["hist"][0]) == 40
               for e in steps)  # type: ignore[arg-type, index]
    lrs = [e["lr"] for e in steps]
    assert max(lrs) > lrs[0] and lrs[-1] < max(lrs)  # one-cycle: up, then down
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and 0 <= evals[-1]["valid_accuracy"] <= 1  # type: ignore[operator]
    assert [e["i"] for e in events] == list(range(len(events)))
    # a reader joining late gets the rest from `since`
    assert events_of(client, response.json()["events"] + "?since=3")[0]["i"] == 3


def test_one_run_at_a_time_and_cancel(client: TestClient) -> None:
    first = client.post("/api/training/runs", json={"model": "simple", "epochs": 3,
                                                    "batch_size": 8, "n_train": 4000})
    assert first.status_code == 201
    run_id = first.json()["run_id"]
    busy = client.post("/api/training/runs", json={})
    assert busy.status_code == 409 and "still training" in busy.text
    assert client.post(f"/api/training/runs/{run_id}/cancel").json() == {"cancelled": True}
    events = events_of(client, first.json()["events"])
    assert events[-1]["type"] == "done" and events[-1]["cancelled"] is True
    assert client.post(f"/api/training/runs/{run_id}/cancel").json() == {"cancelled": False}
    assert client.get(f"/api/training/runs/{run_id + 5}/events").status_code == 404


def test_bad_values_are_named(client: TestClient) -> None:
    for body, field in [({"lr": 5}, "lr"), ({"epochs": 10}, "epochs"),
                        ({"model": "resnet"}, "model"), ({"batch_size": "64"}, "batch_size")]:
        response = client.post("/api/training/runs", json=body)
        assert response.status_code == 422, response.text
        assert field in json.dumps(response.json()["detail"][0]["loc"]), response.text
    page = client.get("/training")
    assert page.status_code == 200 and 'id="c-dims"' in page.text
