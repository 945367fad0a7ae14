"""``/training`` and ``/api/training``: a small CNN trained live, its progress streamed.

One run at a time (409 while one is going), bounded by :data:`convrec.vision.live.LIMITS`,
cancellable; progress as server-sent events (``text/event-stream``), one JSON object per
event: ``start``, ``status``, ``step`` (loss, learning rate, momentum, the colorful dimension's
new column and the mean, std and share near zero per layer), ``eval`` (valid accuracy),
``limit``, ``done`` or ``error``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from convrec.web.deps import OptionalUser, SettingsDep
from convrec.web.errors import field_error

if TYPE_CHECKING:  # torch and the trainer load on the first run, not with the app
    from convrec.vision.live import LiveTrainer
    from convrec.vision.mnist import MnistData

router = APIRouter(tags=["training"])
_create_lock = threading.Lock()


class TrainingRunIn(BaseModel):
    """A live run: the chapter's models and knobs, within the studio's bounds."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: str = Field("simple_bn", description="simple, simple_bn or fast.")
    epochs: float = Field(1.0, gt=0, le=3, allow_inf_nan=False)
    batch_size: int = Field(128, ge=8, le=1024, strict=True)
    lr: float = Field(0.06, gt=0, le=1, allow_inf_nan=False)
    schedule: str = Field("one_cycle", description="one_cycle or constant (the book's fit).")
    n_train: int = Field(6000, ge=8, le=20_000, strict=True)


class TrainingRunOut(BaseModel):
    run_id: int
    events: str = Field(description="The server-sent-events URL of this run.")


def _trainer(request: Request) -> LiveTrainer:
    state = request.app.state
    with _create_lock:
        if getattr(state, "live_trainer", None) is None:
            from convrec.vision.live import LiveTrainer
            from convrec.vision.mnist import load_mnist

            settings = state.settings

            def load() -> MnistData:  # full MNIST when local, else the embedded digits; no download
                return load_mnist(settings=settings, download=False)

            state.live_trainer = LiveTrainer(load)
    trainer: LiveTrainer = state.live_trainer
    return trainer


@router.get("/training", response_class=HTMLResponse, include_in_schema=False)
def training_page(request: Request, user: OptionalUser) -> HTMLResponse:
    from convrec.web.routers.pages import _render

    return _render(request, "training.html", "Training you can watch", user)


@router.post("/api/training/runs", response_model=TrainingRunOut, status_code=201)
def start_run(body: TrainingRunIn, request: Request, _settings: SettingsDep) -> TrainingRunOut:
    """Start training (409 while another run is going)."""
    from convrec.vision.live import LiveRequest, RunBusyError

    trainer = _trainer(request)
    try:
        run_id = trainer.start(LiveRequest(**body.model_dump()))
    except RunBusyError as exc:
        raise field_error(["body"], None, str(exc), status=409, kind="busy") from exc
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise field_error(["body", field], getattr(body, field, None), str(exc)) from exc
    return TrainingRunOut(run_id=run_id, events=f"/api/training/runs/{run_id}/events")


@router.post("/api/training/runs/{run_id}/cancel")
def cancel_run(run_id: int, request: Request) -> dict[str, bool]:
    """Stop a run at its next step (``cancelled: false`` when it is not going)."""
    return {"cancelled": bool(_trainer(request).cancel(run_id))}


@router.get("/api/training/runs/{run_id}/events")
async def run_events(
    run_id: int, request: Request,
    since: Annotated[int, Query(ge=0, le=1_000_000, description="First event index.")] = 0,
) -> StreamingResponse:
    """The run's events as ``text/event-stream``, from ``since`` to the end of the run."""
    trainer = _trainer(request)
    if trainer.current() != run_id:
        raise field_error(["path", "run_id"], run_id, "no such run (only the latest is kept)",
                          status=404, kind="not_found")

    async def stream() -> AsyncIterator[bytes]:
        index = since
        while True:
            if await request.is_disconnected():
                return
            events, over = await asyncio.to_thread(trainer.events, run_id, index, 0.5)
            for event in events:
                index = event["i"] + 1
                yield f"id: {event['i']}\ndata: {json.dumps(event)}\n\n".encode()
            if over and not events:
                yield b"event: end\ndata: {}\n\n"
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
