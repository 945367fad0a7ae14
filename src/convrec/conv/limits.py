"""Limits before work: the one guard that every face calls before anything is allocated.

``conv2d`` calls :func:`check_conv2d` on its :class:`~convrec.conv.shapes.Conv2dPlan` (shapes
only, no array touched), with :class:`ConvLimits` from the caller; the CLI and the web router
build theirs from ``Settings.limits`` with :meth:`ConvLimits.from_settings`. Kernel specs
such as ``gaussian:6001`` are measured by :func:`convrec.conv.kernels.kernel_spec_shape` and
refused by :func:`check_kernel_size` before the kernel is built.

Every refusal is a :class:`LimitError` (a ``ValueError``): one line naming the parameter, the
value, the limit and the fix. The web answers it with 413, the CLI with exit code 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convrec.conv.shapes import Conv2dPlan

__all__ = [
    "ConvLimits",
    "LimitError",
    "check_conv2d",
    "check_kernel_size",
    "check_multiply_adds",
    "check_padding",
    "physical_memory_bytes",
]


class LimitError(ValueError):
    """A request over a limit. ``parameter``, ``value`` and ``limit`` say which and by how much."""

    def __init__(self, message: str, *, parameter: str, value: object, limit: int) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value
        self.limit = limit


def physical_memory_bytes() -> int | None:
    """This machine's RAM in bytes (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class ConvLimits:
    """What one convolution call may cost. ``None`` means no limit.

    Attributes:
        max_kernel_size: largest kernel side (``kH`` and ``kW``).
        max_padding: largest padding on any one side.
        max_pixels: largest padded input and largest output, per image and channel
            (``H_padded * W_padded`` and ``H_out * W_out``).
        max_multiply_adds: the budget of one call, ``N * O * H_out * W_out * C/groups * kH * kW``.
        max_bytes: the most the call may allocate (output plus padded copy); by default the
            machine's RAM, so an impossible request is one line instead of a ``MemoryError``.
    """

    max_kernel_size: int | None = None
    max_padding: int | None = None
    max_pixels: int | None = None
    max_multiply_adds: int | None = None
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        # a limit that is not a positive int would silently disable or break every check
        for name in ("max_kernel_size", "max_padding", "max_pixels", "max_multiply_adds",
                     "max_bytes"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ConvLimits: {name} must be an int >= 0 or None (no limit), "
                                 f"got {name}={value!r}")

    @classmethod
    def from_settings(cls, limits: Any, *, budget: bool = True) -> ConvLimits:
        """The conv limits in ``Settings.limits`` (``convrec.settings.Limits``).

        Args:
            limits: any object with ``max_kernel_size``, ``max_padding``,
                ``max_image_pixels`` and ``max_multiply_adds`` attributes (missing ones mean
                no limit; conv, on floor 0, does not import the settings module).
            budget: apply ``max_multiply_adds`` (the API's per-request budget); the CLI,
                which runs on the user's own machine, passes ``False``.
        """
        return cls(
            max_kernel_size=getattr(limits, "max_kernel_size", None),
            max_padding=getattr(limits, "max_padding", None),
            max_pixels=getattr(limits, "max_image_pixels", None),
            max_multiply_adds=getattr(limits, "max_multiply_adds", None) if budget else None,
        )


def check_kernel_size(
    shape: tuple[int, ...], limits: ConvLimits, *, name: str = "kernel", shown: object = None
) -> None:
    """Refuse a kernel whose last two sides exceed ``limits.max_kernel_size``.

    ``shape`` may be measured from a spec before building the kernel
    (:func:`convrec.conv.kernels.kernel_spec_shape`). ``shown`` is the value named in the
    message (default: the shape).
    """
    limit = limits.max_kernel_size
    if limit is None or len(shape) < 2:
        return
    kh, kw = shape[-2], shape[-1]
    if max(kh, kw) > limit:
        value = shape if shown is None else shown
        raise LimitError(
            f"{name} {value!r} is {kh}×{kw}: kernels may be at most {limit}×{limit}; use a "
            "smaller one (larger kernels are the job of FFT convolution, "
            "scipy.signal.fftconvolve)",
            parameter=name,
            value=value,
            limit=limit,
        )


def check_padding(
    pads: tuple[int, ...], limits: ConvLimits, *, name: str = "padding", shown: object = None
) -> None:
    """Refuse padding wider than ``limits.max_padding`` on any side."""
    limit = limits.max_padding
    if limit is None or not pads or max(pads) <= limit:
        return
    value = pads if shown is None else shown
    raise LimitError(
        f"{name}={value!r} adds {max(pads)} pixels on one side, over the limit of {limit}; use "
        f"at most {limit} per side ('same' keeps the size, 'full' adds kernel - 1)",
        parameter=name,
        value=value,
        limit=limit,
    )


def check_multiply_adds(work: int, limits: ConvLimits, *, how: str = "") -> None:
    """Refuse ``work`` multiply-adds over ``limits.max_multiply_adds`` (the per-call budget).

    A face that runs several convolutions for one request sums their
    :attr:`~convrec.conv.shapes.Conv2dPlan.multiply_adds` and checks the total once.
    """
    budget = limits.max_multiply_adds
    if budget is None or work <= budget:
        return
    raise LimitError(
        f"this needs {work:,} multiply-adds{f' ({how})' if how else ''}, over the budget of "
        f"{budget:,} per request; use fewer or smaller kernels, a smaller image or a larger "
        "stride",
        parameter="multiply_adds",
        value=work,
        limit=budget,
    )


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_conv2d(
    plan: Conv2dPlan,
    limits: ConvLimits,
    *,
    itemsize: int = 4,
    padded_copy: bool = True,
    padding_shown: object = None,
) -> None:
    """Refuse, before any allocation, a convolution over one of ``limits``.

    Args:
        plan: the call's shapes (:func:`convrec.conv.shapes.plan_conv2d`).
        limits: the caller's limits; ``max_bytes=None`` means the machine's RAM.
        itemsize: bytes per element of the computation (4 for float32).
        padded_copy: whether the engine copies the padded input (the stencil engine pads
            zeros in its loop and does not).
        padding_shown: the padding as the user wrote it, for the message.

    Raises:
        LimitError: one line naming the parameter, the value, the limit and the fix.
    """
    check_kernel_size(plan.weight_shape, limits, name="kernel")
    check_padding(plan.pads, limits, shown=padding_shown)
    n, c, _, _ = plan.input_shape
    _, n_out, out_h, out_w = plan.output_shape
    padded_h, padded_w = plan.padded_hw
    if limits.max_pixels is not None:
        for what, h, w, fix in (
            ("the padded input", padded_h, padded_w, "reduce the padding or use a smaller image"),
            ("the output", out_h, out_w, "reduce the padding or dilation, or use a stride"),
        ):
            if h * w > limits.max_pixels:
                raise LimitError(
                    f"{what} would be {h}×{w} = {h * w:,} pixels per image, over the limit of "
                    f"{limits.max_pixels:,}; {fix}",
                    parameter="padding" if what == "the padded input" else "output",
                    value=(h, w),
                    limit=limits.max_pixels,
                )
    _, c_per_group, kh, kw = plan.weight_shape
    check_multiply_adds(
        plan.multiply_adds,
        limits,
        how=f"{n} image(s) × {n_out} kernel(s) × {out_h}×{out_w} outputs × "
        f"{c_per_group * kh * kw} taps",
    )
    max_bytes = limits.max_bytes if limits.max_bytes is not None else physical_memory_bytes()
    if max_bytes is None:
        return
    n_bytes = n * n_out * out_h * out_w * itemsize
    if padded_copy and any(plan.pads):
        n_bytes += n * c * padded_h * padded_w * itemsize
    if n_bytes > max_bytes:
        raise LimitError(
            f"this convolution would allocate {_gib(n_bytes)} (output {n}×{n_out}×{out_h}×"
            f"{out_w}), more than the {_gib(max_bytes)} allowed (this machine's memory by "
            "default); reduce the padding, the image size or the number of kernels",
            parameter="output",
            value=n_bytes,
            limit=max_bytes,
        )
