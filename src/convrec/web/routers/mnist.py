"""``/api/mnist``: MNIST test digits for the playground, and the digit reader."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Path, UploadFile
from numpy.typing import NDArray

from convrec.web.deps import ServicesDep, SettingsDep
from convrec.web.errors import field_error
from convrec.web.inputs import check_batch, decode_image, decode_image_file, to_uint8
from convrec.web.render import png_data_url, rounded
from convrec.web.schemas import (
    DigitPredictionOut,
    ImageIn,
    LayerMapsOut,
    MnistPredictIn,
    MnistPredictOut,
    MnistSampleOut,
)
from convrec.web.services import Services

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


def _given(image: ImageIn) -> str:
    """The one field of an :class:`ImageIn` that was given (for error locations)."""
    return next(n for n in ("png_base64", "pixels", "mnist_index") if getattr(image, n) is not None)


def _read_digit(
    services: Services, image: NDArray[np.uint8], loc: Sequence[str | int], shown: object
) -> DigitPredictionOut:
    try:
        prediction = services.predict_digit(image)
    except ValueError as exc:  # NoDigitError (blank, one flat colour) or an unusable image
        raise field_error(loc, shown, str(exc)) from exc
    maps = prediction.activations  # (C, H', W') float32
    return DigitPredictionOut(
        label=prediction.digit,
        confidence=round(prediction.confidence, 6),
        probabilities=rounded(prediction.probabilities, 6),
        input_28=prediction.input28.tolist(),
        input_png=png_data_url(prediction.input28),
        activations=[png_data_url(m) for m in maps],
        activations_shape=list(maps.shape),
        sure=prediction.sure,
        verdict=prediction.verdict(),
        first_layer=prediction.first_layer,
        layers=[LayerMapsOut(name=name, shape=list(m.shape), maps=[png_data_url(c) for c in m])
                for name, m in prediction.layers],
        saliency_png=png_data_url(prediction.saliency, signed=True),
    )


@router.post("/predict", response_model=MnistPredictOut)
def predict(body: MnistPredictIn, services: ServicesDep, settings: SettingsDep) -> MnistPredictOut:
    """Read handwritten digits: a drawing, a photo (base64), a pixel array or a test digit.

    Each image is prepared as MNIST was made (light backgrounds inverted, the ink fitted in
    20×20 and centred by mass in 28×28), then classified. Each answer has the ten class
    probabilities, the 28×28 input the model saw and its first-layer activation maps.
    An image with no digit (blank, one flat colour) is a 422 naming it.
    """
    limits = settings.limits
    check_batch(len(body.images), limits, ["body", "images"])
    predictions = []
    for i, image in enumerate(body.images):
        loc: list[str | int] = ["body", "images", i]
        array = to_uint8(decode_image(image, limits, services, loc))
        field = _given(image)
        predictions.append(_read_digit(services, array, [*loc, field], getattr(image, field)))
    return MnistPredictOut(predictions=predictions)


@router.post("/predict/upload", response_model=MnistPredictOut)
def predict_upload(
    file: Annotated[UploadFile, File(description="An image file (PNG, JPEG, ...) of one digit.")],
    services: ServicesDep,
    settings: SettingsDep,
) -> MnistPredictOut:
    """Read one digit from an uploaded image file (``multipart/form-data``, field ``file``).

    Example: ``curl -F file=@digit.png http://127.0.0.1:8000/api/mnist/predict/upload``
    """
    limits = settings.limits
    data = file.file.read(limits.max_upload_bytes + 1)  # never more than one byte too many
    shown = file.filename or f"{len(data):,} bytes"
    if len(data) > limits.max_upload_bytes:
        raise field_error(
            ["body", "file"], shown,
            f"the upload is over the limit of {limits.max_upload_bytes:,} bytes",
            status=413, kind="too_large",
        )
    image = decode_image_file(data, limits, ["body", "file"], shown)
    return MnistPredictOut(predictions=[_read_digit(services, image, ["body", "file"], shown)])
