"""``/api/conv``: kernels, apply kernels to an image, shapes explained, the matmul view."""

from __future__ import annotations

import functools
import threading
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from numpy.typing import NDArray

from convrec.settings import Settings
from convrec.web.cancel import ClientGoneError, run_until_disconnect, stop_if_gone
from convrec.web.deps import ServicesDep, SettingsDep
from convrec.web.errors import field_error
from convrec.web.inputs import check_batch, decode_image, decode_kernel
from convrec.web.playground import PlaygroundIn, PlaygroundOut, build_playground
from convrec.web.render import json_response, rounded
from convrec.web.schemas import (
    ConvApplyIn,
    ConvApplyOut,
    FeatureMapOut,
    ImageOut,
    KernelOut,
    MatmulIn,
    MatmulOut,
    PixelProductOut,
    ShapeOut,
)
from convrec.web.services import Services

router = APIRouter(prefix="/api/conv", tags=["conv"])

#: The most numbers one apply response carries (all its maps together): a 1024×1024 map,
#: about 8 MB of JSON. Larger work belongs to ``convrec conv apply`` on the user's machine.
MAX_RESPONSE_VALUES = 1024 * 1024
#: Requests up to this many multiply-adds run in the event loop (well under a millisecond
#: of work: less than the thread hop and the disconnect watcher cost); larger ones run in a
#: worker thread that stops when the client leaves.
INLINE_MULTIPLY_ADDS = 1_000_000


@functools.lru_cache(maxsize=1024)
def _shape_out(explanation: Any) -> ShapeOut:
    """The answer's form of a (frozen, hashable) ``ShapeExplanation``: made once per distinct
    explanation (four kernels on one image share theirs; ``asdict`` was 9% of an apply)."""
    return ShapeOut(**explanation.to_dict())


@router.get("/kernels", response_model=list[KernelOut])
def list_kernels() -> list[KernelOut]:
    """Every named kernel with its values (cross-correlation convention, as in PyTorch)."""
    from convrec.conv import get_kernel, kernel_names

    return [KernelOut(name=n, values=get_kernel(n).tolist()) for n in kernel_names()]


@router.get("/shape", response_model=ShapeOut)
def explain_shape(
    n: Annotated[int, Query(ge=1, le=100_000, description="Input size.")],
    kernel: Annotated[int, Query(ge=1, le=1_000, description="Kernel size.")] = 3,
    stride: Annotated[int, Query(ge=1, le=1_000)] = 1,
    padding: Annotated[
        str, Query(max_length=40, description="An int, 'before,after', same, full or valid.")
    ] = "0",
    dilation: Annotated[int, Query(ge=1, le=1_000)] = 1,
) -> ShapeOut:
    """The output size along one dimension with the formula in your numbers.

    A configuration where no window fits is still answered (200) with ``rule_broken`` set:
    explaining why it is impossible is the point of this endpoint.
    """
    from convrec.conv import ShapeError
    from convrec.conv.shapes import explain_padded

    try:
        explanation = explain_padded(n, kernel, stride, padding, dilation, check=False)
    except ShapeError as exc:
        raise field_error(["query", "padding"], padding, str(exc)) from exc
    return _shape_out(explanation)


def _limit_loc(exc: Exception, kernel_loc: list[str | int]) -> list[str | int]:
    """Where a conv refusal points in the body: the padding, the kernel or the whole body."""
    parameter = getattr(exc, "parameter", "")
    if parameter == "padding" or "padding" in str(exc).split(":")[0]:
        return ["body", "padding"]
    if parameter == "kernel":
        return kernel_loc
    return ["body"] if parameter else kernel_loc


def _plan_or_error(
    image_shape: tuple[int, ...], kernel_shape: tuple[int, ...], body: Any, name: str,
    limits: Any, kernel_loc: list[str | int],
) -> Any:
    """conv's own checks and limits guard, before any work: 413 over a limit, else 422."""
    from dataclasses import replace

    from convrec.conv import LimitError, conv2d_plan

    try:
        return conv2d_plan(
            image_shape, kernel_shape, body.stride, body.padding, body.dilation,
            padding_mode=getattr(body, "padding_mode", "zeros"),
            limits=replace(limits, max_multiply_adds=None),  # the budget is per request
        )
    except LimitError as exc:
        raise field_error(
            _limit_loc(exc, kernel_loc), name, str(exc), status=413, kind="too_large"
        ) from exc
    except ValueError as exc:  # ShapeError and PyTorch's padding rules
        raise field_error(_limit_loc(exc, kernel_loc), name, str(exc)) from exc


def _check_budget(plans: list[Any], limits: Any) -> None:
    """The whole request's multiply-adds, and the numbers its answer would carry (413)."""
    from convrec.conv import LimitError
    from convrec.conv.limits import check_multiply_adds

    try:
        check_multiply_adds(
            sum(p.multiply_adds for p in plans), limits, how=f"{len(plans)} kernel(s)"
        )
    except LimitError as exc:
        raise field_error(
            ["body", "kernels"], f"{len(plans)} kernel(s)", str(exc), status=413,
            kind="too_large",
        ) from exc
    values = sum(p.rows.result * p.cols.result for p in plans)
    if values > MAX_RESPONSE_VALUES:
        first = plans[0]
        raise field_error(
            ["body", "image"], f"{len(plans)} map(s) of {first.rows.result}×{first.cols.result}",
            f"the answer would hold {values:,} numbers, over the {MAX_RESPONSE_VALUES:,} one "
            "response carries; send a smaller image, fewer kernels or a larger stride, or run "
            "`convrec conv apply IMAGE -k KERNEL -o DIR` on your machine",
            status=413, kind="too_large",
        )


@router.post("/apply", response_model=ConvApplyOut)
async def apply(
    body: ConvApplyIn, request: Request, services: ServicesDep, settings: SettingsDep
) -> Response | ConvApplyOut:
    """Apply each kernel to the image: each output map as numbers (``values``, rows of the
    map), with its range and its shape explanation. Pages draw the numbers themselves.

    At most :data:`MAX_RESPONSE_VALUES` numbers per answer (413 beyond, checked before any
    work). Work stops between kernels when the client disconnects (nothing is sent back then).
    """
    # numbers in the body: decoding and planning are cheap enough for the event loop
    prepared = _prepare(body, services, settings) if body.image.pixels is not None else None
    if prepared is not None and sum(p.multiply_adds for p in prepared[2]) <= INLINE_MULTIPLY_ADDS:
        return json_response(_compute(body, *prepared, gone=None))

    def work(gone: threading.Event) -> ConvApplyOut:
        ready = prepared if prepared is not None else _prepare(body, services, settings)
        return _compute(body, *ready, gone=gone)

    try:
        return json_response(await run_until_disconnect(request, work))
    except ClientGoneError:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it


Prepared = tuple[NDArray[np.float32], list[tuple[str, NDArray[np.float32]]], list[Any]]


def _prepare(body: ConvApplyIn, services: Services, settings: Settings) -> Prepared:
    """The image, the kernels and their plans, every one checked and the whole request
    budgeted before any convolution runs (4xx naming the field otherwise)."""
    from convrec.conv import ConvLimits

    limits = settings.limits
    conv_limits = ConvLimits.from_settings(limits)
    check_batch(len(body.kernels), limits, ["body", "kernels"])
    image = decode_image(body.image, limits, services)
    kernels = [
        decode_kernel(spec, limits, ["body", "kernels", i]) for i, spec in enumerate(body.kernels)
    ]
    plans = [
        _plan_or_error(image.shape, kernel.shape, body, name, conv_limits, ["body", "kernels", i])
        for i, (name, kernel) in enumerate(kernels)
    ]
    _check_budget(plans, conv_limits)
    return image, kernels, plans


def _compute(
    body: ConvApplyIn, image: NDArray[np.float32], kernels: list[tuple[str, NDArray[np.float32]]],
    plans: list[Any], gone: threading.Event | None,
) -> ConvApplyOut:
    """Each kernel's map; stops between kernels once ``gone`` is set (the client left)."""
    from convrec.conv import conv2d

    outputs = []
    for name, kernel in kernels:
        if gone is not None:
            stop_if_gone(gone)  # the client left: no more kernels for nobody
        out, plan = conv2d(
            image, kernel, stride=body.stride, padding=body.padding, dilation=body.dilation,
            padding_mode=body.padding_mode, return_plan=True,
        )
        out = np.asarray(out)  # (H_out, W_out)
        # built without validation: every field is a Python int, float or list made just
        # here, of the declared types (validating 676 floats a map was 4% of an apply)
        outputs.append(
            FeatureMapOut.model_construct(
                kernel=KernelOut.model_construct(name=name, values=kernel.tolist()),
                height=int(out.shape[0]), width=int(out.shape[1]),
                min=float(out.min()), max=float(out.max()), values=rounded(out, 3),
                rows=_shape_out(plan.rows), cols=_shape_out(plan.cols),
            )
        )
    return ConvApplyOut.model_construct(
        input=ImageOut(height=image.shape[0], width=image.shape[1]), outputs=outputs)


@router.post("/matmul", response_model=MatmulOut)
def matmul_view(body: MatmulIn, services: ServicesDep, settings: SettingsDep) -> MatmulOut:
    """Convolution of a small crop as one matrix product: ``weight_row @ im2col(crop)``.

    Also shows, for output pixel ``(out_row, out_col)``, its window, the element-wise
    products with the kernel and their sum.
    """
    from convrec.conv import ConvLimits, conv2d, im2col

    limits = settings.limits
    image = decode_image(body.image, limits, services)
    name, kernel = decode_kernel(body.kernel, limits, ["body", "kernel"])
    h, w = image.shape
    if body.crop_top >= h or body.crop_left >= w:
        raise field_error(
            ["body", "crop_top" if body.crop_top >= h else "crop_left"],
            body.crop_top if body.crop_top >= h else body.crop_left,
            f"the crop must start inside the {h}×{w} image",
        )
    crop = image[
        body.crop_top : body.crop_top + body.crop_size,
        body.crop_left : body.crop_left + body.crop_size,
    ]
    try:
        plan = _plan_or_error(
            crop.shape, kernel.shape, body, f"{name} on the {crop.shape} crop",
            ConvLimits.from_settings(limits), ["body", "kernel"],
        )
    except HTTPException:
        cut_rows, cut_cols = crop.shape[0] < body.crop_size, crop.shape[1] < body.crop_size
        if not (cut_rows or cut_cols):
            raise
        # the image's edge cut the crop short: the start of the crop is what to change
        field, axis, lines, way = (("crop_top", 0, "rows", "up") if cut_rows
                                   else ("crop_left", 1, "columns", "left"))
        raise field_error(
            ["body", field], getattr(body, field),
            f"a crop starting there holds only {crop.shape[axis]} "
            f"{lines if crop.shape[axis] != 1 else lines[:-1]} of the {h}×{w} "
            f"image, too few for the {kernel.shape[0]}×{kernel.shape[1]} kernel; start the "
            f"crop further {way}",
        ) from None
    rows, cols_shape = plan.rows, plan.cols
    if body.out_row >= rows.result or body.out_col >= cols_shape.result:
        bad = "out_row" if body.out_row >= rows.result else "out_col"
        raise field_error(
            ["body", bad], getattr(body, bad),
            f"the output is {rows.result}×{cols_shape.result}: rows and columns start at 0",
        )
    cols = im2col(crop, kernel.shape, body.stride, body.padding, body.dilation)  # (kH*kW, L)
    weight_row = kernel.reshape(-1)  # (kH*kW,)
    product = (weight_row @ cols).reshape(rows.result, cols_shape.result)  # (H_out, W_out)
    direct = np.asarray(
        conv2d(crop, kernel, stride=body.stride, padding=body.padding, dilation=body.dilation,
               engine="direct")
    )
    column = body.out_row * cols_shape.result + body.out_col
    window = cols[:, column]
    return MatmulOut(
        crop=rounded(crop, 3), kernel=KernelOut(name=name, values=kernel.tolist()),
        weight_row=rounded(weight_row), cols=rounded(cols, 3),
        output_matmul=rounded(product, 3), output_conv2d=rounded(direct, 3),
        max_abs_difference=float(np.abs(product - direct).max()),
        rows=_shape_out(rows), cols_shape=_shape_out(cols_shape),
        pixel=PixelProductOut(
            row=body.out_row, col=body.out_col, column_index=column,
            window=rounded(window, 3), weights=rounded(weight_row),
            products=rounded(window * weight_row, 3), total=float(window @ weight_row),
        ),
    )


@router.post("/playground", response_model=PlaygroundOut)
def playground(body: PlaygroundIn, services: ServicesDep, settings: SettingsDep) -> PlaygroundOut:
    """One convolution laid out for the playground page: the padded grid with the padding
    mode's real values, the kernel as applied, the output explained, im2col and Toeplitz
    matrices, and the check that conv2d, im2col and Toeplitz agree (values 0 to 1)."""
    return build_playground(body, settings.limits, services)
