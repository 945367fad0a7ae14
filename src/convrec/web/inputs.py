"""Turn request models into arrays, enforcing :class:`convrec.settings.Limits`.

Every failure is an HTTP error naming the field, the value and the rule (413 for size
limits, 422 for unusable values, 404 for an MNIST index past the end).
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from convrec.conv.kernels import get_kernel, validate_kernel
from convrec.conv.limits import ConvLimits, LimitError, check_kernel_size
from convrec.settings import Limits
from convrec.web.errors import field_error
from convrec.web.schemas import ImageIn, KernelIn
from convrec.web.services import Services

__all__ = [
    "check_batch", "conv_limits", "decode_image", "decode_image_file", "decode_kernel", "to_uint8",
]


def decode_image_file(
    data: bytes, limits: Limits, loc: Sequence[str | int], shown: object = None
) -> NDArray[np.uint8]:
    """An image file's bytes (PNG, JPEG, ...) as grayscale ``(H, W)`` uint8.

    413 over ``limits.max_upload_bytes`` or ``limits.max_image_pixels``, 422 when the bytes
    are not an image; ``shown`` is the value echoed in the error (default: the byte count).
    """
    from convrec.data.images import ImageReadError, read_grayscale

    shown = f"{len(data):,} bytes" if shown is None else shown
    if len(data) > limits.max_upload_bytes:
        raise field_error(
            loc, shown, f"the upload is {len(data):,} bytes, over the limit of "
            f"{limits.max_upload_bytes:,} bytes", status=413, kind="too_large",
        )
    try:
        gray: NDArray[np.uint8] = read_grayscale(
            data, max_pixels=limits.max_image_pixels, name="the image"
        )
    except ImageReadError as exc:
        too_many = "over the limit" in str(exc) or "too many pixels" in str(exc)
        raise field_error(
            loc, shown, str(exc), status=413 if too_many else 422,
            kind="too_large" if too_many else "value_error",
        ) from exc
    return gray


def to_uint8(image: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Grey levels 0..255 (floats) rounded to uint8."""
    out: NDArray[np.uint8] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


def decode_image(
    image: ImageIn, limits: Limits, services: Services, loc: Sequence[str | int] = ("body", "image")
) -> NDArray[np.float32]:
    """The grayscale image ``(H, W)`` as float32 in 0..255."""
    if image.png_base64 is not None:
        text = image.png_base64
        field = [*loc, "png_base64"]
        if text.startswith("data:"):
            text = text.partition(",")[2]
        # 4 base64 characters carry 3 bytes: refuse before decoding a huge string
        if len(text) * 3 // 4 > limits.max_upload_bytes:
            raise field_error(
                field, image.png_base64,
                f"the upload is {len(text) * 3 // 4:,} bytes, over the limit of "
                f"{limits.max_upload_bytes:,} bytes", status=413, kind="too_large",
            )
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise field_error(field, image.png_base64, f"must be valid base64 ({exc})") from exc
        return decode_image_file(data, limits, field, image.png_base64).astype(np.float32)
    if image.pixels is not None:
        field = [*loc, "pixels"]
        widths = {len(row) for row in image.pixels}
        if len(widths) != 1 or 0 in widths:
            raise field_error(
                field, f"row lengths {sorted(widths)}",
                "every row must have the same number of values (at least one)",
            )
        size = len(image.pixels) * widths.pop()
        if size > limits.max_image_pixels:
            raise field_error(
                field, f"{size} pixels", f"at most {limits.max_image_pixels:,} pixels",
                status=413, kind="too_large",
            )
        return np.asarray(image.pixels, dtype=np.float32)
    assert image.mnist_index is not None  # the model validator guarantees one of three
    images, _ = services.mnist()
    if image.mnist_index >= len(images):
        raise field_error(
            [*loc, "mnist_index"], image.mnist_index,
            f"the MNIST test set has {len(images)} digits: 0 to {len(images) - 1}", status=404,
            kind="not_found",
        )
    digit: NDArray[np.float32] = images[image.mnist_index].astype(np.float32)
    return digit


@functools.lru_cache(maxsize=64)
def conv_limits(limits: Limits) -> ConvLimits:
    """conv's guard for the studio's ``limits`` (:meth:`ConvLimits.from_settings`), made
    once per (frozen) ``Limits``: every conv request asks for it several times."""
    return ConvLimits.from_settings(limits)


@functools.lru_cache(maxsize=256)
def _named_kernel(name: str, limits: ConvLimits) -> NDArray[np.float32]:
    """``get_kernel(name)`` as read-only float32, built once per name (a refusal is not
    kept: it raises again next time)."""
    values = np.array(get_kernel(name, limits=limits), dtype=np.float32)
    values.flags.writeable = False
    return values


def decode_kernel(
    kernel: KernelIn, limits: Limits, loc: Sequence[str | int]
) -> tuple[str, NDArray[np.float32]]:
    """``(name, values (kH, kW))`` of a kernel given by name or by values (a named kernel's
    array is shared between requests and read-only)."""
    if kernel.name is not None:
        try:
            # conv's guard refuses "gaussian:99999" before building it (tens of GB otherwise)
            values = _named_kernel(kernel.name, conv_limits(limits))
        except LimitError as exc:
            raise field_error(
                [*loc, "name"], kernel.name, str(exc), status=413, kind="too_large"
            ) from exc
        except KeyError as exc:
            raise field_error([*loc, "name"], kernel.name, str(exc.args[0])) from exc
        except ValueError as exc:
            raise field_error([*loc, "name"], kernel.name, str(exc)) from exc
        name = kernel.name
        field = [*loc, "name"]
    else:
        assert kernel.values is not None
        field = [*loc, "values"]
        widths = {len(row) for row in kernel.values}
        if len(widths) != 1 or 0 in widths:
            raise field_error(
                field, f"row lengths {sorted(widths)}",
                "every kernel row must have the same number of values (at least one)",
            )
        try:
            values = validate_kernel(kernel.values, source="kernel values")
        except ValueError as exc:
            raise field_error(field, kernel.values, str(exc)) from exc
        name = "custom"
    try:
        check_kernel_size(values.shape, conv_limits(limits), shown=name)
    except LimitError as exc:  # conv's one guard, as for named kernels
        raise field_error(
            field, f"{values.shape[0]}×{values.shape[1]}", str(exc), status=413,
            kind="too_large",
        ) from exc
    return name, np.asarray(values, dtype=np.float32)


def check_batch(count: int, limits: Limits, loc: Sequence[str | int]) -> None:
    """413 when a list in the request is longer than ``limits.max_batch``."""
    if count > limits.max_batch:
        raise field_error(
            loc, f"{count} items", f"at most {limits.max_batch} items per request",
            status=413, kind="too_large",
        )
