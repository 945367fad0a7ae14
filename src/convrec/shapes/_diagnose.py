"""Explain why a layer cannot take its input, and find changes that make it fit.

:func:`diagnose` re-applies the failing layer's spec to the shape that reached it, which
names the classic error (``LayerShapeError.kind``), walks back through the rows to the layer
that produced the bad number, and shows the formula chain that made it. Every suggested
fix is *checked*: the layers from the model's input to the failing one are re-propagated
with the change (a new input size, one more padding pixel, another ``in_features``) and the
fix is listed only if the failing layer then accepts its input.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from convrec.shapes._result import Failure, Row, Shape, fmt_shape
from convrec.shapes._specs import (
    ConvSpec,
    FlattenSpec,
    LayerShape,
    LayerShapeError,
    LinearSpec,
    PoolSpec,
    ReshapeSpec,
    SameShapeSpec,
    Spec,
)

_MAX_CHAIN_LINES = 12


@dataclass(frozen=True)
class _Ctx:
    rows: Sequence[Row]
    specs: Sequence[Spec | None]
    layer: str
    layer_type: str
    spec: Spec
    input_shape: Shape
    error: str
    model_input: Shape
    err: LayerShapeError
    after: tuple[Spec, ...] = ()
    producers: tuple[str, ...] = ()

    @property
    def who(self) -> str:
        return f"{self.layer} ({self.layer_type})"


class _Identity:
    label = "identity"

    def apply(self, shape: Shape) -> LayerShape:
        return LayerShape(output_shape=shape)


def _chain(ctx: _Ctx) -> list[Spec] | None:
    """The specs from the model input to the failing layer, if they form one known chain."""
    out: list[Spec] = []
    current = ctx.model_input
    for row, spec in zip(ctx.rows, ctx.specs, strict=True):
        if row.input_shape != current or row.output_shape is None:
            return None
        if spec is None:
            if row.input_shape != row.output_shape:
                return None
            spec = _Identity()
        out.append(spec)
        current = row.output_shape
    return out if current == ctx.input_shape else None


def _run(
    specs: Sequence[Spec], shape: Shape, final: Spec, after: Sequence[Spec] = ()
) -> Shape | None:
    """Propagate ``shape`` through ``specs``, ``final`` and ``after`` (the known layers behind
    the failing one); ``None`` if any layer refuses."""
    try:
        for spec in [*specs, final, *after]:
            shape = spec.apply(shape).output_shape
        return shape
    except LayerShapeError:
        return None


def _input_candidates(model_input: Shape, grow_only: bool = False) -> list[Shape]:
    """Inputs with every spatial size changed by the same delta, nearest first."""
    if len(model_input) < 3:
        return []
    spatial = model_input[2:]
    low = -(min(spatial) - 1)
    high = max(3 * max(spatial), 64)
    deltas = sorted(
        (d for d in range(0 if grow_only else low, high + 1) if d != 0),
        key=lambda d: (abs(d), d < 0),
    )
    return [(*model_input[:2], *(n + d for n in spatial)) for d in deltas]


def _input_fixes(ctx: _Ctx, specs: list[Spec], final: Spec, describe: Callable[[Shape], str],
                 grow_only: bool = False, limit: int = 2) -> list[str]:
    fixes: list[str] = []
    for candidate in _input_candidates(ctx.model_input, grow_only):
        out = _run(specs, candidate, final, ctx.after)
        if out is not None:
            fixes.append(f"input {fmt_shape(candidate)} instead of {fmt_shape(ctx.model_input)}"
                         f"{describe(candidate)}")
            if len(fixes) >= limit:
                break
    return fixes


def _padding_variants(spec: Spec) -> list[tuple[str, Spec]]:
    """The spec with one or two more pixels of padding on every side (valid ones only)."""
    variants: list[tuple[str, Spec]] = []
    if isinstance(spec, ConvSpec) and not spec.transposed and not isinstance(spec.padding, str):
        for extra in (1, 2):
            pads = tuple((b + extra, a + extra) for b, a in spec.padding)
            p = pads[0][0] if len({x for pair in pads for x in pair}) == 1 else pads
            variants.append((f"padding={p}", dataclasses.replace(spec, padding=pads)))
    if isinstance(spec, PoolSpec):
        for extra in (1, 2):
            pool_pads = tuple(p + extra for p in spec.padding)
            if all(p <= k // 2 for p, k in zip(pool_pads, spec.kernel, strict=True)):
                p2 = pool_pads[0] if len(set(pool_pads)) == 1 else pool_pads
                variants.append((f"padding={p2}", dataclasses.replace(spec, padding=pool_pads)))
    return variants


def _row_label(ctx: _Ctx, i: int) -> str:
    return f"{ctx.rows[i].name} ({ctx.rows[i].type})"


def _padding_fixes(ctx: _Ctx, specs: list[Spec], final: Spec, limit: int = 3) -> list[str]:
    fixes: list[str] = []
    for i, spec in enumerate(specs):
        for text, variant in _padding_variants(spec):
            trial = [*specs[:i], variant, *specs[i + 1 :]]
            if _run(trial, ctx.model_input, final, ctx.after) is not None:
                fixes.append(f"{text} in {_row_label(ctx, i)}")
                break
        if len(fixes) >= limit:
            break
    return fixes


def _dims_text(expls: Sequence[object]) -> str:
    texts = [str(e) for e in expls]
    if len(texts) == 2 and texts[0] == texts[1]:
        return f"H and W: {texts[0]}"
    names = ["H", "W"] if len(texts) == 2 else [f"dim{i}" for i in range(len(texts))]
    return "; ".join(f"{n}: {t}" for n, t in zip(names, texts, strict=True))


def _history(ctx: _Ctx) -> tuple[str, ...]:
    """Shape-changing rows up to the failure, each with its formula."""
    lines = [f"input {fmt_shape(ctx.model_input)}"]
    for row in ctx.rows:
        if row.input_shape == row.output_shape:
            continue
        why = _dims_text(row.explanations) if row.explanations else "; ".join(row.formulas)
        dropped = max((e.dropped for e in row.explanations), default=0)
        if dropped:
            why += f" (the floor drops {dropped})"
        lines.append(f"{row.name} ({row.type}) → {fmt_shape(row.output_shape)}"
                     + (f"   {why}" if why else ""))
    if len(lines) > _MAX_CHAIN_LINES:
        lines = [lines[0], "...", *lines[-(_MAX_CHAIN_LINES - 2) :]]
    return tuple(lines)


def _producer_index(ctx: _Ctx) -> int | None:
    """The row that made the failing layer's input, as the dataflow graph recorded it."""
    if not ctx.producers or " → " in ctx.producers[0]:  # none, or a piece of an output
        return None
    who = ctx.producers[0]
    found = next((i for i in range(len(ctx.rows) - 1, -1, -1)
                  if f"{ctx.rows[i].name} ({ctx.rows[i].type})" == who), None)
    by_index = {r.index: i for i, r in enumerate(ctx.rows)}
    # walk back through the layers that keep the channel count (ReLU, BatchNorm, ...) to
    # the one that set it
    while found is not None:
        row = ctx.rows[found]
        keeps = (row.input_shape is not None and row.output_shape is not None
                 and len(row.input_shape) > 1 and len(row.output_shape) > 1
                 and row.input_shape[1] == row.output_shape[1]
                 and not isinstance(ctx.specs[found], ConvSpec))
        src = next((by_index[s] for s in row.sources if s in by_index), None)
        if not keeps or src is None:
            break
        found = src
    return found


def _last_index(ctx: _Ctx, test: Callable[[Row, Spec | None], bool]) -> int | None:
    for i in range(len(ctx.rows) - 1, -1, -1):
        if test(ctx.rows[i], ctx.specs[i]):
            return i
    return None


# ----------------------------------------------------------------------------- the classics
def _linear(ctx: _Ctx) -> Failure:
    assert isinstance(ctx.spec, LinearSpec)
    want, out_f = ctx.spec.in_features, ctx.spec.out_features
    shape = ctx.input_shape
    missing_flatten = ctx.err.kind == "flatten_missing"
    cause: list[str] = []
    fixes: list[str] = []
    specs = _chain(ctx)
    # The (N, C, *spatial) tensor that is (or should be) flattened.
    if missing_flatten:
        pre_flat: Shape | None = shape
        got = math.prod(shape[1:])
        cause.append(
            f"{ctx.who} gets a {len(shape)}-D tensor {fmt_shape(shape)}: nn.Linear only "
            f"multiplies the LAST dimension ({shape[-1]}), so a conv feature map must be "
            f"flattened first; flattened it holds {'·'.join(map(str, shape[1:]))} = {got} "
            f"features per sample"
        )
        summary = (f"nn.Flatten() is missing before {ctx.who}: it sees {shape[-1]} features "
                   f"(the last dimension of {fmt_shape(shape)}) instead of {got}")
        if got == want:
            fixes.append(f"insert nn.Flatten() before {ctx.who}: "
                         f"{'·'.join(map(str, shape[1:]))} = {got} = in_features, it fits")
        else:
            fixes.append(f"insert nn.Flatten() before {ctx.who} and set "
                         f"nn.Linear({got}, {out_f})")
    else:
        got = shape[-1]
        summary = f"{ctx.who} expects in_features={want} but gets {got}"
        flat_i = _last_index(ctx, lambda r, s: isinstance(s, FlattenSpec | ReshapeSpec))
        pre_flat = ctx.rows[flat_i].input_shape if flat_i is not None else None
        if flat_i is not None and pre_flat is not None:
            row = ctx.rows[flat_i]
            summary += (f" = {'·'.join(map(str, pre_flat[1:]))}, the flattened "
                        f"{fmt_shape(pre_flat)}")
            cause.append(f"{got} comes from {row.name} ({row.type}), which flattens "
                         f"{fmt_shape(pre_flat)} into {row.formulas[0] if row.formulas else got}"
                         f" features per sample")
        fixes.append(f"nn.Linear({got}, {out_f}) instead of nn.Linear({want}, {out_f}) "
                     f"(in_features = what actually arrives)")
    # Why this spatial size and not the one in_features wants.
    if pre_flat is not None and len(pre_flat) >= 3 and math.prod(pre_flat[1:]) != want:
        channels, spatial = pre_flat[1], pre_flat[2:]
        if want % channels == 0:
            need = want // channels
            side = math.isqrt(need)
            if len(spatial) == 2 and spatial[0] == spatial[1] and side * side == need:
                summary += f": the feature map is {spatial[0]}×{spatial[1]}, not {side}×{side}"
                cause.append(
                    f"in_features={want} = {channels}·{side}·{side} needs a {side}×{side} map "
                    f"of {channels} channels; the layers above make {spatial[0]}×{spatial[1]}, "
                    f"so {channels}·{spatial[0]}·{spatial[1]} = {math.prod(pre_flat[1:])}"
                )
            else:
                cause.append(
                    f"in_features={want} = {channels}·{need} needs {need} pixels per channel; "
                    f"the map has {'·'.join(map(str, spatial))} = {math.prod(spatial)}"
                )
        else:
            cause.append(
                f"in_features={want} is not a multiple of the {channels} channels, so no input "
                f"size can make it fit: change in_features (or the last out_channels)"
            )
    if specs is not None:
        final: Spec = ctx.spec
        tail: list[Spec] = [FlattenSpec(1, -1)] if missing_flatten else []

        def features(candidate: Shape) -> str:
            s = candidate
            for spec in [*specs, *tail]:
                s = spec.apply(s).output_shape
            return f": {ctx.who} then gets {s[-1]} = in_features"

        fixes.extend(_input_fixes(ctx, [*specs, *tail], final, features))
        fixes.extend(_padding_fixes(ctx, [*specs, *tail], final))
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=summary, cause=tuple(cause),
        chain=_history(ctx), fixes=tuple(fixes),
    )


def _channels(ctx: _Ctx) -> Failure:
    want, got = ctx.err.expected, ctx.err.got
    assert want is not None and got is not None
    cause: list[str] = []
    fixes: list[str] = []
    shape = ctx.input_shape
    is_conv = isinstance(ctx.spec, ConvSpec)
    summary = f"{ctx.who} expects {want} input channels but gets {got}"
    producer = _producer_index(ctx)
    if producer is None and not ctx.producers:
        producer = _last_index(ctx, lambda r, s: isinstance(s, ConvSpec) or (
            s is None and r.input_shape != r.output_shape))
    if producer is None and ctx.producers and " → " in ctx.producers[0]:
        # a piece of another layer's output: its channels are set by the split, not by the
        # layer before it
        cause.append(f"it gets {fmt_shape(shape)}, {got} channels, from {ctx.producers[0]}")
        summary += f" (a piece of an output: {ctx.producers[0]})"
    elif producer is None:
        where = "the model's input"
        if is_conv and len(ctx.model_input) == ctx.spec.nd + 1:  # type: ignore[attr-defined]
            cause.append(
                f"the {len(shape)}-D input {fmt_shape(shape)} is read by {ctx.layer_type} as "
                f"ONE unbatched image with {got} channels; a batch of {shape[0]} single-"
                f"channel images needs the channel dimension: (N, C, H, W)"
            )
            fixed = (shape[0], want, *shape[1:])
            summary += f": {fmt_shape(shape)} has no channel dimension"
            fixes.append(f"x.unsqueeze(1) → {fmt_shape(fixed)}" if want == 1 else
                         f"an input of shape {fmt_shape(fixed)}")
        else:
            cause.append(f"{got} is dimension 1 of {where} {fmt_shape(shape)}")
            if got == 1 and want == 3:
                summary += ": a grayscale (1-channel) image fed to a layer built for RGB"
                fixes.append("repeat the gray channel: x.expand(-1, 3, -1, -1) → "
                             f"{fmt_shape((shape[0], 3, *shape[2:]))}")
            elif got == 3 and want == 1:
                summary += ": an RGB image fed to a layer built for grayscale"
                fixes.append("convert to grayscale: x.mean(dim=1, keepdim=True) → "
                             f"{fmt_shape((shape[0], 1, *shape[2:]))}")
            else:
                fixes.append(f"an input with {want} channels: "
                             f"{fmt_shape((shape[0], want, *shape[2:]))}")
    else:
        row = ctx.rows[producer]
        cause.append(f"{row.name} ({row.type}) outputs {fmt_shape(row.output_shape)}: "
                     f"{got} channels")
        prev = ctx.specs[producer]
        if isinstance(prev, ConvSpec):
            fixes.append(f"out_channels={want} in {row.name} ({row.type})")
    if isinstance(ctx.spec, ConvSpec):
        repl = dataclasses.replace(ctx.spec, in_channels=got)
        if repl.in_channels % repl.groups == 0 and _run([], shape, repl, ctx.after) is not None:
            fixes.append(f"in_channels={got} in {ctx.who}: nn.{ctx.layer_type}({got}, "
                         f"{ctx.spec.out_channels}, ...)")
    elif isinstance(ctx.spec, SameShapeSpec):
        fixes.append(f"num_features={got} in {ctx.who}: nn.{ctx.layer_type}({got})")
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=summary, cause=tuple(cause),
        chain=_history(ctx), fixes=tuple(fixes),
    )


def _too_small(ctx: _Ctx) -> Failure:
    expls = ctx.err.explanations
    bad = next(e for e in expls if not e.valid)
    spatial = "×".join(str(e.n) for e in expls)
    kernel = "×".join(str(e.kernel) for e in expls)
    pool = ctx.err.kind == "pool_too_small"
    summary = (f"the {kernel} {'pooling window' if pool else 'kernel'} of {ctx.who} does not fit "
               f"its {spatial} input ({bad} ≤ 0)")
    cause = [
        f"the window spans {bad.effective_kernel} pixels but the padded input has "
        f"{bad.n} + {bad.pad_before + bad.pad_after} = {bad.n + bad.pad_before + bad.pad_after}",
        f"the layers above shrank the input to {spatial}: see the chain below",
    ]
    fixes: list[str] = []
    specs = _chain(ctx)
    final = ctx.spec
    if specs is not None:
        fixes.extend(_input_fixes(
            ctx, specs, final, lambda c: " (the smallest size that reaches this layer with room "
            "for its window)", grow_only=True, limit=1))
        for i, spec in enumerate(specs):
            if isinstance(spec, PoolSpec) and any(s > 1 for s in spec.stride):
                trial = [*specs[:i], _Identity(), *specs[i + 1 :]]
                if _run(trial, ctx.model_input, final, ctx.after) is not None:
                    fixes.append(f"remove {_row_label(ctx, i)} (one downsampling step fewer)")
                    break
    for text, variant in _padding_variants(final):
        if _run([], ctx.input_shape, variant, ctx.after) is not None:
            fixes.append(f"{text} in {ctx.who}")
            break
    if isinstance(final, ConvSpec | PoolSpec):
        room = min(e.n + e.pad_before + e.pad_after for e in expls)
        ks = tuple(min(k, room) for k in final.kernel)
        variant = dataclasses.replace(final, kernel=ks)
        if ks != final.kernel and _run([], ctx.input_shape, variant, ctx.after) is not None:
            fixes.append(f"kernel_size={ks[0] if len(set(ks)) == 1 else ks} in {ctx.who}")
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=summary, cause=tuple(cause),
        chain=_history(ctx), fixes=tuple(fixes), explanations=expls,
    )


def _rank(ctx: _Ctx) -> Failure:
    shape = ctx.input_shape
    fixes: list[str] = []
    cause: list[str] = [str(ctx.err)]
    nd = getattr(ctx.spec, "nd", None)
    summary = f"{ctx.who} gets a {len(shape)}-D input {fmt_shape(shape)}"
    if nd is not None and len(shape) == nd:
        channels = getattr(ctx.spec, "in_channels", 1)
        fixed = (1, channels, *shape)
        summary += " with no batch and no channel dimension"
        cause.append(f"{ctx.layer_type} reads (N, C, H, W): N images of C channels; "
                     f"{fmt_shape(shape)} is a single {'×'.join(map(str, shape))} image")
        fixes.append(f"x[None, None] (x.unsqueeze(0).unsqueeze(0)) → {fmt_shape(fixed)}; for "
                     f"many images stack them into (N, {channels}, "
                     f"{', '.join(map(str, shape))})")
    elif nd is not None and len(shape) > nd + 2:
        summary += f" with {len(shape) - nd - 2} dimension(s) too many"
        fixes.append(f"squeeze or reshape to {nd + 2}-D (N, C, ...)")
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=summary, cause=tuple(cause),
        chain=_history(ctx), fixes=tuple(fixes),
    )


def _reshape(ctx: _Ctx) -> Failure:
    shape = ctx.input_shape
    per_sample = math.prod(shape[1:]) if len(shape) > 1 else math.prod(shape)
    fixes = []
    if len(shape) > 1:
        fixes.append(f"x.view(x.size(0), -1) (or nn.Flatten()) → ({shape[0]}, {per_sample}) "
                     f"keeps the batch; then use {per_sample} as the next Linear's in_features")
    summary = (f"{ctx.who} cannot rearrange {fmt_shape(shape)} "
               f"({math.prod(shape)} values) into the requested shape")
    cause = (str(ctx.err),
             f"per sample the tensor holds {'·'.join(map(str, shape[1:]))} = {per_sample} values")
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=summary, cause=cause,
        chain=_history(ctx), fixes=tuple(fixes),
    )


def _generic(ctx: _Ctx) -> Failure:
    return Failure(
        layer=ctx.layer, layer_type=ctx.layer_type, input_shape=ctx.input_shape,
        kind=ctx.err.kind, error=ctx.error, summary=str(ctx.err), chain=_history(ctx),
        explanations=ctx.err.explanations,
    )


def diagnose(
    rows: Sequence[Row],
    specs: Sequence[Spec | None],
    *,
    layer: str,
    layer_type: str,
    spec: Spec | None,
    input_shape: Shape | None,
    error: str,
    model_input: Shape,
    after: Sequence[Spec] = (),
    producers: Sequence[str] = (),
    module: Any = None,
    in_tensors: Sequence[Any] = (),
    call: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}),
    absent: Sequence[str] = (),
) -> Failure:
    """Build the :class:`Failure` for ``layer`` refusing ``input_shape``.

    Args:
        rows, specs: the rows traced before the failure and their specs (``None`` if unknown).
        layer, layer_type: the failing layer's name and type.
        spec: its spec, or ``None`` for a layer convrec has no formula for.
        input_shape: the shape that reached it.
        error: the error message as PyTorch (or the static arithmetic) gave it.
        model_input: the model's input shape, for re-propagating candidate fixes.
        after: the specs of the layers after the failing one, when known (an
            ``nn.Sequential``): a fix must then let the whole model through, not only
            the failing layer.
        producers: who made each input of the failing layer (from the dataflow graph),
            e.g. ``"layer1.conv2 (Conv2d)"`` or ``"the model's input 'x'"``.
        module, in_tensors, call: the failing module, the tensors that reached it and its
            call's ``(args, kwargs)``, to check fixes by re-running it (``batch_first=True``
            for an RNN, ids within an embedding).
        absent: the model's ``forward`` parameters that default to ``None`` and were not
            given (what a layer that gets ``None`` most likely wanted).
    """
    if module is not None and not in_tensors and call[0] and call[0][0] is None:
        # an optional input left out: nothing reached the layer, so no producer to blame
        more = f" (and {len(absent) - 4} more)" if len(absent) > 4 else ""
        hint = (f"the model's forward has an input the trace did not give, "
                f"{', '.join(absent[:4])}{more} (default None): pass it too, e.g. --input "
                f"{absent[0]}=SHAPE" if absent else
                "a None reached it: an optional argument left out, or a branch that returned "
                "None")
        return Failure(
            layer=layer, layer_type=layer_type, input_shape=None, kind="none_input",
            error=error, summary=f"{layer} ({layer_type}) gets None instead of a tensor",
            cause=(hint,),
            chain=_history(_Ctx(rows, specs, layer, layer_type, _Identity(), (), error,
                                model_input, LayerShapeError("invalid", error))))
    err: LayerShapeError | None = None
    if spec is not None and input_shape is not None:
        try:
            spec.apply(input_shape)
        except LayerShapeError as exc:
            err = exc
    special = _module_failure(layer, layer_type, spec, module, in_tensors, error, producers,
                              call)
    if special is not None:
        return dataclasses.replace(special, chain=_history(_Ctx(
            rows, specs, layer, layer_type, _Identity(), input_shape or (), error, model_input,
            LayerShapeError("invalid", error))))
    if spec is None or input_shape is None or err is None:
        before = rows[-1] if rows else None
        if producers:
            came = f"it received {fmt_shape(input_shape)} from {producers[0]}"
        else:
            came = (f"it received {fmt_shape(input_shape)} from {before.name} ({before.type})"
                    if before is not None else f"it received {fmt_shape(input_shape)}")
        return Failure(
            layer=layer, layer_type=layer_type, input_shape=input_shape, kind="unknown",
            error=error,
            summary=f"{layer} ({layer_type}) failed; convrec has no shape rule that explains it",
            cause=(came,),
            chain=_history(_Ctx(rows, specs, layer, layer_type, _Identity(),
                                input_shape or (), error, model_input,
                                LayerShapeError("invalid", error))),
        )
    ctx = _Ctx(rows, specs, layer, layer_type, spec, input_shape, error, model_input, err,
               tuple(after), tuple(producers))
    handlers: dict[str, Callable[[_Ctx], Failure]] = {
        "linear_in_features": _linear,
        "flatten_missing": _linear,
        "channels": _channels,
        "kernel_too_large": _too_small,
        "pool_too_small": _too_small,
        "rank": _rank,
        "reshape": _reshape,
    }
    return handlers.get(err.kind, _generic)(ctx)


# ----------------------------------------------------------------------------- RNNs, ids
def _module_failure(layer: str, layer_type: str, spec: Any, module: Any,
                    in_tensors: Sequence[Any], error: str, producers: Sequence[str],
                    call: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
                    ) -> Failure | None:
    """Failures of recurrent layers and embeddings, with fixes checked by re-running the
    module on zero tensors of the same shapes."""
    if module is None or not in_tensors:
        return None
    import torch
    from torch import nn

    who = f"{layer} ({layer_type})"
    shapes = [tuple(int(v) for v in t.shape) for t in in_tensors]
    came = producers[0] if producers else "the model's input"
    if "type" in error:  # every PyTorch dtype complaint says "dtype", "type" or "types"
        wrong = _dtype_failure(layer, layer_type, module, in_tensors[0], error, came)
        if wrong is not None:
            return wrong
    if isinstance(module, nn.Embedding) and not in_tensors[0].is_floating_point():
        ids = in_tensors[0]
        if ids.device.type == "meta":
            return None
        lo, hi = int(ids.min()), int(ids.max())
        v = module.num_embeddings
        if lo >= 0 and hi < v:
            return None
        return Failure(
            layer=layer, layer_type=layer_type, input_shape=shapes[0], kind="ids",
            error=error,
            summary=f"{who} has num_embeddings={v}, so ids must be in [0, {v}), but the ids "
                    f"from {came} range from {lo} to {hi}",
            cause=(f"an embedding is a lookup table of {v} rows; id {hi if hi >= v else lo} "
                   f"has no row",),
            fixes=(f"nn.Embedding({hi + 1}, {module.embedding_dim}) (a vocabulary that holds "
                   f"every id)" if hi >= v else "ids must not be negative",
                   f"or map the ids into [0, {v}) (e.g. the tokenizer this model was built for)"),
        )
    if not isinstance(module, nn.RNNBase):
        return None
    fixes: list[str] = []

    def runs(**changes: Any) -> bool:
        saved = {k: getattr(module, k) for k in changes}
        try:
            for k, val in changes.items():
                setattr(module, k, val)
            from torch.utils._pytree import tree_map

            def zeros(v: Any) -> Any:
                return torch.zeros(v.shape, dtype=v.dtype) if isinstance(v, torch.Tensor) else v

            args, kwargs = tree_map(zeros, call) if call[0] or call[1] else (
                (torch.zeros(shapes[0], dtype=in_tensors[0].dtype),), {})
            with torch.no_grad():
                module(*args, **kwargs)
            return True
        except Exception:
            return False
        finally:
            for k, val in saved.items():
                setattr(module, k, val)

    x = shapes[0]
    cause = [f"{layer_type}(input_size={module.input_size}, hidden_size={module.hidden_size}, "
             f"num_layers={module.num_layers}, batch_first={module.batch_first}"
             f"{', bidirectional=True' if module.bidirectional else ''}) got {fmt_shape(x)} "
             f"from {came}" + (f" and a state {', '.join(fmt_shape(s) for s in shapes[1:])}"
                               if len(shapes) > 1 else "")]
    summary = f"{who} cannot read {fmt_shape(x)}"
    if len(x) == 3:
        seq, batch = (x[1], x[0]) if module.batch_first else (x[0], x[1])
        cause.append(f"batch_first={module.batch_first}: it reads dim "
                     f"{0 if module.batch_first else 1} ({batch}) as the batch and dim "
                     f"{1 if module.batch_first else 0} ({seq}) as the sequence")
    if x[-1] != module.input_size:
        summary += f": input_size={module.input_size} but the last dimension is {x[-1]}"
        # input_size is fixed by the weights: check with a fresh layer of the right size
        fresh = type(module)(x[-1], module.hidden_size, module.num_layers,  # type: ignore[arg-type]
                             batch_first=module.batch_first, bidirectional=module.bidirectional)
        try:
            with torch.no_grad():
                fresh(torch.zeros(x))
            fixes.append(f"nn.{layer_type}({x[-1]}, {module.hidden_size}, ...) (input_size = "
                         f"the features that arrive)")
        except Exception:
            pass
    else:
        summary += " with this layout and state"
    if runs(batch_first=not module.batch_first):
        fixes.append(f"batch_first={not module.batch_first} in {who} (checked: it then runs)")
    return Failure(layer=layer, layer_type=layer_type, input_shape=x, kind="features",
                   error=error, summary=summary, cause=tuple(cause), fixes=tuple(fixes))


def _dtype_failure(layer: str, layer_type: str, module: Any, x: Any, error: str, came: str
                   ) -> Failure | None:
    """A layer fed the wrong dtype: ids (int64) into a conv, Linear or RNN built with float32
    weights, float64 into float32 weights, floats into an embedding. ``None`` when the
    dtypes agree (the failure has another cause). The fix is checked by re-running the
    layer on zeros of the right dtype."""
    import torch
    from torch import nn

    who = f"{layer} ({layer_type})"
    shape = tuple(int(v) for v in x.shape)

    def name(dtype: Any) -> str:
        return str(dtype).replace("torch.", "")

    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        if not x.is_floating_point():
            return None
        want, summary = torch.long, (f"{who} looks up integer ids but gets {name(x.dtype)} "
                                     f"from {came}")
        cause = "an embedding's input holds row numbers (token ids), so it must be integers"
    else:
        weight = next((p for p in module.parameters() if p.is_floating_point()), None)
        if weight is None or x.dtype == weight.dtype:
            return None
        want, summary = weight.dtype, (f"{who} has {name(weight.dtype)} weights but gets "
                                       f"{name(x.dtype)} from {came}")
        cause = ("PyTorch multiplies a tensor only with weights of its own dtype"
                 + ("; integer ids belong in an nn.Embedding"
                    if not x.is_floating_point() and x.dtype != torch.bool else ""))
    try:
        with torch.no_grad():
            module(torch.zeros(shape, dtype=want, device=x.device))
    except Exception:
        return None  # the dtype is not the only problem: let the shape diagnosis speak
    flag = "long" if want == torch.long else name(want)
    fix = (f"--dtype {flag} (or NAME=SHAPE:{flag}) on the command line, "
           f"dtypes=torch.{name(want)} in trace()" if came.startswith("the model's input")
           else f"convert before {who}: x.to(torch.{name(want)})")
    return Failure(layer=layer, layer_type=layer_type, input_shape=shape, kind="dtype",
                   error=error, summary=summary, cause=(cause,), fixes=(fix,))


# ----------------------------------------------------------------------------- merges
def _meta(shape: Shape) -> Any:
    import torch

    return torch.empty(shape, device="meta")


def _checks(op: Any) -> bool:
    try:
        op()
        return True
    except Exception:
        return False


def diagnose_merge(
    rows: Sequence[Row], *, name: str, op: str, rule: Any, shapes: Sequence[Shape],
    producers: Sequence[str], error: str, tensors: Sequence[Any] = (),
    args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None,
    model_input: Shape = (),
) -> Failure:
    """Explain a merge (``+``, ``*``, ``torch.cat``, ``@``, attention) that does not fit:
    both shapes, the layer that made each, the rule broken, and fixes that were checked by
    running the op again on meta tensors with the change applied."""
    import torch
    import torch.nn.functional as F

    who = f"{name} ({op})"
    try:
        rule.apply_many(list(shapes))
        err: LayerShapeError | None = None
    except LayerShapeError as exc:
        err = exc
    sides = [f"{fmt_shape(s)} from {p}" for s, p in zip(shapes, producers, strict=False)]
    cause = [f"input {i}: {side}" for i, side in enumerate(sides)]
    if err is not None:
        cause.append(f"rule: {err}")
    fixes: list[str] = []
    kind = err.kind if err is not None else "unknown"
    a, b = (shapes[0], shapes[1]) if len(shapes) > 1 else (shapes[0], shapes[0])
    pa, pb = (producers[0], producers[1]) if len(producers) > 1 else ("?", "?")
    if kind == "broadcast":
        summary = f"{who} cannot combine {fmt_shape(a)} and {fmt_shape(b)}"
        if len(a) == len(b) == 4:
            for x, (y, py) in ((a, (b, pb)), (b, (a, pa))):
                # y is the branch to change so that it matches x
                if y[2] % x[2] == 0 and y[3] % x[3] == 0 and y[2] // x[2] == y[3] // x[3]:
                    s = y[2] // x[2]
                    w = (x[1], y[1], 1, 1)
                    if (s > 1 or x[1] != y[1]) and _checks(
                            lambda y=y, w=w, s=s, x=x: F.conv2d(_meta(y), _meta(w), stride=s)
                            + _meta(x)):
                        conv = f"nn.Conv2d({y[1]}, {x[1]}, 1" + (f", stride={s})" if s > 1
                                                                   else ")")
                        fixes.append(
                            f"a 1×1{f' stride-{s}' if s > 1 else ''} conv on the branch from "
                            f"{py}: {conv} turns {fmt_shape(y)} into {fmt_shape(x)} (the "
                            f"projection shortcut of ResNet)")
            bad = [d for d in range(4) if a[d] != b[d] and 1 not in (a[d], b[d])]
            what = []
            if 1 in bad:
                what.append(f"{a[1]} vs {b[1]} channels")
            if any(d >= 2 for d in bad):
                what.append(f"{a[2]}×{a[3]} vs {b[2]}×{b[3]} maps (one branch was "
                            f"downsampled, the other not)")
            if what:
                summary += ": " + " and ".join(what)
        if not fixes:
            summary += f" ({err})" if err is not None else ""
    elif kind == "cat":
        dim = getattr(rule, "dim", 0)
        summary = f"{who} cannot concatenate {fmt_shape(a)} and {fmt_shape(b)} along dim {dim}"
        if len(a) == len(b):
            bad = [d for d in range(len(a)) if d != dim % len(a) and a[d] != b[d]]
            if bad:
                summary += (": " + ", ".join(f"dim {d} is {a[d]} vs {b[d]}" for d in bad)
                            + " (every dimension but the cat one must match)")
                big, small = (a, b) if all(a[d] >= b[d] for d in bad) else (b, a)
                pb_small = pb if small is b else pa
                pb_big = pa if small is b else pb
                crop = tuple(slice(0, small[d]) if d in bad else slice(None)
                             for d in range(len(a)))
                crop_text = ", ".join(f":{small[d]}" if d in bad else ":" for d in range(len(a)))
                if _checks(lambda: torch.cat([_meta(big)[crop], _meta(small)], dim=dim)):
                    fixes.append(f"crop the larger tensor (from {pb_big}) before the cat: "
                                 f"t[{crop_text}] → "
                                 f"{fmt_shape((*small[:dim], big[dim], *small[dim + 1:]))}")
                pads: list[int] = []
                for d in reversed(range(len(a))):
                    if d < min(bad):
                        break
                    extra = big[d] - small[d] if d in bad else 0
                    pads += [extra // 2, extra - extra // 2]
                if pads and _checks(lambda: torch.cat(
                        [_meta(big), F.pad(_meta(small), pads)], dim=dim)):
                    fixes.append(f"pad the smaller tensor (from {pb_small}): "
                                 f"F.pad(t, {tuple(pads)}) → "
                                 f"{fmt_shape((*big[:dim], small[dim], *big[dim + 1:]))}")
                if len(a) >= 3 and min(bad) >= 2 and _checks(lambda: torch.cat(
                        [_meta(big), F.interpolate(_meta(small), size=big[2:])], dim=dim)):
                    fixes.append(f"or resize it: F.interpolate(t, size={big[2:]})")
    elif kind == "matmul":
        summary = f"{who} cannot multiply {fmt_shape(a)} @ {fmt_shape(b)}"
        if err is not None:
            summary += f": inner sizes {err.got} and {err.expected} differ"
        if len(b) >= 2 and b[-1] == a[-1] and _checks(
                lambda: torch.matmul(_meta(a), _meta(b).transpose(-2, -1))):
            fixes.append(f"transpose the right operand (from {pb}): b.transpose(-2, -1) "
                         f"{fmt_shape((*b[:-2], b[-1], b[-2]))}")
        if len(a) >= 2 and a[-2] == b[-2] and _checks(
                lambda: torch.matmul(_meta(a).transpose(-2, -1), _meta(b))):
            fixes.append(f"transpose the left operand (from {pa}): a.transpose(-2, -1) "
                         f"{fmt_shape((*a[:-2], a[-1], a[-2]))}")
        if len(b) == 2:
            fixes.append(f"a right operand with {a[-1]} rows: ({a[-1]}, {b[-1]}) (the "
                         f"contracted size = the left's last dimension)")
    else:
        summary = f"{who} failed on {', '.join(fmt_shape(s) for s in shapes)}" + (
            f": {err}" if err is not None else "")
    return Failure(
        layer=name, layer_type=op, input_shape=shapes[0] if shapes else None, kind=kind,
        error=error, summary=summary, cause=tuple(cause),
        chain=_history(_Ctx(rows, [None] * len(rows), name, op, _Identity(),
                            shapes[0] if shapes else (), error, model_input,
                            LayerShapeError("invalid", error))),
        fixes=tuple(fixes),
    )
