"""Browser tests: the studio served on loopback by uvicorn, driven by Playwright.

Playwright drives Debian's ``chromium`` (``executable_path``); ``playwright install`` is never
run. Tests skip when chromium or playwright is missing (``make test`` installs chromium).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.web import studio_models

# the small real models, built once per session: see tests/web/studio_models.py
studio_models_cache = studio_models.studio_models_cache
digit_classifier = studio_models.digit_classifier
movie_recommender = studio_models.movie_recommender

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """uvicorn serving an app in a background thread on 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the studio did not start within 20 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def tiny_mnist() -> tuple[np.ndarray, np.ndarray]:
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 4:24, 13:15] = 255
    images[1, 6:22, 6:22] = 255
    images[1, 9:19, 9:19] = 0
    return images, np.array([1, 0], np.int64)


# one browser per test file: Playwright's sync API keeps its event loop marked as running in the
# main thread while it is open, so a later test of the same worker calling asyncio.run() failed
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian chromium is not installed (make test installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def start_studio(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start a studio with the given services arguments; stopped after the test."""
    from convrec.settings import Settings
    from convrec.web import Services, create_app

    servers: list[LiveServer] = []

    def start(data_dir: Path | None = None, **service_args: Any) -> LiveServer:
        """``data_dir``: where the live trainer finds MNIST (else the embedded digits)."""
        settings = Settings(cache_dir=tmp_path / "cache", offline=True, data_dir=data_dir)
        service_args.setdefault("mnist", tiny_mnist())
        app = create_app(settings, Services(settings, **service_args),
                         database_url=f"sqlite:///{tmp_path / 'studio.db'}")
        server = LiveServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
