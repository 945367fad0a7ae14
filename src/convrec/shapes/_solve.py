"""Which kernel / stride / padding turn an input size into the output size you want?

:func:`solve` enumerates small kernels, strides and dilations, and for each one the paddings
that reach ``n_out`` (symmetric ones, and the asymmetric TensorFlow-style ``'same'`` pad
that works with any stride). Every proposal carries the :class:`ShapeExplanation` made by
:func:`convrec.conv.shapes.explain` (or ``explain_pool`` / ``explain_transposed``), so the
arithmetic is shown, not asserted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from convrec.conv.shapes import (
    ShapeExplanation,
    explain,
    explain_pool,
    explain_transposed,
    same_padding,
)

SolveKind = Literal["conv", "pool", "transposed"]


@dataclass(frozen=True)
class Solution:
    """One way to get ``n_out`` from ``n_in``.

    Attributes:
        kernel, stride, dilation: the hyperparameters.
        padding: ``(before, after)``; equal sides for PyTorch's ``padding=p``.
        output_padding: transposed convolution only.
        explanation: the worked formula, e.g. ``(28 + 2*1 - 3)//2 + 1 = 14``.
        same: ``True`` when this is the ``'same'`` padding for this stride (``ceil(n/s)``).
        code: a PyTorch line that builds it.
    """

    kernel: int
    stride: int
    padding: tuple[int, int]
    dilation: int
    explanation: ShapeExplanation
    same: bool = False
    output_padding: int = 0
    code: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel, "stride": self.stride, "padding": list(self.padding),
            "dilation": self.dilation, "output_padding": self.output_padding,
            "same": self.same, "code": self.code, "explanation": self.explanation.to_dict(),
        }


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
    return value


def _values(name: str, values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(values)
    if not out:
        raise ValueError(f"{name} must list at least one value, got {name}=()")
    for v in out:
        _positive(f"{name} value", v)
    return out


def _code(kind: SolveKind, k: int, s: int, pad: tuple[int, int], d: int, op: int) -> str:
    if kind == "pool":
        return f"nn.MaxPool2d({k}, stride={s}, padding={pad[0]})"
    extra = f", dilation={d}" if d > 1 else ""
    if kind == "transposed":
        more = f", output_padding={op}" if op else ""
        return f"nn.ConvTranspose2d(c_in, c_out, {k}, stride={s}, padding={pad[0]}{more}{extra})"
    if pad[0] == pad[1]:
        return f"nn.Conv2d(c_in, c_out, {k}, stride={s}, padding={pad[0]}{extra})"
    return (f"nn.ZeroPad2d(({pad[0]}, {pad[1]}, {pad[0]}, {pad[1]})), "
            f"nn.Conv2d(c_in, c_out, {k}, stride={s}{extra})")


def solve(
    n_in: int,
    n_out: int,
    *,
    kind: SolveKind = "conv",
    kernels: Iterable[int] = (1, 2, 3, 4, 5, 7),
    strides: Iterable[int] = (1, 2, 3, 4),
    dilations: Iterable[int] = (1,),
    max_padding: int | None = None,
    limit: int = 20,
) -> list[Solution]:
    """Kernel/stride/padding combinations that map ``n_in`` to ``n_out`` along one dimension.

    Args:
        n_in: input size, e.g. 28.
        n_out: wanted output size, e.g. 14.
        kind: ``"conv"`` (``nn.Conv2d``), ``"pool"`` (``nn.MaxPool2d``, padding ≤ k//2) or
            ``"transposed"`` (``nn.ConvTranspose2d``, with ``output_padding``).
        kernels: the kernel sizes to try.
        strides: the strides to try.
        dilations: the dilations to try.
        max_padding: the largest padding per side (default: ``d*(k-1)``, full padding; for
            pooling PyTorch's limit ``k//2``).
        limit: the most solutions returned.

    Returns:
        Solutions, simplest first: symmetric padding before asymmetric, then smaller kernel,
        stride and padding. With a stride, the asymmetric ``'same'`` pad
        (:func:`convrec.conv.shapes.same_padding`) is included when ``ceil(n_in/s) == n_out``.

    Examples:
        >>> [str(s.explanation) for s in solve(28, 14, kernels=(3,), strides=(2,))]
        ['(28 + 2*1 - 3)//2 + 1 = 14', '(28 + 0 + 1 - 3)//2 + 1 = 14']
    """
    _positive("n_in", n_in)
    _positive("n_out", n_out)
    _positive("limit", limit)
    if kind not in ("conv", "pool", "transposed"):
        raise ValueError(f"kind must be 'conv', 'pool' or 'transposed', got kind={kind!r}")
    if max_padding is not None and (isinstance(max_padding, bool) or max_padding < 0):
        raise ValueError(f"max_padding must be >= 0, got max_padding={max_padding!r}")
    found: list[Solution] = []
    seen: set[tuple[int, int, tuple[int, int], int, int]] = set()

    def add(k: int, s: int, pad: tuple[int, int], d: int, expl: ShapeExplanation,
            same: bool, op: int = 0) -> None:
        key = (k, s, pad, d, op)
        if expl.valid and expl.result == n_out and key not in seen:
            seen.add(key)
            found.append(Solution(k, s, pad, d, expl, same, op, _code(kind, k, s, pad, d, op)))

    for k in _values("kernels", kernels):
        for s in _values("strides", strides):
            for d in _values("dilations", dilations):
                k_eff = d * (k - 1) + 1
                if kind == "pool":
                    top = k // 2 if max_padding is None else min(max_padding, k // 2)
                    for p in range(top + 1):
                        add(k, s, (p, p), d, explain_pool(n_in, k, s, p, d, check=False), False)
                    continue
                top = k_eff - 1 if max_padding is None else max_padding
                if kind == "transposed":
                    for p in range(top + 1):
                        for op in range(max(s, d)):
                            expl = explain_transposed(n_in, k, s, p, d, op, check=False)
                            add(k, s, (p, p), d, expl, False, op)
                    continue
                same_pad = same_padding(n_in, k, s, d) if math.ceil(n_in / s) == n_out else None
                for p in range(top + 1):
                    expl = explain(n_in, k, s, p, d, check=False)
                    add(k, s, (p, p), d, expl, same_pad == (p, p))
                if same_pad is not None and same_pad[0] != same_pad[1] and max(same_pad) <= top:
                    add(k, s, same_pad, d, explain(n_in, k, s, same_pad, d, check=False), True)
    found.sort(key=lambda x: (x.padding[0] != x.padding[1], x.dilation, x.kernel, x.stride,
                              x.padding, x.output_padding))
    return found[:limit]
