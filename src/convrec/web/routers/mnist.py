"""``/api/mnist``: MNIST test digits for the playground, and the digit reader."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from convrec.web.deps import ServicesDep
from convrec.web.errors import field_error
from convrec.web.render import png_data_url
from convrec.web.schemas import MnistSampleOut

router = APIRouter(prefix="/api/mnist", tags=["mnist"])


@router.get("/samples/{index}", response_model=MnistSampleOut)
def sample(
    index: Annotated[int, Path(ge=0, le=1_000_000, description="Index in the test set.")],
    services: ServicesDep,
) -> MnistSampleOut:
    """One MNIST test digit with its label (28×28, white on black)."""
    images, labels = services.mnist()
    if index >= len(images):
        raise field_error(
            ["path", "index"], index,
            f"the MNIST test set has {len(images)} digits: 0 to {len(images) - 1}",
            status=404, kind="not_found",
        )
    image = images[index]
    return MnistSampleOut(
        index=index, label=int(labels[index]), pixels=image.tolist(), png=png_data_url(image)
    )
