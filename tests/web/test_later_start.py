"""A later start of the studio (issue 16, ``benchmarks/bench_studio_start.py``): a database at
the newest revision is not migrated again, the command's database check imports neither
Alembic nor FastAPI, a worker pins its thread pools without importing numba or torch, and it
serves while its models load, the recommender first; the command forks its workers after
importing the studio's modules once; the dummy password hash is made on first use."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.web.conftest import tiny_mnist

from convrec.settings import Settings
from convrec.web import Services, db


def _fresh_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON value, returned here."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_head_revision_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == db.HEAD_REVISION


def test_a_current_schema_is_not_migrated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    calls: list[object] = []
    real_migrate = db.migrate
    monkeypatch.setattr(db, "migrate", lambda target: (calls.append(target),
                                                       real_migrate(target))[1])
    db.check_database(url).dispose()  # a new database: migrated
    assert len(calls) == 1
    engine = db.check_database(url)  # at the head now: only looked at
    assert len(calls) == 1
    assert db.schema_revision(engine) == db.HEAD_REVISION
    engine.dispose()


def test_an_older_schema_is_still_migrated(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'studio.db'}"
    engine = db.make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
    assert db.schema_revision(engine) == "0002"
    db.check_database(url).dispose()
    assert db.schema_revision(engine) == db.HEAD_REVISION
    engine.dispose()


def test_the_commands_check_of_a_current_database_imports_no_alembic_nor_fastapi(
    tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    db.check_database(url).dispose()
    loaded = _fresh_python(
        "import json, sys\n"
        "from convrec.web.db import check_database\n"
        f"check_database({url!r}).dispose()\n"
        "print(json.dumps(sorted(m for m in ('alembic', 'fastapi', 'torch') "
        "if m in sys.modules)))")
    assert loaded == []


def test_pinning_a_worker_imports_neither_numba_nor_torch() -> None:
    loaded = _fresh_python(
        "import json, sys\n"
        "from convrec.web.services import pin_thread_pools\n"
        "pin_thread_pools(1)\n"
        "print(json.dumps(sorted(m for m in ('numba', 'torch') if m in sys.modules)))")
    assert loaded == []


def test_pinning_still_reaches_numba_when_it_is_loaded() -> None:
    threads = _fresh_python(
        "import json, numba\n"
        "from convrec.web.services import pin_thread_pools\n"
        "pin_thread_pools(1)\n"
        "print(json.dumps(numba.get_num_threads()))")
    assert threads == 1


def test_the_dummy_password_hash_is_made_on_first_use_not_at_import() -> None:
    made = _fresh_python(
        "import json\n"
        "from convrec.web import security\n"
        "before = security.dummy_hash.cache_info().currsize\n"
        "unknown = security.verify_password(None, 'any password at all')\n"
        "print(json.dumps([before, unknown, security.dummy_hash.cache_info().currsize]))")
    assert made == [0, False, 1]


def _wait_until(condition: Any, what: str) -> None:
    """Poll ``condition()`` (a thread of the app is loading); fail naming ``what``."""
    for _ in range(3000):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"{what} never happened")


def test_a_worker_serves_while_its_models_load_the_recommender_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, movie_recommender: Any,
    digit_classifier: Any,
) -> None:
    import convrec.web.app as app_module
    import convrec.web.services as services_module

    torch_free = threading.Event()  # the classifier's load (torch) waits for the test
    loaded: list[str] = []

    def load_classifier() -> Any:
        torch_free.wait(60)
        loaded.append("classifier")
        return digit_classifier

    def load_recommender() -> Any:
        loaded.append("recommender")
        return movie_recommender

    settings = Settings(cache_dir=tmp_path / "cache", offline=True)
    services = Services(settings, load_classifier=load_classifier,
                        load_recommender=load_recommender, mnist=tiny_mnist())
    monkeypatch.setattr(Services, "defaults", classmethod(lambda _cls, *_a, **_k: services))
    monkeypatch.setattr(services_module, "pin_thread_pools", lambda _threads=1: None)
    frozen = threading.Event()
    monkeypatch.setattr(app_module, "freeze_loaded_objects", lambda: frozen.set() or 0)
    monkeypatch.setenv("CONVREC_CACHE", str(settings.cache_dir))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'studio.db'}")
    monkeypatch.delenv("CONVREC_STUDIO_LAZY", raising=False)
    try:
        with TestClient(app_module.studio_app()) as client:
            assert client.get("/").status_code == 200  # the classifier is not loaded yet
            _wait_until(lambda: services.status()["recommender"], "the recommender's load")
            assert loaded == ["recommender"]  # before the classifier (torch), not after
            similar = client.get("/api/movies/50/similar?n=3")
            assert similar.status_code == 200, similar.text
            assert not services.status()["classifier"]
            torch_free.set()
            _wait_until(frozen.is_set, "the end of the warm-up")
            assert loaded == ["recommender", "classifier"]
            predicted = client.post("/api/mnist/predict", json={"images": [{"mnist_index": 0}]})
            assert predicted.status_code in (200, 422), predicted.text  # 422: "no digit"
    finally:
        torch_free.set()


def _connections_held_by(workers: set[int], port: int, count: int) -> dict[int, int]:
    """Open ``count`` keep-alive connections at once, have each answered once, and count
    the server ends each worker holds (while the connections are still open)."""
    import socket

    import psutil

    clients = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    try:
        for client in clients:
            client.sendall(b"GET /static/common.js HTTP/1.1\r\nHost: x\r\n\r\n")
        for client in clients:  # answered: accepted by some worker
            assert client.recv(64).startswith(b"HTTP/1.1 200"), "no answer"
        ours = {c.getsockname()[1] for c in clients}
        return {pid: sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
                         if c.laddr and c.laddr.port == port and c.raddr
                         and c.raddr.port in ours)
                for pid in workers}
    finally:
        for client in clients:
            client.close()


def test_the_studio_command_forks_its_workers_they_share_the_connections_and_serve(
    tmp_path: Path, studio_models_cache: Path, digit_classifier: Any, movie_recommender: Any,
    shared_data: Path,
) -> None:
    """``convrec studio --workers 2``: the workers are forked from the command (which imported
    the studio's modules once), not spawned afresh; a burst of keep-alive connections is
    dealt between them (asyncio alone let one worker take all 50 of a load test's), both
    serve, and Ctrl+C stops them all."""
    import os
    import shutil
    import signal

    import httpx
    from tests.web.studio_processes import free_port

    from convrec.web.training import missing_models

    cache = tmp_path / "cache"
    shutil.copytree(studio_models_cache / "models", cache / "models")
    assert missing_models(Settings(cache_dir=cache, offline=True)) == []  # nothing trains
    trace = tmp_path / "trace"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVREC_")}
    env.update(CONVREC_CACHE=str(cache), CONVREC_OFFLINE="1", CONVREC_START_TRACE=str(trace),
               CONVREC_DATA=str(shared_data),
               DATABASE_URL=f"sqlite:///{tmp_path / 'studio.db'}")
    port = free_port()
    with (tmp_path / "studio.log").open("wb") as log:
        studio = subprocess.Popen(
            [sys.executable, "-m", "convrec", "studio", "--port", str(port), "--workers", "2"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    workers: set[int] = set()
    try:
        def answers() -> bool:
            assert studio.poll() is None, (tmp_path / "studio.log").read_text()
            try:
                return httpx.get(base + "/", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(answers, "the first page")
        similar = httpx.get(base + "/api/movies/50/similar?n=3", timeout=60)
        assert similar.status_code == 200, similar.text
        def worker_pids() -> set[int]:
            rows = [line.split() for line in trace.read_text().splitlines()]
            return {int(row[1]) for row in rows if row[2] == "worker"}

        _wait_until(lambda: len(worker_pids()) == 2, "two workers in the trace")
        workers = worker_pids()
        command = Path(f"/proc/{studio.pid}/cmdline").read_bytes()
        for pid in workers:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            assert parent == studio.pid
            # forked: the command's own command line (a spawned one runs multiprocessing's)
            assert Path(f"/proc/{pid}/cmdline").read_bytes() == command
        # each worker's warm-up imports torch, holding its loop for a while: not a fair start
        _wait_until(lambda: trace.read_text().count("warm-up done") == 2, "both warm-ups")
        held = _connections_held_by(workers, port, count=20)
        assert sum(held.values()) == 20, held
        assert min(held.values()) >= 5, f"connections per worker: {held}"
    finally:
        if studio.poll() is None:
            os.killpg(studio.pid, signal.SIGINT)  # Ctrl+C
        try:
            studio.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(studio.pid, signal.SIGKILL)
            studio.wait()
            raise AssertionError("Ctrl+C did not stop the studio") from None
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived the command"
