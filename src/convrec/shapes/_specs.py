"""What a layer does to a shape, as plain data: one *spec* per known layer type.

A spec holds only the hyperparameters that decide the output shape (kernel, stride, padding,
``in_features``, ...). ``spec.apply(input_shape)`` returns a :class:`LayerShape`: the output
shape, the worked formulas (from :mod:`convrec.conv.shapes`, never re-derived here), the
multiply-adds and the window that the receptive field grows by. It raises
:class:`LayerShapeError` when the input cannot go through the layer, with the same cause that
PyTorch would fail on. Specs are pure Python, so shapes can be computed without running
(or even importing) torch; :func:`spec_of` reads one from an ``nn.Module`` and
:func:`spec_of_call` from a functional call such as ``F.conv2d`` or ``x.view(...)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from convrec.conv.shapes import (
    ShapeExplanation,
    explain,
    explain_pool,
    explain_transposed,
    same_padding,
)

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
Window = tuple[int, int, int]  # (kernel, stride, dilation) along one spatial dimension

FailureKind = Literal[
    "rank",
    "channels",
    "kernel_too_large",
    "pool_too_small",
    "linear_in_features",
    "flatten_missing",
    "reshape",
    "features",
    "invalid",
    "broadcast",
    "cat",
    "matmul",
    "ids",
]


def _fmt(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(v) for v in shape) + ")"


def _prod_text(values: Sequence[int]) -> str:
    return "·".join(str(v) for v in values)


class LayerShapeError(ValueError):
    """The input shape cannot go through this layer.

    Attributes:
        kind: which classic error it is (``"channels"``, ``"linear_in_features"``, ...).
        explanations: the worked formulas (with ``rule_broken`` set) when sizes are at fault.
        expected, got: the two numbers that disagree (channels, features), when relevant.
    """

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        explanations: tuple[ShapeExplanation, ...] = (),
        expected: int | None = None,
        got: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.explanations = explanations
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class LayerShape:
    """The effect of one layer on one input shape.

    Attributes:
        output_shape: e.g. ``(64, 8, 14, 14)``.
        explanations: one :class:`ShapeExplanation` per spatial dimension (H then W) for
            conv, transposed conv and pooling; empty otherwise.
        formulas: other worked formulas, e.g. ``"8·7·7 = 392"`` for a flatten.
        mult_adds: multiply-adds (torchinfo's convention, bias ignored).
        mult_adds_formula: how ``mult_adds`` was counted, with numbers.
        windows: ``(kernel, stride, dilation)`` per spatial dimension for the receptive field;
            ``None`` when the layer keeps the receptive field as it is.
        rf: ``"keep"``, ``"window"`` (grow by ``windows``), ``"global"`` (every output sees
            the whole input) or ``"unknown"``.
        notes: warnings about this layer (e.g. a reshape that changed the batch size).
    """

    output_shape: Shape
    explanations: tuple[ShapeExplanation, ...] = ()
    formulas: tuple[str, ...] = ()
    mult_adds: int = 0
    mult_adds_formula: str = ""
    windows: tuple[Window, ...] | None = None
    rf: Literal["keep", "window", "global", "unknown"] = "keep"
    notes: tuple[str, ...] = ()


class Spec(Protocol):
    """Anything that maps an input shape to a :class:`LayerShape`."""

    @property
    def label(self) -> str: ...

    def apply(self, shape: Shape) -> LayerShape: ...


def _spatial(shape: Shape, nd: int, label: str, what: str, example: str) -> tuple[Shape, Shape]:
    """Split ``(N, C, *spatial)`` or unbatched ``(C, *spatial)`` into ``(leading, spatial)``."""
    if len(shape) not in (nd + 1, nd + 2):
        raise LayerShapeError(
            "rank",
            f"{label} expects a {nd + 2}-D batched input (N, C{', H, W' if nd == 2 else ''}) "
            f"or a {nd + 1}-D unbatched one, got {len(shape)}-D input {_fmt(shape)}{what}. "
            f"Example of a valid input: {example}",
        )
    return shape[: len(shape) - nd], shape[len(shape) - nd :]


def _axis_word(i: int, nd: int) -> str:
    return "column" if i == nd - 1 and nd > 1 else "row"


def _example(nd: int, channels: int) -> str:
    return _fmt((64, channels, *([28] * nd)))


# ----------------------------------------------------------------------------- convolution
@dataclass(frozen=True)
class ConvSpec:
    """``nn.ConvNd`` / ``F.convNd`` (and the transposed variants with ``transposed=True``)."""

    nd: int
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...] | Literal["same", "valid"]
    dilation: tuple[int, ...]
    groups: int = 1
    transposed: bool = False
    output_padding: tuple[int, ...] = ()
    label: str = "Conv2d"
    padding_mode: str = "zeros"  # "circular" pads with the opposite edge (receptive boxes wrap)

    def pads(self, spatial: Shape) -> tuple[tuple[int, int], ...]:
        """Padding ``(before, after)`` per spatial dim, resolving ``'same'``/``'valid'``."""
        if self.padding == "valid":
            return tuple((0, 0) for _ in range(self.nd))
        if self.padding == "same":
            # PyTorch's 'same' (stride 1 only): total d*(k-1), the odd pixel goes after.
            return tuple(
                same_padding(n, k, 1, d)
                for n, k, d in zip(spatial, self.kernel, self.dilation, strict=True)
            )
        return self.padding

    def apply(self, shape: Shape) -> LayerShape:
        lead, spatial = _spatial(
            shape, self.nd, self.label, "", _example(self.nd, self.in_channels)
        )
        channels = lead[-1]
        if channels != self.in_channels:
            raise LayerShapeError(
                "channels",
                f"{self.label} expects {self.in_channels} input channels "
                f"(in_channels={self.in_channels}), but its input {_fmt(shape)} has "
                f"{channels} channels (dimension {len(lead) - 1})",
                expected=self.in_channels,
                got=channels,
            )
        batch = lead[0] if len(lead) == 2 else 1
        if self.transposed:
            return self._apply_transposed(lead, spatial, batch)
        expls = tuple(
            explain(n, k, s, p, d, check=False, axis_word=_axis_word(i, self.nd))
            for i, (n, k, s, p, d) in enumerate(
                zip(spatial, self.kernel, self.stride, self.pads(spatial), self.dilation,
                    strict=True)
            )
        )
        bad = [e for e in expls if not e.valid]
        if bad:
            raise LayerShapeError(
                "kernel_too_large",
                f"{self.label}: the {'x'.join(map(str, self.kernel))} kernel does not fit its "
                f"{'x'.join(map(str, spatial))} input: {bad[0]} <= 0; {bad[0].rule_broken}",
                explanations=expls,
            )
        out_spatial = tuple(e.result for e in expls)
        c_per_group = self.in_channels // self.groups
        factors = [batch, self.out_channels, *out_spatial, c_per_group, *self.kernel]
        macs = math.prod(factors)
        return LayerShape(
            output_shape=(*lead[:-1], self.out_channels, *out_spatial),
            explanations=expls,
            mult_adds=macs,
            mult_adds_formula=f"N·C_out·(output spatial)·C_in/groups·(kernel) = "
            f"{_prod_text(factors)} = {macs:,}",
            windows=tuple(zip(self.kernel, self.stride, self.dilation, strict=True)),
            rf="window",
        )

    def _apply_transposed(self, lead: Shape, spatial: Shape, batch: int) -> LayerShape:
        if isinstance(self.padding, str):
            raise LayerShapeError(
                "invalid", f"{self.label} takes integer padding, got padding={self.padding!r}"
            )
        ops = self.output_padding or tuple(0 for _ in range(self.nd))
        expls = tuple(
            explain_transposed(n, k, s, p[0], d, op, check=False)
            for n, k, s, p, d, op in zip(
                spatial, self.kernel, self.stride, self.padding, self.dilation, ops, strict=True
            )
        )
        bad = [e for e in expls if not e.valid]
        if bad:
            raise LayerShapeError(
                "invalid", f"{self.label}: {bad[0]}; {bad[0].rule_broken}", explanations=expls
            )
        out_spatial = tuple(e.result for e in expls)
        factors = [batch, self.in_channels, *spatial, self.out_channels // self.groups,
                   *self.kernel]
        macs = math.prod(factors)
        return LayerShape(
            output_shape=(*lead[:-1], self.out_channels, *out_spatial),
            explanations=expls,
            mult_adds=macs,
            mult_adds_formula=f"N·C_in·(input spatial)·C_out/groups·k = {_prod_text(factors)}"
            f" = {macs:,} (every input pixel scatters one kernel)",
            rf="unknown",
        )


# ----------------------------------------------------------------------------- pooling
@dataclass(frozen=True)
class PoolSpec:
    """``nn.MaxPoolNd`` / ``nn.AvgPoolNd`` and ``F.max_poolNd`` / ``F.avg_poolNd``."""

    nd: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False
    label: str = "MaxPool2d"

    def apply(self, shape: Shape) -> LayerShape:
        lead, spatial = _spatial(shape, self.nd, self.label, "", _example(self.nd, 8))
        expls = tuple(
            explain_pool(n, k, s, p, d, self.ceil_mode, check=False)
            for n, k, s, p, d in zip(
                spatial, self.kernel, self.stride, self.padding, self.dilation, strict=True
            )
        )
        bad = [e for e in expls if not e.valid]
        if bad:
            raise LayerShapeError(
                "pool_too_small",
                f"{self.label}: output size too small: the {'x'.join(map(str, self.kernel))} "
                f"window does not fit its {'x'.join(map(str, spatial))} input: {bad[0]}; "
                f"{bad[0].rule_broken}",
                explanations=expls,
            )
        return LayerShape(
            output_shape=(*lead, *(e.result for e in expls)),
            explanations=expls,
            windows=tuple(zip(self.kernel, self.stride, self.dilation, strict=True)),
            rf="window",
        )


@dataclass(frozen=True)
class AdaptivePoolSpec:
    """``nn.AdaptiveAvgPoolNd`` / ``nn.AdaptiveMaxPoolNd``: any input size to a fixed size."""

    nd: int
    output_size: tuple[int | None, ...]
    label: str = "AdaptiveAvgPool2d"

    def apply(self, shape: Shape) -> LayerShape:
        lead, spatial = _spatial(shape, self.nd, self.label, "", _example(self.nd, 8))
        outs = tuple(n if o is None else o for n, o in zip(spatial, self.output_size, strict=True))
        expls: list[ShapeExplanation] = []
        formulas: list[str] = []
        windows: list[Window] = []
        for n, o in zip(spatial, outs, strict=True):
            if n % o == 0:
                # an exact division is a plain pooling with kernel = stride = n/o
                expls.append(explain_pool(n, n // o, n // o))
                windows.append((n // o, n // o, 1))
            else:
                formulas.append(
                    f"adaptive {n} → {o}: windows of {n // o} to {-(-n // o)} pixels "
                    f"(start floor(i*{n}/{o}), end ceil((i+1)*{n}/{o}))"
                )
        rf: Literal["window", "global", "unknown"]
        if all(o == 1 for o in outs):
            rf = "global"
        elif len(windows) == self.nd:
            rf = "window"
        else:
            rf = "unknown"
        return LayerShape(
            output_shape=(*lead, *outs),
            explanations=tuple(expls) if len(expls) == self.nd else (),
            formulas=tuple(formulas) if formulas else tuple(
                f"adaptive {n} → {o}" for n, o in zip(spatial, outs, strict=True)
                if len(expls) != self.nd
            ),
            windows=tuple(windows) if rf == "window" else None,
            rf=rf,
        )


# ----------------------------------------------------------------------------- linear
@dataclass(frozen=True)
class LinearSpec:
    """``nn.Linear`` / ``F.linear``: acts on the last dimension only."""

    in_features: int
    out_features: int
    label: str = "Linear"

    def apply(self, shape: Shape) -> LayerShape:
        if len(shape) == 0:
            raise LayerShapeError("rank", f"{self.label} needs at least 1-D input, got a scalar")
        last = shape[-1]
        if last != self.in_features:
            flat = math.prod(shape[1:]) if len(shape) > 2 else last
            kind: FailureKind = "linear_in_features"
            if len(shape) > 2:
                kind = "flatten_missing"
            rows = math.prod(shape[:-1])
            raise LayerShapeError(
                kind,
                f"{self.label} expects in_features={self.in_features} in the last dimension, "
                f"but its input {_fmt(shape)} has {last} there (PyTorch: mat1 and mat2 shapes "
                f"cannot be multiplied ({rows}x{last} and {self.in_features}x"
                f"{self.out_features}))"
                + (f"; flattened per sample it would be {flat}" if len(shape) > 2 else ""),
                expected=self.in_features,
                got=last,
            )
        rows = math.prod(shape[:-1])
        macs = rows * self.in_features * self.out_features
        return LayerShape(
            output_shape=(*shape[:-1], self.out_features),
            formulas=(
                f"{_fmt(shape)} @ W.T, W is ({self.out_features}, {self.in_features}) → "
                f"{_fmt((*shape[:-1], self.out_features))}",
            ),
            mult_adds=macs,
            mult_adds_formula=f"rows·in·out = {rows}·{self.in_features}·{self.out_features} = "
            f"{macs:,}",
            rf="global",
        )


# ----------------------------------------------------------------------------- reshaping
def _norm_dim(dim: int, rank: int, label: str) -> int:
    if not -rank <= dim < rank:
        raise LayerShapeError(
            "rank", f"{label}: dim={dim} is out of range for a {rank}-D input "
            f"(allowed {-rank} to {rank - 1})"
        )
    return dim % rank


@dataclass(frozen=True)
class FlattenSpec:
    """``nn.Flatten(start_dim=1, end_dim=-1)`` / ``torch.flatten`` / ``x.flatten``."""

    start_dim: int = 1
    end_dim: int = -1
    label: str = "Flatten"

    def apply(self, shape: Shape) -> LayerShape:
        rank = max(len(shape), 1)
        start = _norm_dim(self.start_dim, rank, self.label)
        end = _norm_dim(self.end_dim, rank, self.label)
        if start > end:
            raise LayerShapeError(
                "invalid", f"{self.label}: start_dim={self.start_dim} comes after "
                f"end_dim={self.end_dim} for a {rank}-D input"
            )
        merged = shape[start : end + 1]
        size = math.prod(merged)
        out = (*shape[:start], size, *shape[end + 1 :])
        return LayerShape(
            output_shape=out,
            formulas=(f"{_prod_text(merged)} = {size}" if len(merged) > 1 else f"{size}",),
            rf="keep",
        )


@dataclass(frozen=True)
class ReshapeSpec:
    """``x.view(...)`` / ``x.reshape(...)`` / ``torch.reshape``: at most one ``-1``."""

    target: tuple[int, ...]
    label: str = "view"

    def apply(self, shape: Shape) -> LayerShape:
        numel = math.prod(shape)
        known = math.prod(v for v in self.target if v != -1)
        n_free = sum(1 for v in self.target if v == -1)
        target_text = "[" + ", ".join(str(v) for v in self.target) + "]"
        if n_free > 1:
            raise LayerShapeError(
                "reshape", f"{self.label}{tuple(self.target)}: only one dimension can be -1"
            )
        if n_free == 1:
            if known == 0 or numel % known:
                raise LayerShapeError(
                    "reshape",
                    f"{self.label}: shape '{target_text}' is invalid for input of size {numel} "
                    f"= {_prod_text(shape)}: {numel}/{known} = {numel / max(known, 1):g} is not "
                    f"a whole number",
                    expected=known,
                    got=numel,
                )
            free = numel // known
            out = tuple(free if v == -1 else v for v in self.target)
            fixed = _prod_text([v for v in self.target if v != -1])
            formulas = [f"-1 = {_prod_text(shape)} / {fixed} = {numel} / {known} = {free}"]
        else:
            if known != numel:
                raise LayerShapeError(
                    "reshape",
                    f"{self.label}: shape '{target_text}' is invalid for input of size {numel} "
                    f"= {_prod_text(shape)} (the target holds {known})",
                    expected=known,
                    got=numel,
                )
            out = self.target
            formulas = [f"{_prod_text(shape)} = {numel} = {_prod_text(out)}"]
        notes: tuple[str, ...] = ()
        if (len(shape) >= 4 and len(out) == 2 and out[0] != shape[0]
                and out[-1] != shape[-1]):
            # (N, C, H, W) flattened with -1 first: the classic x.view(-1, 16*5*5) mistake.
            # Not a reshape that keeps more dims (Swin's windows, MobileViT's patches, heads
            # folded into the batch on purpose) nor rows that are whole last-dim vectors
            # (x.permute(0, 2, 3, 1).reshape(-1, C): one row per pixel)
            notes = (
                f"the batch dimension changed from {shape[0]} to {out[0]}: "
                f"{self.label}{tuple(self.target)} mixed pixels of different samples; "
                f"use x.view(x.size(0), -1) or nn.Flatten() to keep the batch",
            )
        return LayerShape(output_shape=out, formulas=tuple(formulas), rf="keep", notes=notes)


@dataclass(frozen=True)
class UnflattenSpec:
    """``nn.Unflatten(dim, sizes)``."""

    dim: int
    sizes: tuple[int, ...]
    label: str = "Unflatten"

    def apply(self, shape: Shape) -> LayerShape:
        dim = _norm_dim(self.dim, max(len(shape), 1), self.label)
        if math.prod(self.sizes) != shape[dim]:
            raise LayerShapeError(
                "reshape",
                f"{self.label}: sizes {self.sizes} hold {math.prod(self.sizes)} values but "
                f"dimension {self.dim} of {_fmt(shape)} has {shape[dim]}",
                expected=math.prod(self.sizes),
                got=shape[dim],
            )
        return LayerShape(
            output_shape=(*shape[:dim], *self.sizes, *shape[dim + 1 :]),
            formulas=(f"{shape[dim]} = {_prod_text(self.sizes)}",),
        )


@dataclass(frozen=True)
class PadSpec:
    """``nn.ZeroPad2d``, ``nn.ConstantPadNd``, ``nn.ReflectionPadNd``, ``nn.ReplicationPadNd``,
    ``nn.CircularPadNd`` and ``F.pad``: ``pads`` as PyTorch orders them, last dim first
    ``(left, right, top, bottom, ...)``."""

    pads: tuple[int, ...]
    mode: str = "constant"
    label: str = "ZeroPad2d"

    def apply(self, shape: Shape) -> LayerShape:
        n_dims = len(self.pads) // 2
        if len(shape) < n_dims:
            raise LayerShapeError(
                "rank", f"{self.label}: padding {self.pads} pads {n_dims} dimensions, but the "
                f"input {_fmt(shape)} has only {len(shape)}"
            )
        out = list(shape)
        formulas = []
        for i in range(n_dims):
            axis = len(shape) - 1 - i
            before, after = self.pads[2 * i], self.pads[2 * i + 1]
            n = shape[axis]
            if self.mode == "reflect" and (before >= n or after >= n):
                raise LayerShapeError(
                    "invalid", f"{self.label}: reflect padding ({before}, {after}) must be "
                    f"smaller than the size {n} of dimension {axis}"
                )
            out[axis] = n + before + after
            if out[axis] <= 0:
                raise LayerShapeError(
                    "invalid", f"{self.label}: padding ({before}, {after}) leaves "
                    f"{out[axis]} of dimension {axis} (size {n})"
                )
            formulas.append(f"{n} + {before} + {after} = {out[axis]}")
        return LayerShape(output_shape=tuple(out), formulas=tuple(reversed(formulas)))


# ----------------------------------------------------------------------------- shape-preserving
@dataclass(frozen=True)
class SameShapeSpec:
    """Element-wise layers (activations, dropout, ``Identity``) and normalisations.

    ``channels`` (BatchNorm, GroupNorm, InstanceNorm) is checked against dimension 1;
    ``trailing`` (LayerNorm's ``normalized_shape``) against the last dimensions.
    ``mixes``: the dim along which every element reads the whole dim (``nn.Softmax``'s
    ``dim``; ``None``: none).
    """

    label: str
    channels: int | None = None
    trailing: tuple[int, ...] = ()
    min_rank: int = 0
    max_rank: int = 99
    groups: int = 0
    mixes: int | None = None

    def apply(self, shape: Shape) -> LayerShape:
        if not self.min_rank <= len(shape) <= self.max_rank:
            allowed = (f"{self.min_rank}-D" if self.min_rank == self.max_rank
                       else f"{self.min_rank}-D to {self.max_rank}-D")
            raise LayerShapeError(
                "rank", f"{self.label} expects {allowed} input, got {len(shape)}-D {_fmt(shape)}"
            )
        if self.channels is not None:
            got = shape[1] if len(shape) > 1 else shape[0]
            if got != self.channels:
                raise LayerShapeError(
                    "channels",
                    f"{self.label} has num_features={self.channels}, but its input "
                    f"{_fmt(shape)} has {got} channels in dimension 1",
                    expected=self.channels,
                    got=got,
                )
        if self.trailing and tuple(shape[-len(self.trailing):]) != self.trailing:
            raise LayerShapeError(
                "features",
                f"{self.label}: normalized_shape={self.trailing} must equal the last "
                f"{len(self.trailing)} dimension(s) of the input {_fmt(shape)}",
            )
        formulas: tuple[str, ...] = ()
        if self.trailing:
            formulas = (f"normalizes each {'×'.join(map(str, self.trailing))} slice (the last "
                        f"{len(self.trailing)} dim{'s' if len(self.trailing) > 1 else ''}); "
                        f"shape kept",)
        elif self.channels is not None and self.groups:
            formulas = (f"{self.channels} channels in {self.groups} groups of "
                        f"{self.channels // self.groups}, each normalized over its channels "
                        f"and all positions; shape kept",)
        elif self.channels is not None:
            formulas = (f"one scale and shift per channel ({self.channels}); shape kept",)
        elif self.mixes is not None and shape:
            formulas = (f"normalizes along dim {self.mixes % len(shape)} "
                        f"({shape[self.mixes % len(shape)]}); shape kept",)
        return LayerShape(output_shape=tuple(shape), formulas=formulas)


# ----------------------------------------------------------------------------- readers
def _tuple(value: Any, nd: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * nd
    values = tuple(int(v) for v in value)
    return values if len(values) == nd else (values[0],) * nd


_ELEMENTWISE = frozenset({
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
    "Mish", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus",
    "Softsign", "Tanhshrink", "Threshold", "LogSigmoid", "Dropout", "Dropout1d", "Dropout2d",
    "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "Identity", "Softmax", "LogSoftmax",
    "Softmax2d", "LocalResponseNorm",
})


def spec_of(module: nn.Module) -> Spec | None:
    """The spec of a module whose shape effect is known, or ``None`` (then it is traced
    by running it).

    Known: ``ConvNd``, ``ConvTransposeNd``, ``MaxPoolNd``, ``AvgPoolNd``,
    ``AdaptiveAvg/MaxPoolNd``, ``Linear``, ``Flatten``, ``Unflatten``, the padding layers,
    ``BatchNormNd``, ``InstanceNormNd``, ``GroupNorm``, ``LayerNorm`` and element-wise layers.
    """
    from torch import nn

    name = type(module).__name__
    if _overrides_forward(module):
        return None  # a subclass with its own forward (e.g. a channels-first LayerNorm)
    if isinstance(module, nn.modules.conv._ConvNd):
        nd = len(module.kernel_size)
        padding: tuple[tuple[int, int], ...] | Literal["same", "valid"]
        if isinstance(module.padding, str):
            padding = "same" if module.padding == "same" else "valid"
        else:
            padding = tuple((int(p), int(p)) for p in module.padding)
        return ConvSpec(
            nd=nd, in_channels=module.in_channels, out_channels=module.out_channels,
            kernel=tuple(module.kernel_size), stride=tuple(module.stride), padding=padding,
            dilation=tuple(module.dilation), groups=module.groups,
            transposed=bool(module.transposed),
            output_padding=tuple(module.output_padding), label=name,
            padding_mode=str(module.padding_mode),
        )
    if isinstance(module, nn.modules.pooling._MaxPoolNd | nn.modules.pooling._AvgPoolNd):
        nd = _pool_nd(name)
        if nd == 0:
            return None
        kernel = _tuple(module.kernel_size, nd)
        stride = _tuple(module.stride if module.stride else module.kernel_size, nd)
        dilation = _tuple(getattr(module, "dilation", 1), nd)
        return PoolSpec(nd, kernel, stride, _tuple(module.padding, nd), dilation,
                        bool(module.ceil_mode), label=name)
    if isinstance(
        module,
        nn.modules.pooling._AdaptiveAvgPoolNd | nn.modules.pooling._AdaptiveMaxPoolNd,
    ):
        nd = _pool_nd(name)
        size = module.output_size
        sizes = (size,) * nd if isinstance(size, int) or size is None else tuple(size)
        return AdaptivePoolSpec(nd, sizes, label=name)
    if isinstance(module, nn.Linear):
        return LinearSpec(module.in_features, module.out_features, label=name)
    if isinstance(module, nn.Flatten):
        return FlattenSpec(module.start_dim, module.end_dim, label=name)
    if isinstance(module, nn.Unflatten) and isinstance(module.dim, int):
        return UnflattenSpec(module.dim, tuple(int(v) for v in module.unflattened_size),
                             label=name)
    pad_modes: dict[type[Any], str] = {
        nn.modules.padding._ConstantPadNd: "constant",
        nn.modules.padding._ReflectionPadNd: "reflect",
        nn.modules.padding._ReplicationPadNd: "replicate",
        nn.modules.padding._CircularPadNd: "circular",
    }
    for cls, mode in pad_modes.items():
        if isinstance(module, cls):
            return PadSpec(tuple(int(p) for p in module.padding), mode, label=name)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        bn_nd = {"BatchNorm1d": 1, "BatchNorm2d": 2, "BatchNorm3d": 3}.get(name)
        if bn_nd is None:
            return None
        lo, hi = (2, 3) if bn_nd == 1 else (bn_nd + 2, bn_nd + 2)
        return SameShapeSpec(name, channels=module.num_features, min_rank=lo, max_rank=hi)
    if isinstance(module, nn.GroupNorm):
        return SameShapeSpec(name, channels=module.num_channels, min_rank=2,
                             groups=module.num_groups)
    if isinstance(module, nn.LayerNorm):
        return SameShapeSpec(name, trailing=tuple(module.normalized_shape), min_rank=1)
    if isinstance(module, nn.Softmax | nn.LogSoftmax | nn.Softmin) and module.dim is not None:
        return SameShapeSpec(name, mixes=int(module.dim))
    if isinstance(module, nn.Softmax2d):
        return SameShapeSpec(name, mixes=-3)  # over the channels of (N, C, H, W)
    if name in _ELEMENTWISE and type(module).__module__.startswith("torch.nn"):
        return SameShapeSpec(name)
    return None


def _overrides_forward(module: nn.Module) -> bool:
    """True when a subclass of a torch layer replaces its ``forward`` (the formula of the
    torch layer then says nothing about it)."""
    cls = type(module)
    if cls.__module__.startswith("torch.nn"):
        return False
    for base in cls.__mro__[1:]:
        if base.__module__.startswith("torch.nn") and "forward" in base.__dict__:
            return bool(cls.forward is not base.forward)  # type: ignore[attr-defined]
    return False


def _pool_nd(name: str) -> int:
    for nd in (1, 2, 3):
        if name.endswith(f"{nd}d"):
            return nd
    return 0


# ----------------------------------------------------------------------------- functional calls
def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _shape_args(args: Sequence[Any]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], tuple | list):
        return tuple(int(v) for v in args[0])
    return tuple(int(v) for v in args)


def spec_of_call(
    name: str, args: Sequence[Any], kwargs: dict[str, Any]
) -> Spec | None:
    """The spec of a functional call seen inside a ``forward`` (``F.conv2d(x, w, ...)``,
    ``x.view(x.size(0), -1)``, ``torch.flatten(x, 1)``, ...), or ``None`` when only the
    observed shapes can be shown. ``args[0]`` is the input tensor."""
    if name in ("F.conv1d", "F.conv2d", "F.conv3d"):
        nd = int(name[-2])
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        w = tuple(int(v) for v in weight.shape)
        groups = int(_arg(args, kwargs, 6, "groups", 1))
        raw_pad = _arg(args, kwargs, 4, "padding", 0)
        padding: tuple[tuple[int, int], ...] | Literal["same", "valid"]
        if isinstance(raw_pad, str):
            padding = "same" if raw_pad == "same" else "valid"
        else:
            padding = tuple((p, p) for p in _tuple(raw_pad, nd))
        return ConvSpec(
            nd=nd, in_channels=w[1] * groups, out_channels=w[0], kernel=w[2:],
            stride=_tuple(_arg(args, kwargs, 3, "stride", 1), nd), padding=padding,
            dilation=_tuple(_arg(args, kwargs, 5, "dilation", 1), nd), groups=groups,
            label=name,
        )
    if name in ("F.max_pool1d", "F.max_pool2d", "F.avg_pool1d", "F.avg_pool2d"):
        nd = int(name[-2])
        is_max = "max" in name
        kernel = _tuple(_arg(args, kwargs, 1, "kernel_size", 1), nd)
        stride_raw = _arg(args, kwargs, 2, "stride", None)
        stride = kernel if not stride_raw else _tuple(stride_raw, nd)
        pad = _tuple(_arg(args, kwargs, 3, "padding", 0), nd)
        dil = _tuple(_arg(args, kwargs, 4, "dilation", 1), nd) if is_max else (1,) * nd
        ceil = bool(_arg(args, kwargs, 5 if is_max else 4, "ceil_mode", False))
        return PoolSpec(nd, kernel, stride, pad, dil, ceil, label=name)
    if name in ("F.adaptive_avg_pool2d", "F.adaptive_max_pool2d"):
        size = _arg(args, kwargs, 1, "output_size", 1)
        sizes = (size, size) if isinstance(size, int) or size is None else tuple(size)
        return AdaptivePoolSpec(2, sizes, label=name)
    if name == "F.linear":
        weight = args[1] if len(args) > 1 else kwargs["weight"]
        return LinearSpec(int(weight.shape[1]), int(weight.shape[0]), label=name)
    if name in ("torch.flatten", "Tensor.flatten"):
        return FlattenSpec(int(_arg(args, kwargs, 1, "start_dim", 0)),
                           int(_arg(args, kwargs, 2, "end_dim", -1)), label=name)
    if name in ("Tensor.view", "Tensor.reshape"):
        return ReshapeSpec(_shape_args(args[1:]) if len(args) > 1 else
                           _shape_args([kwargs.get("shape", ())]), label=name)
    if name == "torch.reshape":
        return ReshapeSpec(_shape_args([_arg(args, kwargs, 1, "shape", ())]), label=name)
    if name == "F.pad":
        return PadSpec(tuple(int(v) for v in _arg(args, kwargs, 1, "pad", ())),
                       str(_arg(args, kwargs, 2, "mode", "constant")), label=name)
    return None
