"""``/api/status``: what the studio has ready, and what is still training in the background."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from convrec import __version__
from convrec.web.deps import ServicesDep, SettingsDep

router = APIRouter(tags=["status"])


class PartOut(BaseModel):
    state: str = Field(description="ready, training, waiting, failed or missing")
    detail: str | None = Field(default=None, description="What is going on, in words.")
    seconds: int | None = Field(default=None, description="Seconds in this state.")


class StatusOut(BaseModel):
    version: str
    dataset: str = Field(description="The MovieLens release served (`convrec studio --dataset`).")
    rating_scale: str = Field(description="The ratings it takes, e.g. \"integers 1-5\" or "
                              "\"half stars 0.5-5\".")
    ready: bool = Field(description="Everything is loaded or can be loaded now.")
    parts: dict[str, PartOut]


@router.get("/api/status", response_model=StatusOut)
def status(services: ServicesDep, settings: SettingsDep) -> StatusOut:
    """The digit classifier and the recommender: loaded, or training in the background
    (a first start), with how long so far. The pages poll this and come alive when ready."""
    import time

    from convrec.web.training import missing_models, read_status

    loaded = services.status()
    trainer = read_status(settings).get("models", {})
    missing = set(missing_models(settings))
    parts: dict[str, PartOut] = {}
    for name in ("classifier", "recommender"):
        entry = trainer.get(name)
        state = entry.get("state") if entry else None
        seconds = int(time.time() - entry["since"]) if entry and "since" in entry else None
        if loaded.get(name) or (name not in missing and state in (None, "ready")):
            parts[name] = PartOut(state="ready")
        elif state in ("training", "waiting", "failed"):
            parts[name] = PartOut(state=state, detail=entry.get("reason") if entry else None,
                                  seconds=seconds)
        else:
            parts[name] = PartOut(state="missing")
    return StatusOut(version=__version__, dataset=services.dataset,
                     rating_scale=services.release_scale().describe(),
                     ready=all(p.state == "ready" for p in parts.values()), parts=parts)
