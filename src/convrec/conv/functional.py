"""``conv2d``: one function, four engines, NumPy arrays or torch tensors in and out."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from convrec.conv import _engines
from convrec.conv._padding import PaddingMode, check_padding_mode, pad_numpy, pad_torch
from convrec.conv.shapes import ShapeError, _pair, conv2d_output_shape, normalize_padding

if TYPE_CHECKING:
    import torch

__all__ = ["ENGINES", "Engine", "choose_engine", "conv2d"]

Engine = Literal["auto", "direct", "im2col", "stencil", "torch"]
ENGINES: tuple[str, ...] = ("auto", "direct", "im2col", "stencil", "torch")

ArrayOrTensor = TypeVar("ArrayOrTensor")

# Measured crossover (benchmarks/bench_conv_crossover.py, RESULTS.md): the fused stencil beats
# oneDNN for single-channel 3×3-sized kernels (≤ 9 taps per output pixel) when there are few
# output channels or many pixels; with more taps or channels oneDNN's GEMM path wins.
STENCIL_MAX_TAPS = 9  # C_in/groups * kH * kW
STENCIL_MAX_OUT_CHANNELS = 4  # always stencil up to here ...
STENCIL_MAX_OUT_CHANNELS_LARGE = 64  # ... and up to here when the input is large
STENCIL_LARGE_INPUT_PIXELS = 200_000  # N * H * W
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
    if needs_grad:
        return "torch"
    n_out, c_per_group, kh, kw = weight_shape
    taps = c_per_group * kh * kw
    pixels = input_shape[0] * input_shape[2] * input_shape[3]
    few_outputs = n_out <= STENCIL_MAX_OUT_CHANNELS or (
        n_out <= STENCIL_MAX_OUT_CHANNELS_LARGE and pixels >= STENCIL_LARGE_INPUT_PIXELS
    )
    if taps <= STENCIL_MAX_TAPS and few_outputs and _engines.stencil_available():
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


def conv2d(
    x: ArrayOrTensor,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int, int] = 1,
    padding: int | str | tuple[int, ...] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    engine: Engine = "auto",
    flip: bool = False,
) -> ArrayOrTensor:
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
            bottom/right) or ``"full"`` (``d*(k-1)`` on every side).
        dilation: int or ``(d_h, d_w)``, ≥ 1.
        groups: input and output channels are split into this many independent groups.
        padding_mode: ``zeros``, ``reflect``, ``replicate``, ``circular`` (PyTorch names) or
            ``symmetric`` (edge pixel repeated; see ``_padding.MODE_TRANSLATION``).
        engine: ``auto`` (fastest for the shape, see :func:`choose_engine`), ``direct``,
            ``im2col``, ``stencil`` or ``torch``. Tensors that require grad always use torch.
        flip: flip the kernel (true convolution).

    Shape:
        - Input ``(N, C_in, H_in, W_in)`` (or unbatched, see ``x``).
        - Output ``(N, C_out, H_out, W_out)`` where
          ``H_out = (H_in + pad_top + pad_bottom - d_h*(kH - 1) - 1)//s_h + 1``, and the same
          for W (see :func:`convrec.conv.shapes.explain`). Unbatched inputs give unbatched
          outputs; ``(H, W)`` with a ``(kH, kW)`` kernel gives ``(H_out, W_out)``.

    Returns:
        Same kind as ``x`` (array or tensor); float32 unless an input is float64. NumPy results
        may be strided views (channels-last); call ``np.ascontiguousarray`` if needed.

    Tolerance: engines agree with ``F.conv2d`` to ``atol=1e-4, rtol=1e-4`` in float32 for
    values of order 1 (tested). The stencil engine skips zero taps, so a NaN/inf input pixel
    that only meets zero weights does not propagate as it would in PyTorch.

    Examples:
        >>> import numpy as np
        >>> from convrec.conv import conv2d, edge_weights
        >>> conv2d(np.zeros((64, 1, 28, 28), np.float32), edge_weights()).shape
        (64, 4, 26, 26)
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got engine={engine!r}")
    mode = check_padding_mode(padding_mode)
    is_tensor = _is_tensor(x)
    x_shape = tuple(int(s) for s in x.shape)  # type: ignore[attr-defined]
    w_shape = (
        tuple(int(s) for s in np.shape(weight) if True)
        if not _is_tensor(weight)
        else tuple(int(s) for s in weight.shape)
    )
    x4_shape, w4_shape, drop = _as_4d(x_shape, w_shape)
    (_, n_out, out_h, out_w), _, _ = conv2d_output_shape(
        x4_shape, w4_shape, stride, padding, dilation, groups
    )
    if bias is not None and tuple(np.shape(bias) if not _is_tensor(bias) else bias.shape) != (
        n_out,
    ):
        raise ShapeError(
            f"bias must have shape ({n_out},) (one per output channel), "
            f"got {tuple(np.shape(bias) if not _is_tensor(bias) else bias.shape)}"
        )
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    pads = normalize_padding(padding, x4_shape[2:], w4_shape[2:], (sh, sw), (dh, dw))
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

    if chosen == "torch":
        out_t = _torch_conv(
            x,
            weight,
            bias,
            x4_shape,
            w4_shape,
            pads,
            (sh, sw),
            (dh, dw),
            groups,
            mode,
            flip,
            keep_tensor=is_tensor,
        )
        result: Any = out_t
    else:
        xa = _to_numpy(x).reshape(x4_shape)
        wa = _to_numpy(weight).reshape(w4_shape)
        ba = None if bias is None else _to_numpy(bias)
        dtype = np.result_type(
            xa.dtype if xa.dtype.kind == "f" else np.float32,
            wa.dtype if wa.dtype.kind == "f" else np.float32,
        )
        xa = xa.astype(dtype, copy=False)
        wa = wa.astype(dtype, copy=False)
        if flip:
            wa = wa[..., ::-1, ::-1]
        if chosen == "stencil" and mode == "zeros":
            result = _engines.stencil(xa, wa, ba, (out_h, out_w), (sh, sw), (dh, dw), groups, pads)
        else:
            xp = pad_numpy(xa, pads, mode)
            if chosen == "stencil":
                result = _engines.stencil(xp, wa, ba, (out_h, out_w), (sh, sw), (dh, dw), groups)
            else:
                fn = _engines.direct if chosen == "direct" else _engines.im2col
                result = fn(xp, wa, ba, (out_h, out_w), (sh, sw), (dh, dw), groups)
        if is_tensor:
            import torch

            result = torch.from_numpy(np.ascontiguousarray(result))
    if drop:
        result = result.reshape(tuple(result.shape[drop:]))
    return cast(ArrayOrTensor, result)


def _to_numpy(a: Any) -> NDArray[Any]:
    if _is_tensor(a):
        return cast(NDArray[Any], a.detach().cpu().numpy())
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"expected a numeric array, got dtype {arr.dtype}")
    return arr


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

    xt: torch.Tensor = x if _is_tensor(x) else torch.from_numpy(np.asarray(x))
    if not xt.is_floating_point():
        xt = xt.float()
    wt: torch.Tensor = weight if _is_tensor(weight) else torch.from_numpy(np.asarray(weight))
    dtype = torch.promote_types(xt.dtype, wt.dtype if wt.is_floating_point() else torch.float32)
    xt = xt.to(dtype).reshape(x4_shape)
    wt = wt.to(device=xt.device, dtype=dtype).reshape(w4_shape)
    bt = None
    if bias is not None:
        bt = (bias if _is_tensor(bias) else torch.from_numpy(np.asarray(bias))).to(
            device=xt.device, dtype=dtype
        )
    if flip:
        wt = wt.flip((-2, -1))
    top, bottom, left, right = pads
    if mode == "zeros" and top == bottom and left == right:
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
