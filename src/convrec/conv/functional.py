"""``conv2d``: one function, four engines, NumPy arrays or torch tensors in and out."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args, overload

import numpy as np
from numpy.typing import NDArray

from convrec.conv import _engines, tuning as _tuning
from convrec.conv._padding import (
    check_padding_fits,
    check_padding_mode,
    pad_numpy,
    pad_torch,
)
from convrec.conv.limits import ConvLimits, check_conv2d
from convrec.conv.shapes import Conv2dPlan, PaddingArg, PaddingMode, ShapeError, plan_conv2d

if TYPE_CHECKING:
    import torch

__all__ = ["ENGINES", "Engine", "choose_engine", "conv2d", "conv2d_plan"]

Engine = Literal["auto", "direct", "im2col", "stencil", "torch"]
#: every ``engine=`` value; ``auto`` picks one of the others per call
ENGINES: tuple[str, ...] = get_args(Engine)

ArrayOrTensor = TypeVar("ArrayOrTensor")

# Measured crossover (benchmarks/bench_conv_crossover.py, RESULTS.md, 2026-12-02 with the
# stencil on both cores and torch no longer page-faulting): the fused stencil beats oneDNN
# (1.5-2.1×) for up to 4 output channels whatever the input channels (up to 16 × 3×3 taps),
# and for single-channel 3×3-sized kernels (≤ 9 taps per output pixel) up to 64 output
# channels once the batch has 50,000 pixels; with more taps and channels oneDNN wins.
STENCIL_MAX_TAPS = 9  # C_in/groups * kH * kW, for more than 4 output channels
STENCIL_MAX_TAPS_FEW_OUTPUTS = 144  # ... and for up to STENCIL_MAX_OUT_CHANNELS
STENCIL_MAX_OUT_CHANNELS = 4  # always stencil up to here ...
STENCIL_MAX_OUT_CHANNELS_LARGE = 64  # ... and up to here when the input is large
STENCIL_LARGE_INPUT_PIXELS = 50_000  # N * H * W
CHANNELS_LAST_MIN_CHANNELS = 16


def _is_tensor(obj: object) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def choose_engine(
    input_shape: tuple[int, int, int, int],
    weight_shape: tuple[int, int, int, int],
    groups: int = 1,
    needs_grad: bool = False,
) -> str:
    """The engine ``engine="auto"`` uses for these shapes (see module constants for why)."""
    if len(input_shape) != 4 or len(weight_shape) != 4:
        raise ValueError(f"choose_engine takes 4-D shapes, input (N, C, H, W) and weight "
                         f"(O, C/groups, kH, kW), got input_shape={tuple(input_shape)} and "
                         f"weight_shape={tuple(weight_shape)}")
    if needs_grad:
        return "torch"
    n_out, c_per_group, kh, kw = weight_shape
    taps = c_per_group * kh * kw
    pixels = input_shape[0] * input_shape[2] * input_shape[3]
    few_outputs = n_out <= STENCIL_MAX_OUT_CHANNELS and taps <= STENCIL_MAX_TAPS_FEW_OUTPUTS
    few_taps = taps <= STENCIL_MAX_TAPS and (
        n_out <= STENCIL_MAX_OUT_CHANNELS
        or (n_out <= STENCIL_MAX_OUT_CHANNELS_LARGE and pixels >= STENCIL_LARGE_INPUT_PIXELS)
    )
    if (few_outputs or few_taps) and _engines.stencil_available():
        return "stencil"
    return "torch"


def _as_4d(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...]
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int], int]:
    """Canonical (N,C,H,W) and (O,C/g,kH,kW) shapes, and how many leading dims to drop."""
    x4: tuple[int, ...]
    w4: tuple[int, ...]
    if len(x_shape) == 2:
        x4 = (1, 1, *x_shape)
    elif len(x_shape) == 3:
        x4 = (1, *x_shape)
    elif len(x_shape) == 4:
        x4 = x_shape
    else:
        raise ShapeError(
            f"input must be (H, W), (C, H, W) or (N, C, H, W), got {len(x_shape)}-D shape "
            f"{tuple(x_shape)}"
        )
    if len(w_shape) == 2:
        w4 = (1, 1, *w_shape)
    elif len(w_shape) == 3:
        w4 = (w_shape[0], 1, w_shape[1], w_shape[2])
    elif len(w_shape) == 4:
        w4 = w_shape
    else:
        raise ShapeError(
            f"weight must be (kH, kW), (O, kH, kW) or (O, C/groups, kH, kW), got "
            f"{len(w_shape)}-D shape {tuple(w_shape)}"
        )
    if len(x_shape) == 2 and len(w_shape) == 2:
        drop = 2  # (H, W) * (kH, kW) -> (H_out, W_out)
    elif len(x_shape) in (2, 3):
        drop = 1  # -> (O, H_out, W_out)
    else:
        drop = 0
    return (x4[0], x4[1], x4[2], x4[3]), (w4[0], w4[1], w4[2], w4[3]), drop


@overload
def conv2d(
    x: ArrayOrTensor,
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int, int] = ...,
    padding: PaddingArg = ...,
    dilation: int | tuple[int, int] = ...,
    groups: int = ...,
    padding_mode: PaddingMode = ...,
    engine: Engine = ...,
    flip: bool = ...,
    *,
    out: Any = ...,
    limits: ConvLimits | None = ...,
    return_plan: Literal[False] = ...,
) -> ArrayOrTensor: ...


@overload
def conv2d(
    x: ArrayOrTensor,
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int, int] = ...,
    padding: PaddingArg = ...,
    dilation: int | tuple[int, int] = ...,
    groups: int = ...,
    padding_mode: PaddingMode = ...,
    engine: Engine = ...,
    flip: bool = ...,
    *,
    out: Any = ...,
    limits: ConvLimits | None = ...,
    return_plan: Literal[True],
) -> tuple[ArrayOrTensor, Conv2dPlan]: ...


def conv2d(
    x: ArrayOrTensor,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    engine: Engine = "auto",
    flip: bool = False,
    *,
    out: Any = None,
    limits: ConvLimits | None = None,
    return_plan: bool = False,
) -> ArrayOrTensor | tuple[ArrayOrTensor, Conv2dPlan]:
    r"""2-D cross-correlation, like ``torch.nn.functional.conv2d``, on arrays or tensors.

    .. math::
        out(n, o, i, j) = bias(o) + \sum_{c, u, v} x(n, c_g, i s_h + u d_h, j s_w + v d_w)
        \cdot w(o, c, u, v)

    This is cross-correlation (the kernel is not flipped), as in PyTorch. ``flip=True`` flips
    the kernel first and so computes true convolution, like ``scipy.signal.convolve2d``:
    ``conv2d(x, k, padding="full", flip=True) == convolve2d(x, k, mode="full")`` whereas
    ``conv2d(x, k, padding="full") == correlate2d(x, k, mode="full")``.

    Args:
        x: input, a NumPy array or torch tensor of shape ``(H, W)``, ``(C, H, W)`` or
            ``(N, C, H, W)``. Integer inputs (e.g. uint8 images) are computed in float32.
        weight: ``(kH, kW)``, ``(O, kH, kW)`` (one input channel per group) or
            ``(O, C/groups, kH, kW)``.
        bias: optional ``(O,)``.
        stride: int or ``(s_h, s_w)``, ≥ 1.
        padding: int, ``(p_h, p_w)``, ``(top, bottom, left, right)``, ``"valid"``, ``"same"``
            (any stride; output ``ceil(n/s)``; an odd total puts the extra pixel at the
            bottom/right), ``"full"`` (``d*(k-1)`` on every side), or any of these as text
            (``"1,2"``); see :func:`convrec.conv.shapes.parse_padding`.
        dilation: int or ``(d_h, d_w)``, ≥ 1.
        groups: input and output channels are split into this many independent groups.
        padding_mode: ``zeros``, ``reflect``, ``replicate``, ``circular`` (PyTorch names) or
            ``symmetric`` (edge pixel repeated; see ``_padding.MODE_TRANSLATION``). As in
            PyTorch, ``reflect`` padding must be smaller than the input and ``circular``
            at most the input size.
        engine: ``auto`` (fastest for the shape, see :func:`choose_engine`), ``direct``,
            ``im2col``, ``stencil`` or ``torch``. Tensors that require grad always use torch.
        flip: flip the kernel (true convolution).
        out: optional buffer for the result, of the output's exact shape and dtype, and of
            the input's kind (array or CPU tensor); C-contiguous. Written in place and
            returned, so repeated feature extraction reuses its memory.
        limits: what the call may cost (:class:`convrec.conv.limits.ConvLimits`), checked
            before anything is allocated; by default only the machine's memory.
        return_plan: also return the :class:`~convrec.conv.shapes.Conv2dPlan` (padding,
            output shape and the ``rows``/``cols`` shape explanations, computed once).

    Shape:
        - Input ``(N, C_in, H_in, W_in)`` (or unbatched, see ``x``).
        - Output ``(N, C_out, H_out, W_out)`` where
          ``H_out = (H_in + pad_top + pad_bottom - d_h*(kH - 1) - 1)//s_h + 1``, and the same
          for W (see :func:`convrec.conv.shapes.explain`). Unbatched inputs give unbatched
          outputs; ``(H, W)`` with a ``(kH, kW)`` kernel gives ``(H_out, W_out)``.

    Returns:
        Same kind as ``x`` (array or tensor); float32 unless an input is float64. With
        ``return_plan=True``, ``(result, plan)``.

    Raises:
        ShapeError: a bad argument or an impossible shape (a ``ValueError``, one line).
        LimitError: over ``limits`` (a ``ValueError``, one line).

    Non-finite numbers: every engine propagates NaN and Inf as ``F.conv2d`` does (an output
    is NaN where its window meets a NaN, or an Inf times a zero weight, or Infs of both
    signs; ±Inf where it meets Infs of one sign). Zero padding is made of real zeros, so a
    NaN or Inf *weight* that meets the padding gives NaN, as ``F.conv2d(F.pad(x, ...), w)``
    does; ``F.conv2d``'s own ``padding=`` is not consistent there (oneDNN skips the taps in
    the padding, its fallback path multiplies them; measured on torch 2.13 CPU).
    Tolerance: engines agree with ``F.conv2d`` to ``atol=1e-4, rtol=1e-4`` in float32 for
    values of order 1 (tested).

    Examples:
        >>> import numpy as np
        >>> from convrec.conv import conv2d, edge_weights
        >>> conv2d(np.zeros((64, 1, 28, 28), np.float32), edge_weights()).shape
        (64, 4, 26, 26)
        >>> _, plan = conv2d(np.zeros((28, 28)), edge_weights(), stride=2, padding=1,
        ...                  return_plan=True)
        >>> str(plan.rows)
        '(28 + 2*1 - 3)//2 + 1 = 14'
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got engine={engine!r}")
    mode = check_padding_mode(padding_mode)
    is_tensor = _is_tensor(x)
    x_shape = _shape_of(x)
    w_shape = _shape_of(weight)
    x4_shape, w4_shape, drop = _as_4d(x_shape, w_shape)
    plan = _repeated_plan(x4_shape, w4_shape, stride, padding, dilation, groups, mode)
    n_out = plan.weight_shape[0]
    if bias is not None and _shape_of(bias) != (n_out,):
        raise ShapeError(
            f"bias must have shape ({n_out},) (one per output channel), "
            f"got {_shape_of(bias)}"
        )
    pads = plan.pads
    needs_grad = is_tensor and (
        bool(x.requires_grad)  # type: ignore[attr-defined]
        or (_is_tensor(weight) and bool(weight.requires_grad))
    )
    chosen = choose_engine(x4_shape, w4_shape, groups, needs_grad) if engine == "auto" else engine
    if needs_grad and chosen != "torch":
        raise ValueError(
            f"engine={engine!r} cannot carry gradients; use engine='torch' or 'auto' for tensors "
            "that require grad"
        )
    if chosen == "stencil" and not _engines.stencil_available():
        raise ValueError("engine='stencil' needs numba: pip install numba")
    dtype = _result_dtype(x, weight)
    check_conv2d(
        plan,
        limits if limits is not None else ConvLimits(),
        itemsize=dtype.itemsize,
        padded_copy=not (chosen == "stencil" and mode == "zeros"),
        padding_shown=padding,
    )
    out_shape = plan.output_shape[drop:]
    out_4d = None if out is None else _check_out(out, out_shape, dtype, is_tensor, x)

    def run(
        chosen: str, xin: Any = x, x4: tuple[int, int, int, int] = x4_shape, into: Any = out
    ) -> Any:
        """The ``chosen`` engine on ``xin`` (``x4``-shaped), written into ``into`` if given;
        :mod:`~convrec.conv.tuning` calls it on a few images of ``x`` without ``into``."""
        if chosen == "torch":
            result: Any = _torch_conv(
                xin,
                weight,
                bias,
                x4,
                w4_shape,
                pads,
                plan.stride,
                plan.dilation,
                groups,
                mode,
                flip,
                keep_tensor=is_tensor,
            )
            if into is not None:
                if is_tensor:
                    into.copy_(result.reshape(out_shape))
                else:
                    np.copyto(into, np.asarray(result).reshape(out_shape))
                result = into
        else:
            xa = _to_numpy(xin).reshape(x4)
            wa = _to_numpy(weight).reshape(w4_shape)
            ba = None if bias is None else _to_numpy(bias)
            xa = xa.astype(dtype, copy=False)
            wa = wa.astype(dtype, copy=False)
            if flip:
                wa = wa[..., ::-1, ::-1]
            buffer = None if into is None or out_4d is None else out_4d.reshape(plan.output_shape)
            out_hw = plan.output_shape[2:]
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf propagate as in torch
                if chosen == "stencil":
                    if mode == "zeros":
                        result = _engines.stencil(
                            xa, wa, ba, out_hw, plan.stride, plan.dilation, groups, pads, out=buffer
                        )
                    else:
                        xp = pad_numpy(xa, pads, mode)
                        result = _engines.stencil(
                            xp, wa, ba, out_hw, plan.stride, plan.dilation, groups, out=buffer
                        )
                elif chosen == "im2col":
                    xp = pad_numpy(xa, pads, mode)
                    result = _engines.im2col(
                        xp, wa, ba, out_hw, plan.stride, plan.dilation, groups, out=buffer
                    )
                else:
                    xp = pad_numpy(xa, pads, mode)
                    result = _engines.direct(xp, wa, ba, out_hw, plan.stride, plan.dilation, groups)
                    if buffer is not None:
                        np.copyto(buffer, result)
            if into is not None:
                result = into
            elif is_tensor:
                import torch

                result = torch.from_numpy(np.ascontiguousarray(result))
        return result

    tuning = _tuning.wisdom() if engine == "auto" and not needs_grad else None
    confirm: tuple[str, bool] | None = None
    if tuning is not None:
        signature = _signature(
            x4_shape, w4_shape, plan.stride, pads, plan.dilation, groups, dtype, mode, is_tensor
        )
        best = tuning.lookup(signature)
        # Timed on the first images only, as many as make a few ms of work: every engine's
        # cost is linear in the batch past a few images, and the whole batch timed 20 times
        # would cost seconds per shape (19 s for the crossover sweep's 32 shapes).
        n_probe = _tuning.probe_images(x4_shape[0], plan.multiply_adds)
        if (
            best is None
            and tuning.budget_s > 0
            and plan.multiply_adds * n_probe // x4_shape[0] <= _tuning.MEASURE_MAX_MULTIPLY_ADDS
        ):
            candidates = ["im2col", "torch"]
            if _engines.stencil_available():  # with many taps it is dropped after one round
                candidates.insert(0, "stencil")
            x_probe: Any = x
            if n_probe < x4_shape[0]:
                whole: Any = x if is_tensor else _to_numpy(x)
                x_probe = whole.reshape(x4_shape)[:n_probe]
            probe = partial(run, xin=x_probe, x4=(n_probe, *x4_shape[1:]), into=None)
            best = tuning.measure(
                signature,
                {e: partial(probe, e) for e in candidates},
                probe_images=n_probe,
                batch_images=x4_shape[0],
            )
        if best is not None:
            chosen = best
        confirm = tuning.confirming(signature)
        if confirm is not None:  # the probe's pick, confirmed on this real call (tuning)
            chosen = confirm[0]
            start = time.perf_counter()
            result = run(chosen)
            tuning.record_whole(signature, time.perf_counter() - start)
    if confirm is None:
        result = run(chosen)
    if drop and result is not out:
        result = result.reshape(tuple(result.shape[drop:]))
    if return_plan:
        return cast(ArrayOrTensor, result), plan
    return cast(ArrayOrTensor, result)


@lru_cache(maxsize=256)  # bounded: a long-running program meets many shapes
def _signature(
    x4_shape: tuple[int, ...],
    w4_shape: tuple[int, ...],
    stride: tuple[int, int],
    pads: tuple[int, ...],
    dilation: tuple[int, int],
    groups: int,
    dtype: np.dtype[Any],
    mode: str,
    is_tensor: bool,
) -> str:
    """The wisdom key of a call (cached: formatting the tuples took 8 µs of a 50 µs call)."""
    return (
        f"{x4_shape}|{w4_shape}|s{stride}|p{pads}|d{dilation}|g{groups}|"
        f"{dtype}|{mode}|{'tensor' if is_tensor else 'array'}"
    )


def conv2d_plan(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, ...],
    stride: int | tuple[int, int] = 1,
    padding: PaddingArg = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    limits: ConvLimits | None = None,
) -> Conv2dPlan:
    """Everything :func:`conv2d` checks before touching an array, for faces to call first.

    Shapes may be unbatched as in :func:`conv2d` (``(H, W)`` with ``(kH, kW)``, ...). Checks
    the arguments and shapes (:func:`~convrec.conv.shapes.plan_conv2d`), that the padding
    fits the mode as PyTorch requires, and, with ``limits``, kernel size, padding, pixels and
    multiply-adds (:func:`~convrec.conv.limits.check_conv2d`; memory is checked by
    ``conv2d`` itself, which knows its engine).

    Raises:
        ShapeError, LimitError or ValueError: one line naming the parameter and the rule.
    """
    mode = check_padding_mode(padding_mode)
    x4_shape, w4_shape, _ = _as_4d(tuple(input_shape), tuple(weight_shape))
    plan = plan_conv2d(x4_shape, w4_shape, stride, padding, dilation, groups)
    check_padding_fits(mode, plan.pads, x4_shape)
    if limits is not None:
        check_conv2d(plan, replace(limits, max_bytes=sys.maxsize), padding_shown=padding)
    return plan


#: Plans of recent calls by their exact arguments: a call repeated on one shape (feature
#: extraction, the studio's playground) skips planning, about 50 µs of a 0.5 ms W1 call.
_PLANS: dict[tuple[Any, ...], Conv2dPlan] = {}
_PLANS_MAX = 256


def _typed(value: Any) -> Any:
    """``value`` with the type of it and of every item, at any depth, so that ``True`` and
    ``1`` (equal and of one hash) never share a plan: one of them is refused."""
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(_typed(v) for v in value))
    return (type(value), value)


def _repeated_plan(
    x4_shape: tuple[int, int, int, int],
    w4_shape: tuple[int, int, int, int],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    mode: str,
) -> Conv2dPlan:
    """:func:`conv2d_plan`, remembered for arguments met before (only plans that passed
    every check are kept: a bad argument is checked, and refused, on every call)."""
    try:
        key = (x4_shape, w4_shape, _typed(stride), _typed(padding), _typed(dilation),
               _typed(groups), mode)
        plan = _PLANS.get(key)
    except TypeError:  # an unhashable argument: plan it afresh
        return conv2d_plan(x4_shape, w4_shape, stride, padding, dilation, groups, mode)
    if plan is None:
        plan = conv2d_plan(x4_shape, w4_shape, stride, padding, dilation, groups, mode)
        if len(_PLANS) >= _PLANS_MAX:
            _PLANS.clear()
        _PLANS[key] = plan
    return plan


def _shape_of(a: Any) -> tuple[int, ...]:
    shape = getattr(a, "shape", None)
    if shape is None:
        shape = np.shape(a)
    return tuple(int(s) for s in shape)


def _result_dtype(x: Any, weight: Any) -> np.dtype[Any]:
    """float64 if either operand is float64 (or float16 promoted), else float32."""

    def kind(a: Any) -> np.dtype[Any]:
        if _is_tensor(a):
            name = str(a.dtype).removeprefix("torch.")
            dt = np.dtype(name) if name in ("float64", "float32", "float16") else np.dtype("int32")
        else:
            dt = np.asarray(a).dtype if not hasattr(a, "dtype") else np.dtype(a.dtype)
        return dt if dt.kind == "f" else np.dtype(np.float32)

    return np.result_type(kind(x), kind(weight))


def _check_out(
    out: Any, shape: tuple[int, ...], dtype: np.dtype[Any], is_tensor: bool, x: Any
) -> NDArray[Any]:
    """The writable NumPy view of ``out`` after checking it fits the result exactly."""
    if is_tensor != _is_tensor(out):
        kind = "a tensor" if is_tensor else "a NumPy array"
        raise TypeError(f"out must be {kind} like x, got out of type {type(out).__name__}")
    got_shape = tuple(int(s) for s in out.shape)
    if is_tensor:
        got_dtype = str(out.dtype).removeprefix("torch.")
        contiguous = bool(out.is_contiguous())
        if out.device.type != "cpu" or out.requires_grad:
            raise ValueError("out must be a CPU tensor that does not require grad")
    else:
        got_dtype = str(out.dtype)
        contiguous = bool(out.flags.c_contiguous and out.flags.writeable)
    if got_shape != shape or got_dtype != str(dtype):
        raise ValueError(
            f"out must have the result's shape {shape} and dtype {dtype}, got shape "
            f"{got_shape} and dtype {got_dtype}; allocate it with np.empty({shape}, "
            f"np.{dtype})"
        )
    if not contiguous:
        raise ValueError("out must be C-contiguous and writable (np.empty gives one)")
    if is_tensor:
        return cast(NDArray[Any], out.detach().numpy())
    return cast(NDArray[Any], out)


def _to_numpy(a: Any) -> NDArray[Any]:
    if _is_tensor(a):
        return cast(NDArray[Any], a.detach().cpu().numpy())
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
    return arr


def _numpy_to_torch(a: Any) -> torch.Tensor:
    """A tensor sharing ``a``'s memory; read-only arrays (the module's kernels) and views with
    a negative stride (``img[::-1]``, ``np.flip``) are copied, as torch cannot share them."""
    import torch

    arr = np.asarray(a)
    if not arr.flags.writeable or any(step < 0 for step in arr.strides):
        arr = arr.copy()
    return torch.from_numpy(arr)


def _torch_conv(
    x: Any,
    weight: Any,
    bias: Any,
    x4_shape: tuple[int, int, int, int],
    w4_shape: tuple[int, int, int, int],
    pads: tuple[int, int, int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    mode: PaddingMode,
    flip: bool,
    keep_tensor: bool,
) -> Any:
    import torch
    import torch.nn.functional as F

    xt: torch.Tensor = x if _is_tensor(x) else _numpy_to_torch(x)
    if not xt.is_floating_point():
        xt = xt.float()
    wt: torch.Tensor = weight if _is_tensor(weight) else _numpy_to_torch(weight)
    dtype = torch.promote_types(xt.dtype, wt.dtype if wt.is_floating_point() else torch.float32)
    xt = xt.to(dtype).reshape(x4_shape)
    wt = wt.to(device=xt.device, dtype=dtype).reshape(w4_shape)
    bt = None
    if bias is not None:
        bt = (bias if _is_tensor(bias) else _numpy_to_torch(bias)).to(
            device=xt.device, dtype=dtype
        )
    if flip:
        wt = wt.flip((-2, -1))
    top, bottom, left, right = pads
    # oneDNN skips the taps that fall in its implicit zero padding, PyTorch's fallback path
    # multiplies them (0 * NaN = NaN): with a non-finite weight the two disagree, so pad
    # explicitly then, as every other engine does (padding zeros are real zeros).
    implicit = mode == "zeros" and top == bottom and left == right
    if implicit and (top or left) and not bool(torch.isfinite(wt).all()):
        implicit = False
    if implicit:
        torch_pad: tuple[int, int] = (top, left)
    else:
        xt = pad_torch(xt, pads, mode)
        torch_pad = (0, 0)
    if not keep_tensor and x4_shape[1] >= CHANNELS_LAST_MIN_CHANNELS:
        # oneDNN is fastest channels-last for many channels (W3: 40 ms vs 63 ms).
        xt = xt.contiguous(memory_format=torch.channels_last)
        wt = wt.contiguous(memory_format=torch.channels_last)
    with torch.set_grad_enabled(xt.requires_grad or wt.requires_grad):
        out = F.conv2d(xt, wt, bt, stride, torch_pad, dilation, groups)
    if keep_tensor:
        return out
    return out.numpy()
