"""``/api/conv``: kernels, apply kernels to an image, shapes explained, the matmul view."""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, TypedDict

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from numpy.typing import NDArray

# imported once here, not through convrec.conv's lazy names (7% of an apply went there)
from convrec.conv.functional import conv2d, conv2d_plan
from convrec.conv.limits import ConvLimits, LimitError, check_multiply_adds
from convrec.conv.shapes import Conv2dPlan, PaddingArg, ShapeExplanation
from convrec.settings import Settings
from convrec.web.cancel import ClientGoneError, run_until_disconnect, stop_if_gone
from convrec.web.deps import JsonBody, ServicesDep, SettingsDep
from convrec.web.errors import field_error
from convrec.web.inputs import check_batch, conv_limits, decode_image, decode_kernel
from convrec.web.playground import PlaygroundIn, PlaygroundOut, build_playground
from convrec.web.render import json_value_response, rounded
from convrec.web.schemas import (
    ConvApplyIn,
    ConvApplyOut,
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
def _shape_out(explanation: ShapeExplanation) -> ShapeOut:
    """The answer's form of a (frozen, hashable) ``ShapeExplanation``: made once per distinct
    explanation (four kernels on one image share theirs; ``asdict`` was 9% of an apply)."""
    return ShapeOut(**explanation.to_dict())


@functools.lru_cache(maxsize=1024)
def _shape_json(explanation: ShapeExplanation) -> Mapping[str, object]:
    """:func:`_shape_out` as plain JSON values, validated once (shared: never modify it)."""
    return _shape_out(explanation).model_dump()


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


@functools.lru_cache(maxsize=4096)
def _plan(
    image_shape: tuple[int, ...], kernel_shape: tuple[int, ...], stride: int,
    padding: PaddingArg, dilation: int, padding_mode: str, limits: ConvLimits,
) -> Conv2dPlan:
    """:func:`convrec.conv.conv2d_plan` (frozen, a function of shapes only), made once per
    distinct request shape: a plan was 0.1 ms and every kernel needs one. A refusal raises
    (and is not kept). ``padding`` is a body's, hashable: conv's parser made it a name or a
    tuple (or it is the default ``0``)."""
    return conv2d_plan(
        image_shape, kernel_shape, stride, padding, dilation, padding_mode=padding_mode,
        limits=replace(limits, max_multiply_adds=None),  # the budget is per request
    )


def _plan_or_error(
    image_shape: tuple[int, ...], kernel_shape: tuple[int, ...], body: ConvApplyIn | MatmulIn,
    name: str,
    limits: ConvLimits, kernel_loc: list[str | int],
) -> Conv2dPlan:
    """conv's own checks and limits guard, before any work: 413 over a limit, else 422."""
    try:
        return _plan(
            tuple(image_shape), tuple(kernel_shape), body.stride, body.padding, body.dilation,
            getattr(body, "padding_mode", "zeros"), limits,
        )
    except LimitError as exc:
        raise field_error(
            _limit_loc(exc, kernel_loc), name, str(exc), status=413, kind="too_large"
        ) from exc
    except ValueError as exc:  # ShapeError and PyTorch's padding rules
        raise field_error(_limit_loc(exc, kernel_loc), name, str(exc)) from exc


def _check_budget(plans: list[Conv2dPlan], limits: ConvLimits) -> None:
    """The whole request's multiply-adds, and the numbers its answer would carry (413)."""
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


#: conv apply's body, read by pydantic-core from the bytes (see :class:`JsonBody`)
APPLY_BODY = JsonBody(ConvApplyIn)


@router.post("/apply", response_model=ConvApplyOut, openapi_extra=APPLY_BODY.openapi)
async def apply(
    body: Annotated[ConvApplyIn, Depends(APPLY_BODY)], request: Request
) -> Response:
    """Apply each kernel to the image: each output map as numbers (``values``, rows of the
    map), with its range and its shape explanation. Pages draw the numbers themselves.

    At most :data:`MAX_RESPONSE_VALUES` numbers per answer (413 beyond, checked before any
    work). Work stops between kernels when the client disconnects (nothing is sent back then).
    """
    services: Services = request.app.state.services
    settings: Settings = request.app.state.settings
    # numbers in the body: decoding and planning are cheap enough for the event loop
    prepared = _prepare(body, services, settings) if body.image.pixels is not None else None
    if prepared is not None and sum(p.multiply_adds for p in prepared[2]) <= INLINE_MULTIPLY_ADDS:
        return json_value_response(_compute(body, *prepared, gone=None))

    def work(gone: threading.Event) -> AppliedJSON:
        ready = prepared if prepared is not None else _prepare(body, services, settings)
        return _compute(body, *ready, gone=gone)

    try:
        return json_value_response(await run_until_disconnect(request, work))
    except ClientGoneError:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it


Prepared = tuple[NDArray[np.float32], list[tuple[str, NDArray[np.float32]]], list[Conv2dPlan]]


class _KernelJSON(TypedDict):
    name: str
    values: NDArray[np.float64]


class _MapJSON(TypedDict):
    """One :class:`~convrec.web.schemas.FeatureMapOut` as orjson writes it."""

    kernel: _KernelJSON
    height: int
    width: int
    min: float
    max: float
    values: NDArray[np.float64]  # (H_out, W_out), rounded to 3 decimals
    rows: Mapping[str, object]  # a ShapeOut's fields (:func:`_shape_json`)
    cols: Mapping[str, object]


class _SizeJSON(TypedDict):
    height: int
    width: int


class AppliedJSON(TypedDict):
    """:class:`~convrec.web.schemas.ConvApplyOut` as JSON values and NumPy arrays, for
    :func:`~convrec.web.render.json_value_response`."""

    input: _SizeJSON
    outputs: list[_MapJSON]


def _prepare(body: ConvApplyIn, services: Services, settings: Settings) -> Prepared:
    """The image, the kernels and their plans, every one checked and the whole request
    budgeted before any convolution runs (4xx naming the field otherwise)."""
    limits = settings.limits
    guard = conv_limits(limits)
    check_batch(len(body.kernels), limits, ["body", "kernels"])
    image = decode_image(body.image, limits, services)
    kernels = [
        decode_kernel(spec, limits, ["body", "kernels", i]) for i, spec in enumerate(body.kernels)
    ]
    plans = [
        _plan_or_error(image.shape, kernel.shape, body, name, guard, ["body", "kernels", i])
        for i, (name, kernel) in enumerate(kernels)
    ]
    _check_budget(plans, guard)
    return image, kernels, plans


def _maps(
    body: ConvApplyIn, image: NDArray[np.float32], kernels: list[tuple[str, NDArray[np.float32]]],
    gone: threading.Event | None,
) -> list[tuple[NDArray[np.float32], Conv2dPlan]]:
    """Each kernel's map ``(H_out, W_out)`` and plan, in the kernels' order.

    Without ``gone`` (a small request, in the event loop) the kernels of one shape run as one
    ``conv2d`` call on their stack ``(O, kH, kW)``: one plan and one engine call instead of
    one per kernel. With ``gone`` (a large one, in a thread) they run one by one, and the work
    stops between kernels once the client has left.
    """
    def run(weight: NDArray[np.float32]) -> tuple[NDArray[np.float32], Conv2dPlan]:
        out, plan = conv2d(
            image, weight, stride=body.stride, padding=body.padding, dilation=body.dilation,
            padding_mode=body.padding_mode, return_plan=True,
        )
        return np.asarray(out), plan

    if gone is not None:
        maps = []
        for _, kernel in kernels:
            stop_if_gone(gone)  # the client left: no more kernels for nobody
            maps.append(run(kernel))
        return maps
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, (_, kernel) in enumerate(kernels):
        by_shape.setdefault(kernel.shape, []).append(i)
    found: dict[int, tuple[NDArray[np.float32], Conv2dPlan]] = {}
    for indices in by_shape.values():
        stacked, plan = run(np.stack([kernels[i][1] for i in indices]))  # (O, H_out, W_out)
        found.update((i, (stacked[j], plan)) for j, i in enumerate(indices))
    return [found[i] for i in range(len(kernels))]


def _compute(
    body: ConvApplyIn, image: NDArray[np.float32], kernels: list[tuple[str, NDArray[np.float32]]],
    plans: list[Conv2dPlan], gone: threading.Event | None,
) -> AppliedJSON:
    """The answer (:class:`ConvApplyOut` as JSON values, maps as float64 arrays rounded to 3
    decimals for :func:`json_value_response`); stops between kernels once ``gone`` is set."""
    outputs: list[_MapJSON] = []
    for (name, kernel), (out, plan) in zip(kernels, _maps(body, image, kernels, gone),
                                           strict=True):
        outputs.append({
            "kernel": {"name": name, "values": kernel.astype(np.float64)},
            "height": int(out.shape[0]), "width": int(out.shape[1]),
            "min": float(out.min()), "max": float(out.max()),
            "values": out.astype(np.float64).round(3),
            "rows": _shape_json(plan.rows), "cols": _shape_json(plan.cols),
        })
    return {"input": {"height": int(image.shape[0]), "width": int(image.shape[1])},
            "outputs": outputs}


@router.post("/matmul", response_model=MatmulOut)
def matmul_view(body: MatmulIn, services: ServicesDep, settings: SettingsDep) -> MatmulOut:
    """Convolution of a small crop as one matrix product: ``weight_row @ im2col(crop)``.

    Also shows, for output pixel ``(out_row, out_col)``, its window, the element-wise
    products with the kernel and their sum.
    """
    from convrec.conv.matmul import im2col

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
            conv_limits(limits), ["body", "kernel"],
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
