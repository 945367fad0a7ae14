"""First start in seconds: the default models train in a background process.

On a fresh machine the studio has no saved digit classifier and no saved recommender.
Instead of training them before serving (minutes, with a terminal progress bar as the only
sign), ``convrec studio`` starts :func:`start_background_training` and serves at once:

- one process (``python -m convrec.web.training``) trains what is missing, through the
  same ``get_default_*`` functions the CLI uses (which save atomically into the cache), and
  writes what it is doing to ``<cache>/studio-training.json`` (:func:`read_status`);
- a file lock (``<cache>/studio-training.lock``) makes it one process however many studios
  or workers start;
- the workers never train (:meth:`convrec.web.services.Services.defaults` with
  ``train=False``): a route that needs a model still training answers 503 saying so, with
  ``Retry-After``; ``GET /api/status`` says what is ready and what is training, for how
  long; the pages show it and come alive when it is done, without a reload.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

from convrec.settings import Settings

__all__ = [
    "STATUS_FILE",
    "ModelState",
    "TrainerStatus",
    "missing_models",
    "model_paths",
    "read_status",
    "start_background_training",
    "training_message",
]

STATUS_FILE = "studio-training.json"
LOCK_FILE = "studio-training.lock"

class ModelState(TypedDict):
    """One default model in the status file: its state, since when (epoch s), and why a
    failed one failed."""

    state: Literal["waiting", "training", "ready", "failed"]
    since: float
    reason: NotRequired[str]


class TrainerStatus(TypedDict, total=False):
    """The status file the trainer writes (``{}``: it never ran)."""

    pid: int
    models: dict[str, ModelState]


#: Thread-pinning variables of the serving workers that the trainer must not inherit.
_PINNING = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def model_paths(settings: Settings) -> dict[str, Path]:
    """Where the studio's default models are saved: ``{"classifier": ..., "recommender": ...}``."""
    from convrec.recsys.catalog import default_model_path
    from convrec.vision.predict import default_checkpoint_path
    from convrec.web.services import DEFAULT_DATASET

    return {"classifier": default_checkpoint_path(settings),
            "recommender": default_model_path(settings, settings.dataset or DEFAULT_DATASET)}


def missing_models(settings: Settings) -> list[str]:
    """The default models that are not saved yet (``"classifier"``, ``"recommender"``)."""
    return [name for name, path in model_paths(settings).items() if not path.is_file()]


def read_status(settings: Settings) -> TrainerStatus:
    """What the background trainer last wrote (``{}`` when it never ran, or when the file
    holds something else than the trainer's JSON object)."""
    try:
        status = json.loads((settings.cache_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(status, dict) or not isinstance(status.get("models", {}), dict):
        return {}
    models = status.get("models", {})
    if not all(isinstance(entry, dict) for entry in models.values()):
        return {}
    # the trainer's own format (main() below writes it); its entries are read with .get
    return cast("TrainerStatus", status)


def training_message(settings: Settings, what: str) -> str | None:
    """Why ``what`` (``"classifier"``/``"recommender"``) is not there yet, if it is being
    trained in the background; ``None`` otherwise."""
    status = read_status(settings)
    entry = status.get("models", {}).get(what)
    if not entry or entry.get("state") not in ("waiting", "training"):
        return None
    if not _alive(status.get("pid")):
        return None  # the trainer died: the ordinary "not available" message applies
    label = {"classifier": "digit classifier", "recommender": "movie recommender"}[what]
    since = int(time.time() - entry.get("since", time.time()))
    if entry["state"] == "waiting":
        return (f"the {label} is waiting to be trained in the background (first start); "
                "this works as soon as it is ready, without a restart")
    return (f"the {label} is being trained in the background (first start, {since} s so "
            "far, usually a minute or two); this works as soon as it is ready, without a "
            "restart")


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_background_training(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start the trainer for the missing default models; ``None`` when nothing is missing.

    The trainer's output goes to ``<cache>/studio-training.log``.
    """
    if not missing_models(settings):
        return None
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _PINNING}
    env["CONVREC_CACHE"] = str(settings.cache_dir)
    if settings.data_dir is not None:
        env["CONVREC_DATA"] = str(settings.data_dir)
    if settings.dataset is not None:
        env["CONVREC_DATASET"] = settings.dataset
    if settings.offline:
        env["CONVREC_OFFLINE"] = "1"
    log = (settings.cache_dir / "studio-training.log").open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "convrec.web.training"], env=env, stdout=log, stderr=log,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    finally:
        log.close()


def _write_status(settings: Settings, status: TrainerStatus) -> None:
    path = settings.cache_dir / STATUS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(status), encoding="utf-8")
    temporary.replace(path)  # atomic: a reader never sees half a file


def main() -> int:
    """Train the missing default models, one at a time, reporting to the status file."""
    import fcntl

    from convrec.settings import get_settings

    settings = get_settings()
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    os.nice(10)  # the serving workers come first: pages answer while this trains
    with (settings.cache_dir / LOCK_FILE).open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another studio's trainer is at it
        missing = missing_models(settings)
        now = time.time()
        status: TrainerStatus = {"pid": os.getpid(), "models": {
            name: {"state": "waiting" if name in missing else "ready", "since": now}
            for name in ("classifier", "recommender")
        }}
        _write_status(settings, status)
        failed = 0
        for name in missing:
            status["models"][name] = {"state": "training", "since": time.time()}
            _write_status(settings, status)
            try:
                _train(name, settings)
                status["models"][name] = {"state": "ready", "since": time.time()}
            except Exception as exc:  # reported to the pages, and the log has it whole
                failed += 1
                reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
                status["models"][name] = {"state": "failed", "since": time.time(),
                                          "reason": reason}
                print(f"training the default {name} failed: {reason}", file=sys.stderr)
            _write_status(settings, status)
        return 1 if failed else 0


def _train(name: str, settings: Settings) -> None:
    if name == "classifier":
        from convrec.vision.predict import get_default_classifier

        get_default_classifier(settings=settings, progress=False)
    else:
        from convrec.recsys import get_default_recommender

        get_default_recommender(settings=settings, progress=False, dataset=settings.dataset)


if __name__ == "__main__":
    sys.exit(main())
