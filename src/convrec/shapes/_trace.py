"""Trace any ``nn.Module``: its dataflow graph, every shape explained, receptive fields.

How the graph is recorded, and why this way: forward pre-/post-hooks on every module plus
a :class:`torch.overrides.TorchFunctionMode`, during one real forward pass (eval mode, no
grad, train/eval state restored). ``torch.fx`` and ``torch.export`` were the alternatives:
symbolic tracing fails on data-dependent Python control flow, which most real models have
(transformers' models branch on masks, shapes and config flags and are not fx-traceable
without their own tracer), and ``torch.export`` needs a model that compiles. Hooks plus a
function mode see *every* model that runs in eager mode, including the ones that fail,
which is the case this tracer exists for. Each tensor gets a tag (see
:mod:`convrec.shapes._graph`): the op that produced it and its receptive field per
dimension; each op records which tagged tensors it consumed, so the graph, the receptive
fields along its edges (the union of the branches at ``+``, ``*``, ``cat``) and the
producers of both sides of a failing merge come from the same record.

Rows: a row per leaf module (or module with a known rule, such as
``nn.MultiheadAttention``), per container (``kind="container"``, for the ``--depth``
tree), and per shape-changing or combining function call in a ``forward``
(``F.max_pool2d``, ``x.view``, ``+`` of two activations, ``torch.cat``, ``@``, ...).

Other modes: ``run=False`` on an ``nn.Sequential`` of known layers needs no forward pass at
all (``"static"``: each layer's formula from :mod:`convrec.conv.shapes` gives the next
shape); any other model runs on *meta* tensors (shapes only, ``"meta"``).

Parameters and mult-adds follow torchinfo exactly (so the totals equal
``torchinfo.summary``'s): per call of a leaf module, ``params·N·(output spatial)`` for a
``*Conv*`` class, ``N·params`` for any other ``weight``/``bias`` (so a BatchNorm counts
``N·2C`` and a Linear ``N·params``, whatever the sequence length), ``N·L·params`` for the
other weights of RNNs; functional calls count 0.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convrec.shapes import _graph as G
from convrec.shapes._diagnose import diagnose, diagnose_merge
from convrec.shapes._ops import (
    AttentionRule,
    BroadcastRule,
    CatRule,
    EinsumRule,
    EmbeddingRule,
    MatmulRule,
    PermuteRule,
    RNNRule,
    StackRule,
    transpose_order,
)
from convrec.shapes._result import InputInfo, Row, Shape, Trace, TraceMode, fmt_shape
from convrec.shapes._specs import (
    AdaptivePoolSpec,
    ConvSpec,
    FlattenSpec,
    LayerShape,
    LayerShapeError,
    LinearSpec,
    PadSpec,
    PoolSpec,
    ReshapeSpec,
    SameShapeSpec,
    Spec,
    UnflattenSpec,
    _overrides_forward,
    spec_of,
    spec_of_call,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["trace"]

TAG = "_convrec_tag"


def _check_input_memory(name: str, shape: Shape, dtype: Any, device: Any) -> None:
    """Refuse, in one line, an input that cannot be allocated (meta tensors cost nothing,
    but even they must count their bytes in 63 bits)."""
    import math

    from convrec.conv.limits import physical_memory_bytes

    needed = math.prod(shape) * dtype.itemsize
    memory = None if str(device) == "meta" else physical_memory_bytes()
    limit = min(memory, 2**62) if memory is not None else 2**62
    if needed > limit:
        raise ValueError(
            f"input {name} {tuple(shape)} needs {needed / 2**30:,.0f} GiB, more than "
            f"{'this machine has' if memory is not None else 'a tensor can hold'} "
            f"({limit / 2**30:,.0f} GiB); trace a smaller batch or image (the shapes scale)")


def _check_input_shape(input_shape: Any, what: str = "input_shape") -> Shape:
    if isinstance(input_shape, str | bytes) or not isinstance(input_shape, Sequence):
        raise ValueError(
            f"{what} must be a sequence of positive ints such as (64, 1, 28, 28), "
            f"got {what}={input_shape!r}"
        )
    shape: list[int] = []
    for v in input_shape:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(
                f"{what} must hold positive ints such as (64, 1, 28, 28), got "
                f"{what}={tuple(input_shape)!r} ({v!r} is not a positive int)"
            )
        shape.append(v)
    if not shape:
        raise ValueError(f"{what} must have at least one dimension, got ()")
    return tuple(shape)



# ----------------------------------------------------------------------------- op tables
_MERGES = ("torch.add", "Tensor.add", "Tensor.add_", "Tensor.__add__", "Tensor.__iadd__",
           "Tensor.__radd__", "torch.mul", "Tensor.mul", "Tensor.mul_", "Tensor.__mul__",
           "Tensor.__imul__", "Tensor.__rmul__", "torch.sub", "Tensor.sub", "Tensor.sub_",
           "Tensor.__sub__", "torch.div", "Tensor.div", "Tensor.div_", "Tensor.__truediv__",
           "torch.maximum", "torch.minimum")
_CATS = ("torch.cat", "torch.concat", "torch.concatenate")
_MATMULS = ("torch.matmul", "Tensor.matmul", "Tensor.__matmul__", "torch.bmm", "Tensor.bmm",
            "torch.mm", "Tensor.mm")
_REARRANGE = ("Tensor.permute", "torch.permute", "Tensor.transpose", "torch.transpose",
              "Tensor.squeeze", "torch.squeeze", "Tensor.unsqueeze", "torch.unsqueeze",
              "Tensor.__getitem__", "Tensor.expand", "Tensor.repeat", "Tensor.flatten",
              "torch.flatten", "Tensor.view", "Tensor.reshape", "torch.reshape")
_CALLS = (
    *_MERGES, *_CATS, *_MATMULS, *_REARRANGE, "torch.stack", "torch.einsum",
    "F.conv1d", "F.conv2d", "F.conv3d", "F.conv_transpose1d", "F.conv_transpose2d",
    "F.max_pool1d", "F.max_pool2d", "F.avg_pool1d", "F.avg_pool2d", "F.adaptive_avg_pool1d",
    "F.adaptive_avg_pool2d", "F.adaptive_max_pool2d", "F.linear", "F.pad", "F.interpolate",
    "F.scaled_dot_product_attention", "Tensor.mean", "torch.mean", "Tensor.sum", "torch.sum",
    "F.pixel_shuffle", "F.pixel_unshuffle",
)
# ops that hand out pieces of one tensor (views, no row of their own): each piece keeps its
# place in the tensor, so fields and receptive boxes follow it
_SPLITS = ("torch.chunk", "Tensor.chunk", "torch.split", "Tensor.split", "torch.tensor_split",
           "Tensor.tensor_split", "torch.unbind", "Tensor.unbind", "torch.narrow",
           "Tensor.narrow", "torch.select", "Tensor.select")
# same-shape reorderings (no row): each element reads another's place
_REORDERS = ("torch.flip", "Tensor.flip", "torch.roll", "Tensor.roll")
# same-shape ops that mix along a dim (no row): every element reads the whole dim
# (softmax, normalize, layer/instance norm) or, cumulatively, its indices 0..i
_MIXERS = ("F.softmax", "torch.softmax", "Tensor.softmax", "F.log_softmax",
           "torch.log_softmax", "Tensor.log_softmax", "F.softmin", "F.normalize",
           "F.layer_norm", "F.instance_norm", "torch.cumsum", "Tensor.cumsum",
           "torch.cumprod", "Tensor.cumprod", "torch.logcumsumexp", "Tensor.logcumsumexp")


def _call_table(displays: Sequence[str] = _CALLS) -> dict[Callable[..., Any], str]:
    import torch
    import torch.nn.functional as F

    table: dict[Callable[..., Any], str] = {}
    for display in displays:
        owner_name, attr = display.split(".", 1)
        owner: Any = {"F": F, "torch": torch, "Tensor": torch.Tensor}[owner_name]
        fn = getattr(owner, attr, None)
        if fn is not None:
            table.setdefault(fn, display)
    return table


def _tensors(value: Any, out: list[Any] | None = None, depth: int = 0) -> list[Any]:
    """Every tensor in ``value`` (nested tuples, lists, dicts, ModelOutputs and plain
    dataclasses, 3 deep)."""
    import dataclasses

    import torch

    out = [] if out is None else out
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif depth < 3 and isinstance(value, list | tuple):
        for v in value:
            _tensors(v, out, depth + 1)
    elif depth < 3 and isinstance(value, Mapping):
        for v in value.values():
            _tensors(v, out, depth + 1)
    elif depth < 3 and dataclasses.is_dataclass(value) and not isinstance(value, type):
        # a forward may return its own @dataclass (fields in declaration order, as a
        # ModelOutput's); a ModelOutput is a Mapping and never gets here
        for f in dataclasses.fields(value):
            _tensors(getattr(value, f.name), out, depth + 1)
    return out


def _first_shape(value: Any) -> Shape | None:
    found = _tensors(value)
    return tuple(int(v) for v in found[0].shape) if found else None


def _torchinfo_size(value: Any) -> Shape:
    """The output size torchinfo uses for mult-adds: a tensor's, a sequence's first
    element's, a dict's last value's."""
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(int(v) for v in value.shape)
    if isinstance(value, Mapping) and value:
        return _torchinfo_size(list(value.values())[-1])
    if isinstance(value, list | tuple) and value:
        first = value[0]
        if hasattr(first, "data") and hasattr(first.data, "size") and not isinstance(
                first, torch.Tensor):
            return tuple(int(v) for v in first.data.size())
        return _torchinfo_size(first)
    return ()


def _torchinfo_macs(module: nn.Module, out: Shape) -> tuple[int, str]:
    """Mult-adds of one call of a leaf module, as torchinfo counts them."""
    if not out:
        return 0, ""
    conv = "Conv" in type(module).__name__
    total = 0
    parts: list[str] = []
    for name, p in module.named_parameters():
        n = p.numel()
        if name in ("weight", "bias"):
            factor = math.prod(out[:1] + out[2:]) if conv else out[0]
        elif "weight" in name or "bias" in name:
            factor = math.prod(out[:2])
        else:
            continue
        total += n * factor
        parts.append(f"{name} {n:,}·{factor:,}")
    if not parts:
        return 0, ""
    what = "N·(output spatial)" if conv else "N"
    return total, f"params × {what} (torchinfo): {' + '.join(parts)} = {total:,}"


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


# ----------------------------------------------------------------------------- flows
@dataclass
class _Flow:
    """How one op moves receptive fields: the output's fields and a back map per source."""

    fields: tuple[G.AxisField | None, ...]
    backs: list[G.BackMap]
    whole: bool = False
    lost: bool = False


def _keep_order(in_shape: Shape, out_shape: Shape) -> list[int]:
    """Output dim → input dim it carries (-1: new or merged), by matching equal sizes from
    both ends, and size-1 dims inserted or removed."""
    a = [d for d, n in enumerate(in_shape) if n != 1]
    b = [d for d, n in enumerate(out_shape) if n != 1]
    order = [-1] * len(out_shape)
    if [in_shape[d] for d in a] == [out_shape[d] for d in b]:
        for i, j in zip(a, b, strict=True):
            order[j] = i
        return order
    i = 0
    while i < min(len(in_shape), len(out_shape)) and in_shape[i] == out_shape[i]:
        order[i] = i
        i += 1
    j = 1
    while (j <= min(len(in_shape), len(out_shape)) - i
           and in_shape[-j] == out_shape[-j]):
        order[len(out_shape) - j] = len(in_shape) - j
        j += 1
    return order


def _flow_keep(tag: G.Tag, order: Sequence[int]) -> _Flow:
    kept = G.keep_dims_tag(0, tag, [d if d >= 0 else None for d in order])
    return _Flow(kept.fields, [G.back_permute(order)], kept.whole, kept.lost)


def _flow_window(tag: G.Tag, spec: ConvSpec | PoolSpec, shape: Shape) -> _Flow:
    nd = spec.nd
    lead = len(shape) - nd
    spatial = shape[lead:]
    fields = list(tag.fields)
    if isinstance(spec, ConvSpec) and spec.transposed:
        pads = [p[0] for p in spec.padding] if not isinstance(spec.padding, str) else [0] * nd
        windows = [(k, s, d, p) for k, s, d, p in
                   zip(spec.kernel, spec.stride, spec.dilation, pads, strict=True)]
        for i, (k, s, d, p) in enumerate(windows):
            f = fields[lead + i]
            fields[lead + i] = f.transposed(k, s, d, p) if f is not None else None
        return _Flow(tuple(fields), [G.back_transposed(nd, windows, spec.groups,
                                                       spec.out_channels)], tag.whole, tag.lost)
    if isinstance(spec, ConvSpec):
        befores = [p[0] for p in spec.pads(spatial)]
    else:
        befores = list(spec.padding)
    windows = [(k, s, d, p) for k, s, d, p in
               zip(spec.kernel, spec.stride, spec.dilation, befores, strict=True)]
    for i, (k, s, d, p) in enumerate(windows):
        f = fields[lead + i]
        fields[lead + i] = f.window(k, s, d, p) if f is not None else None
    back = (G.back_window(nd, windows, True, spec.padding_mode, spec.groups,
                          spec.out_channels) if isinstance(spec, ConvSpec)
            else G.back_window(nd, windows, False))
    return _Flow(tuple(fields), [back], tag.whole, tag.lost)


def _flow_resize(tag: G.Tag, shape: Shape, out: Shape, nd: int,
                 per_dim: Sequence[tuple[Callable[[int], G.Interval], int]]) -> _Flow:
    lead = len(shape) - nd
    fields = list(tag.fields)
    for i, (_, window) in enumerate(per_dim):
        f = fields[lead + i]
        fields[lead + i] = (f.resize(shape[lead + i], out[lead + i], window)
                            if f is not None else None)
    return _Flow(tuple(fields), [G.back_resize(nd, [w for w, _ in per_dim])], tag.whole,
                 tag.lost)


def _max_window(f: Callable[[int], G.Interval], n_out: int) -> int:
    return max(b - a + 1 for a, b in (f(o) for o in range(n_out)))


def _flow_whole(tags: Sequence[G.Tag], rank: int,
                backs: Sequence[G.BackMap] | None = None) -> _Flow:
    """Every element sees the whole input along its fields; ``backs`` (one per source, or
    one for all) keep what the op does not mix (the batch: ``G.back_keep``), default
    everything mixed."""
    w = G.whole_tag(0, rank, tags)
    return _Flow(w.fields, list(backs) if backs else [G.back_full for _ in tags], w.whole)


def _flow_attention(tags: Sequence[G.Tag], shapes: Sequence[Shape], batch_first: bool
                    ) -> _Flow:
    """``nn.MultiheadAttention``: each query position reads every key and value position
    and feature, but only its own sample (dim 0 when ``batch_first``, else dim 1; an
    unbatched (L, E) query has none)."""
    batch = ([] if len(shapes[0]) < 3 else [0] if batch_first else [1])
    return _flow_whole(tags, len(shapes[0]), [G.back_keep(batch)])


def _flow_same(tags: Sequence[G.Tag], rank: int) -> _Flow:
    m = G.merge_tags(0, tags, rank)
    return _Flow(m.fields, [G.back_elementwise for _ in tags], m.whole, m.lost)


def _spec_flow(spec: Any, tags: Sequence[G.Tag], shapes: Sequence[Shape], out: Shape,
               args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> _Flow:
    """The flow of a known single-input spec (conv, pool, linear, reshape, ...)."""
    tag, shape = tags[0], shapes[0]
    if isinstance(spec, ConvSpec | PoolSpec):
        return _flow_window(tag, spec, shape)
    if isinstance(spec, AdaptivePoolSpec):
        nd = spec.nd
        if all(o == 1 for o in out[len(out) - nd:]):  # global: per sample and channel
            return _flow_whole(tags, len(out), [G.back_keep(range(len(out) - nd))])
        wins = [G.adaptive_window(n, o) for n, o in
                zip(shape[len(shape) - nd:], out[len(out) - nd:], strict=True)]
        return _flow_resize(tag, shape, out, nd,
                            [(w, _max_window(w, o)) for w, o in zip(wins, out[len(out) - nd:],
                                                                   strict=True)])
    if isinstance(spec, LinearSpec):
        if tag.fields and tag.fields[-1] is not None:  # mixes the last dim only
            return _flow_whole(tags, len(out), [G.back_keep(range(len(out) - 1))])
        return _flow_keep(tag, [*range(len(out) - 1), -1])
    if isinstance(spec, EmbeddingRule):
        return _flow_keep(tag, [*range(len(shape)), -1])
    if isinstance(spec, RNNRule):
        batch, time = ((None, 0) if len(shape) < 3 else (0, 1) if spec.batch_first
                       else (1, 0))
        return _flow_whole(tags, len(out), [G.back_recurrent(batch, time,
                                                             not spec.bidirectional)])
    if isinstance(spec, SameShapeSpec):
        if spec.trailing and any(f is not None for f in tag.fields[-len(spec.trailing):]):
            return _flow_whole(tags, len(out),  # LayerNorm: over the trailing dims only
                               [G.back_keep(range(len(out) - len(spec.trailing)))])
        if spec.groups and tag.spatial:  # GroupNorm: statistics over all positions
            return _flow_whole(tags, len(out), [G.back_group_norm(spec.groups)])
        if spec.mixes is not None and shape:  # nn.Softmax(dim): the whole dim, as F.softmax
            dim = spec.mixes % len(shape)
            mixed = G.remap_tag(tag, shape, {dim: _whole_dim(shape[dim])}, exact=True)

            def back(box: G.Box, src: Shape) -> G.Box | None:
                return G.back_elementwise((*box[:dim], (0, src[dim] - 1), *box[dim + 1:]),
                                          src)

            return _Flow(mixed.fields, [back], mixed.whole, mixed.lost)
        return _flow_same(tags[:1], len(out))
    if isinstance(spec, PadSpec):
        fields = list(tag.fields)
        befores: dict[int, int] = {}
        for i in range(len(spec.pads) // 2):
            axis = len(shape) - 1 - i
            befores[axis] = spec.pads[2 * i]
            f = fields[axis]
            fields[axis] = f.window(1, 1, 1, spec.pads[2 * i]) if f is not None else None

        def back(box: G.Box, src: Shape) -> G.Box | None:
            iv: list[G.Interval] = []
            for d, (lo, hi) in enumerate(box):
                b = befores.get(d, 0)
                read = G.padded_hull((lo - b, hi - b), src[d], spec.mode)
                if read is None:
                    return None
                iv.append(read)
            return tuple(iv)

        return _Flow(tuple(fields), [back], tag.whole, tag.lost)
    if isinstance(spec, FlattenSpec | ReshapeSpec | UnflattenSpec | PermuteRule):
        order = (list(spec.order) if isinstance(spec, PermuteRule)
                 else _keep_order(shape, out))
        if isinstance(spec, PermuteRule):
            order = [d % len(shape) for d in order]
        return _flow_keep(tag, order)
    return _flow_generic(tags, shapes, out)


def _flow_generic(tags: Sequence[G.Tag], shapes: Sequence[Shape], out: Shape) -> _Flow:
    if any(s == out for s in shapes):
        return _flow_same(tags, len(out))
    if len(tags) == 1:
        return _flow_keep(tags[0], _keep_order(shapes[0], out))
    return _Flow((None,) * len(out), [G.back_full for _ in tags],
                 any(t.whole for t in tags), lost=True)


def _interp_flow(tag: G.Tag, shape: Shape, out: Shape, args: Sequence[Any],
                 kwargs: Mapping[str, Any]) -> tuple[_Flow, str]:
    mode = kwargs.get("mode", args[3] if len(args) > 3 else "nearest")
    align = bool(kwargs.get("align_corners", args[4] if len(args) > 4 else False) or False)
    scale = kwargs.get("scale_factor", args[2] if len(args) > 2 else None)
    nd = len(shape) - 2
    scales = (list(scale) if isinstance(scale, list | tuple) else [scale] * nd)
    per_dim: list[tuple[Callable[[int], G.Interval], int]] = []
    texts: list[str] = []
    for i in range(nd):
        n_in, n_out = shape[2 + i], out[2 + i]
        s = float(scales[i]) if scales[i] else None
        if mode in ("nearest", "nearest-exact"):
            w = G.nearest_window(n_in, n_out, s)
        elif "linear" in str(mode) or mode == "bicubic":
            w = G.linear_window(n_in, n_out, s, align)
        else:
            w = G.adaptive_window(n_in, n_out)
        per_dim.append((w, _max_window(w, n_out)))
        texts.append(f"{n_in} → {n_out}" + (f" (scale {s:g})" if s else ""))
    formula = f"{mode}: " + ", ".join(texts)
    return _flow_resize(tag, shape, out, nd, per_dim), formula


# ----------------------------------------------------------------------------- recorder
@dataclass
class _Frame:
    name: str
    module: nn.Module
    record: bool
    container: bool
    spec: Any
    in_tensors: list[Any]
    depth: int
    slot: int | None
    call: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})


@dataclass
class _Failed:
    """The op that raised: what reached it and who made it."""

    name: str
    type: str
    spec: Any
    shapes: list[Shape]
    tags: list[G.Tag | None]
    stack_len: int
    tensors: list[Any] = field(default_factory=list)
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    module: Any = None


def _module_rule(module: nn.Module) -> Any:
    """Rules for the modules that spec_of does not cover (multi-input, recurrent, ids)."""
    from torch import nn

    if _overrides_forward(module):
        return None  # e.g. BART's positions: an nn.Embedding that looks up arange(L)

    if isinstance(module, nn.Embedding):
        return EmbeddingRule(module.num_embeddings, module.embedding_dim,
                             label=type(module).__name__)
    if isinstance(module, nn.RNNBase):
        return RNNRule(module.input_size, module.hidden_size, module.num_layers,
                       module.bidirectional, module.batch_first,
                       int(getattr(module, "proj_size", 0) or 0), label=type(module).__name__)
    if isinstance(module, nn.MultiheadAttention):
        return AttentionRule(module.embed_dim, module.num_heads, module.batch_first,
                             label=type(module).__name__)
    return None


class _Recorder:
    def __init__(self, model: nn.Module, graph: G.Graph) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.root = type(model).__name__
        self.stack: list[_Frame] = []
        self.rows: list[Row | None] = []
        self.specs: list[Spec | None] = []
        self.ends: dict[int, int] = {}
        self.graph = graph
        self.failed: _Failed | None = None
        self.functions = _call_table()
        self.splits = _call_table(_SPLITS)
        self.reorders = _call_table(_REORDERS)
        self.mixers = _call_table(_MIXERS)
        self.inside_leaf = 0
        self.warnings: list[str] = []
        self._specs_cache: dict[int, Any] = {}

    # -- rows
    def reserve(self) -> int:
        self.rows.append(None)
        self.specs.append(None)
        return len(self.rows) - 1

    def _spec(self, module: nn.Module) -> Any:
        key = id(module)
        if key not in self._specs_cache:
            self._specs_cache[key] = spec_of(module) or _module_rule(module)
        return self._specs_cache[key]

    def tag_of(self, t: Any) -> G.Tag | None:
        tag = t.__dict__.get(TAG) if hasattr(t, "__dict__") else None
        return tag if isinstance(tag, G.Tag) else None

    def _formulas(self, spec: Any, shapes: list[Shape], out: Shape | None
                  ) -> tuple[LayerShape | None, list[str]]:
        notes: list[str] = []
        if spec is None or not shapes:
            return None, notes
        try:
            ls = (spec.apply_many(shapes) if hasattr(spec, "apply_many")
                  else spec.apply(shapes[0]))
        except LayerShapeError as err:
            notes.append(f"convrec's formula rejects this input ({err}), PyTorch accepted it")
            return None, notes
        if out is not None and ls.output_shape and ls.output_shape != out:
            notes.append(f"the formula gives {fmt_shape(ls.output_shape)} but PyTorch produced "
                         f"{fmt_shape(out)} (e.g. an output_size argument); shown as produced")
            return None, notes
        return ls, notes

    def add_node(self, slot: int, name: str, type_: str, out_tensors: list[Any],
                 in_tensors: list[Any], flow: _Flow | None, out_shape: Shape | None,
                 inner: G.Tag | None = None) -> G.Tag:
        """The graph node of a row. ``inner``: the tag of the module's output as the rows
        recorded inside it left it (a layer with no formula of its own, such as
        ``nn.Upsample`` around ``F.interpolate``): the node then leads to those rows."""
        node = G.Node(name, out_shape)
        tags: list[G.Tag] = []
        if inner is not None and out_shape is not None:
            node.sources.append((inner.node, self._node_shape(inner.node) or out_shape,
                                 G.through_view(G.back_elementwise, inner, out_shape)))
            in_tensors = []
        for i, t in enumerate(in_tensors):
            tag = self.tag_of(t)
            if tag is None:
                continue
            tags.append(tag)
            shape = tuple(int(v) for v in t.shape)
            src_shape = self._node_shape(tag.node)
            back = flow.backs[min(i, len(flow.backs) - 1)] if flow and flow.backs else G.back_full
            if tag.view is not None:  # a piece of the node's output (a chunk, a split)
                back = G.through_view(back, tag, shape)
                shape = src_shape or shape
            elif src_shape != shape:
                back = G.back_full  # the tensor was rearranged on its way (no row)
                shape = src_shape or shape
            node.sources.append((tag.node, shape, back))
        self.graph.nodes[slot] = node
        if flow is None:
            flow = _flow_generic(tags, [], out_shape or ()) if tags else _Flow(
                (None,) * len(out_shape or ()), [])
        out_tag = G.Tag(slot, flow.fields, flow.whole, flow.lost)
        for t in out_tensors:
            if out_shape is not None and tuple(t.shape) == out_shape:
                t.__dict__[TAG] = out_tag
        return out_tag

    def _node_shape(self, node: int) -> Shape | None:
        if node < 0:
            return self.graph.inputs[node][1]
        n = self.graph.nodes.get(node)
        return n.shape if n is not None else None

    def fill(self, slot: int, *, name: str, type_: str, kind: str, depth: int, spec: Any,
             in_tensors: list[Any], output: Any, params: int, module: Any = None,
             extra: tuple[str, ...] = (), flow_spec: Any = None,
             flow_fn: Callable[[list[G.Tag], list[Shape], Shape], _Flow] | None = None,
             inner: G.Tag | None = None) -> None:
        shapes = [tuple(int(v) for v in t.shape) for t in in_tensors]
        outs = _tensors(output)
        out_shape = tuple(int(v) for v in outs[0].shape) if outs else None
        ls, notes = self._formulas(spec, shapes, out_shape)
        if ls is not None:
            notes.extend(ls.notes)
            self.warnings.extend(f"{name}: {n}" for n in ls.notes)
        tags = [self.tag_of(t) for t in in_tensors]
        tagged = [t for t in tags if t is not None]
        flow: _Flow | None = None
        if tagged and out_shape is not None:
            tagged_shapes = [s for s, t in zip(shapes, tags, strict=True) if t is not None]
            if inner is not None:
                flow = _Flow(inner.fields, [G.back_elementwise], inner.whole, inner.lost)
            elif flow_fn is not None:
                flow = flow_fn(tagged, tagged_shapes, out_shape)
            elif isinstance(spec, AttentionRule):  # query, key and value: several sources
                flow = _flow_attention(tagged, tagged_shapes, spec.batch_first)
            elif (flow_spec or spec) is not None and len(tagged) == 1 and tags[0] is not None:
                flow = _spec_flow(flow_spec or spec, tagged, tagged_shapes, out_shape)
            else:
                flow = _flow_generic(tagged, tagged_shapes, out_shape)
        tagged_in = [t for t in in_tensors if self.tag_of(t) is not None]
        link = inner if flow is not None else None  # the node then leads to the inner rows
        out_tag = self.add_node(slot, name, type_, outs, tagged_in, flow, out_shape, link)
        sizes, jumps, rf_note = G.describe_fields(out_tag)
        macs, macs_formula = (0, "")
        if module is not None and next(iter(module.children()), None) is None:
            macs, macs_formula = _torchinfo_macs(module, _torchinfo_size(output))
        kernel = tuple(getattr(spec, "kernel", ()) or ())
        row = Row(
            index=slot, name=name, type=type_, kind=kind,  # type: ignore[arg-type]
            depth=depth, input_shape=shapes[0] if shapes else None, output_shape=out_shape,
            explanations=ls.explanations if ls else (),
            formulas=(ls.formulas if ls else ()) + extra, params=params,
            mult_adds=macs, mult_adds_formula=macs_formula,
            receptive_field=sizes, jump=jumps, rf_note=rf_note, notes=tuple(notes),
            sources=tuple(tag.node for tag in tagged) if link is not None
            else tuple(s for s, _, _ in self.graph.nodes[slot].sources),
            input_shapes=tuple(shapes) if len(shapes) > 1 else (),
            kernel_shape=kernel,
            output_bytes=sum(t.numel() * t.element_size() for t in outs[:1]),
        )
        self.rows[slot] = row
        self.specs[slot] = spec if isinstance(spec, _SINGLE_SPECS) else None

    # -- module hooks
    def pre(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        name = self.names.get(id(module)) or self.root
        spec = self._spec(module)
        leaf = next(iter(module.children()), None) is None
        record = leaf or spec is not None
        depth = max(len(self.stack) - 1, 0)
        container = not record and bool(self.stack)
        slot = self.reserve() if (record or container) else None
        # a container's inputs too: a failure raised in its own forward (transformers'
        # "Input image size doesn't match") names the shape that reached it
        in_tensors = _tensors((args, kwargs)) if (record or container) else []
        self.stack.append(_Frame(name, module, record, container, spec, in_tensors, depth, slot,
                                 (args, kwargs) if record else ((), {})))
        if record and spec is not None:
            self.inside_leaf += 1  # a known layer: its internals are its own business

    def post(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any],
             output: Any) -> None:
        frame = self.stack.pop()
        if frame.record and frame.spec is not None:
            self.inside_leaf -= 1
        if frame.slot is None:
            return
        type_ = type(module).__name__
        if frame.container:
            outs = _tensors(output)
            out_shape = tuple(int(v) for v in outs[0].shape) if outs else None
            self.rows[frame.slot] = Row(
                index=frame.slot, name=frame.name, type=type_, kind="container",
                depth=frame.depth, input_shape=_first_shape((args, kwargs)),
                output_shape=out_shape, params=_param_count(module))
            self.ends[frame.slot] = len(self.rows)
            return
        spec = frame.spec
        in_tensors = frame.in_tensors
        if isinstance(spec, RNNRule | EmbeddingRule | LinearSpec | ConvSpec | PoolSpec
                      | AdaptivePoolSpec | FlattenSpec | UnflattenSpec | PadSpec):
            in_tensors = in_tensors[:1]
        extra: tuple[str, ...] = ()
        if isinstance(spec, RNNRule) and len(frame.in_tensors[0].shape) == 3 \
                and not spec.batch_first:
            n0, n1 = frame.in_tensors[0].shape[:2]
            extra = (f"note: dim 0 ({n0}) is read as the sequence and dim 1 ({n1}) as the "
                     f"batch; if your batch comes first, set batch_first=True",)
        # a layer with no formula of its own whose output came from rows recorded inside it
        # (nn.Upsample: F.interpolate): its fields and receptive boxes are theirs
        inner = None
        if spec is None:
            outs = _tensors(output)
            found = self.tag_of(outs[0]) if outs else None
            if found is not None and found.node > frame.slot:
                inner = found
        self.fill(frame.slot, name=frame.name, type_=type_, kind="module", depth=frame.depth,
                  spec=spec, in_tensors=in_tensors, output=output,
                  params=_param_count(module), module=module, extra=extra, inner=inner)

    # -- function calls
    def call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.inside_leaf:
            return func(*args, **kwargs)
        display = self.functions.get(func)
        in_tensors = _tensors((args, kwargs))
        tags = [self.tag_of(t) for t in in_tensors]
        if not any(t is not None for t in tags):
            return func(*args, **kwargs)
        try:
            out = func(*args, **kwargs)
        except Exception:
            if self.failed is None:
                op_name = str(display or getattr(func, "__name__", "op"))
                self.failed = _Failed(
                    name=self._call_name(op_name), type=op_name,
                    spec=self._call_spec(display, args, kwargs, in_tensors) if display else None,
                    shapes=[tuple(int(v) for v in t.shape) for t in in_tensors],
                    tags=tags, stack_len=len(self.stack), tensors=in_tensors,
                    args=args, kwargs=kwargs)
            raise
        outs = _tensors(out)
        if not outs:
            return out
        if tags[0] is not None and func in self.splits:
            pieces = _split_pieces(self.splits[func], args, kwargs,
                                   tuple(int(v) for v in in_tensors[0].shape), outs)
            if pieces is not None:
                op = self.splits[func].split(".", 1)[1]
                for k, (t, (dim, offset, removed)) in enumerate(zip(outs, pieces, strict=True)):
                    how = (f"{op}(dim={dim}) piece {k}" if len(outs) > 1 else
                           f"{op}(dim={dim}, {offset})")
                    t.__dict__[TAG] = G.slice_tag(tags[0], dim, offset, removed, how)
                return out
        if tags[0] is not None and func in self.reorders:
            shape = tuple(int(v) for v in in_tensors[0].shape)
            maps = _reorder_maps(self.reorders[func], args, kwargs, shape)
            if maps is not None and tuple(outs[0].shape) == shape:
                outs[0].__dict__[TAG] = G.remap_tag(tags[0], shape, maps)
                return out
        if tags[0] is not None and func in self.mixers:
            shape = tuple(int(v) for v in in_tensors[0].shape)
            mixed = _mixed_maps(self.mixers[func], args, kwargs, shape)
            if mixed is not None and tuple(outs[0].shape) == shape:
                maps, exact = mixed
                outs[0].__dict__[TAG] = G.remap_tag(tags[0], shape, maps, exact)
                return out
        shapes = [tuple(int(v) for v in t.shape) for t in in_tensors]
        out_shape = tuple(int(v) for v in outs[0].shape)
        if display is not None and self._is_row(display, tags, shapes, out_shape):
            self._function_row(display, args, kwargs, in_tensors, out)
            return out
        # not a row: the output inherits its inputs' fields (same node, no new edge)
        tagged = [(t, s) for t, s in zip(tags, shapes, strict=True) if t is not None]
        first = tagged[0][0]
        if any(s == out_shape for _, s in tagged):
            same = [t for t, s in tagged if len(s) == len(out_shape)] or [first]
            merged = G.merge_tags(first.node, same, len(out_shape))
            # still the same piece of that node
            if first.view is not None and all(
                    t.node == first.node and t.view is first.view for t, _ in tagged):
                merged = dataclasses.replace(merged, view=first.view, piece=first.piece)
        else:
            merged = G.Tag(first.node, (None,) * len(out_shape), first.whole,
                           lost=first.spatial or first.lost)
        for t in outs:
            if t.__dict__.get(TAG) is None or t is not in_tensors[0]:
                t.__dict__[TAG] = merged
        return out

    def _call_name(self, display: str) -> str:
        top = next((f for f in reversed(self.stack) if f.name != self.root), None)
        short = display.split(".", 1)[-1]
        return f"{top.name + '.' if top is not None else ''}{short}()"

    def _is_row(self, display: str, tags: list[G.Tag | None], shapes: list[Shape],
                out_shape: Shape) -> bool:
        if display in _MERGES:
            tagged = [s for t, s in zip(tags, shapes, strict=True) if t is not None]
            return len(tagged) >= 2 or any(s != out_shape for s in tagged)
        if display in ("Tensor.__getitem__", "Tensor.expand", "Tensor.repeat"):
            return shapes[0] != out_shape
        if display in ("Tensor.mean", "torch.mean", "Tensor.sum", "torch.sum"):
            return shapes[0] != out_shape
        return True

    def _call_spec(self, display: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                   in_tensors: list[Any]) -> Any:
        label = display
        try:
            if display in _MERGES:
                return BroadcastRule(label)
            if display in _CATS:
                return CatRule(int(kwargs.get("dim", args[1] if len(args) > 1 else 0)), label)
            if display == "torch.stack":
                return StackRule(int(kwargs.get("dim", args[1] if len(args) > 1 else 0)), label)
            if display in _MATMULS:
                return MatmulRule(label, batched_only="bmm" in display)
            if display == "torch.einsum":
                return EinsumRule(str(args[0]), label)
            if display == "F.scaled_dot_product_attention":
                return AttentionRule(0, 0, label=label)
            if display in ("Tensor.permute", "torch.permute"):
                dims = args[1:] if len(args) > 1 else kwargs.get("dims", ())
                if len(dims) == 1 and isinstance(dims[0], list | tuple):
                    dims = dims[0]
                return PermuteRule(tuple(int(d) for d in dims), label)
            if display in ("Tensor.transpose", "torch.transpose"):
                rank = len(in_tensors[0].shape)
                a = int(args[1] if len(args) > 1 else kwargs["dim0"])
                b = int(args[2] if len(args) > 2 else kwargs["dim1"])
                return PermuteRule(transpose_order(rank, a, b, label), label)
            return spec_of_call(display, args, kwargs)
        except (LayerShapeError, KeyError, TypeError, ValueError, IndexError):
            return None

    def _function_row(self, display: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                      in_tensors: list[Any], out: Any) -> None:
        spec = self._call_spec(display, args, kwargs, in_tensors)
        depth = len(self.stack) - 1 if self.stack else 0
        slot = self.reserve()
        flow_fn: Callable[[list[G.Tag], list[Shape], Shape], _Flow] | None = None
        extra: tuple[str, ...] = ()
        if display in _CATS or display == "torch.stack":
            dim = spec.dim if spec is not None else 0
            seq_shapes = [tuple(int(v) for v in t.shape) for t in in_tensors]
            rank = len(seq_shapes[0])
            if display == "torch.stack":
                flow_fn = self._stack_flow(in_tensors, dim % (rank + 1))
            else:
                flow_fn = self._cat_flow(in_tensors, dim % rank)
        elif display in _MERGES:
            flow_fn = lambda tags, shapes, o: _flow_same(tags, len(o))  # noqa: E731
        elif display in _MATMULS or display in ("torch.einsum",
                                                "F.scaled_dot_product_attention"):
            flow_fn = self._contraction_flow(display, args, in_tensors)
        elif display in ("Tensor.mean", "torch.mean", "Tensor.sum", "torch.sum"):
            flow_fn = self._reduce_flow(args, kwargs)
        elif display in ("F.pixel_shuffle", "F.pixel_unshuffle"):
            unshuffle = display == "F.pixel_unshuffle"
            key = "downscale_factor" if unshuffle else "upscale_factor"
            flow_fn = _pixel_flow(int(kwargs.get(key, args[1] if len(args) > 1 else 1)),
                                  unshuffle)
        elif display == "F.interpolate":
            holder: list[str] = []

            def interp(tags: list[G.Tag], shapes: list[Shape], o: Shape) -> _Flow:
                flow, text = _interp_flow(tags[0], shapes[0], o, args, kwargs)
                holder.append(text)
                return flow

            self.fill(slot, name=self._call_name(display), type_=display, kind="function",
                      depth=depth, spec=spec, in_tensors=in_tensors[:1], output=out, params=0,
                      flow_fn=interp)
            row = self.rows[slot]
            if row is not None and holder:
                self.rows[slot] = Row(**{**row.__dict__, "formulas": (*row.formulas, holder[0])})
            return
        if display in ("F.conv1d", "F.conv2d", "F.conv3d", "F.linear", "F.conv_transpose1d",
                       "F.conv_transpose2d") or display in _REARRANGE or display in (
                "F.max_pool1d", "F.max_pool2d", "F.avg_pool1d", "F.avg_pool2d", "F.pad",
                "F.adaptive_avg_pool1d", "F.adaptive_avg_pool2d", "F.adaptive_max_pool2d"):
            in_tensors = in_tensors[:1]
            if display == "Tensor.__getitem__":
                outs = _tensors(out)
                index = args[1] if len(args) > 1 else ()
                extra = (f"x[{_index_text(index)}]: "
                         f"{fmt_shape(tuple(in_tensors[0].shape))} → "
                         f"{fmt_shape(tuple(outs[0].shape))}",)
                flow_fn = _getitem_flow(index)
        self.fill(slot, name=self._call_name(display), type_=display, kind="function",
                  depth=depth, spec=spec, in_tensors=in_tensors, output=out, params=0,
                  flow_fn=flow_fn, extra=extra)

    def _cat_flow(self, in_tensors: list[Any], dim: int
                  ) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow]:
        offsets: list[int] = []
        pos = 0
        for t in in_tensors:
            if self.tag_of(t) is not None:
                offsets.append(pos)
            pos += int(t.shape[dim])

        def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
            m = G.merge_tags(0, tags, len(out))
            return _Flow(m.fields, [G.back_cat(dim, off) for off in offsets], m.whole, m.lost)

        return flow

    def _contraction_flow(self, display: str, args: tuple[Any, ...], in_tensors: list[Any]
                          ) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow]:
        """Matmul, einsum and attention mix the dims they sum over, and keep the others (the
        batch, the heads, a matmul's rows and columns): one back map per tagged operand."""
        ranks = [len(t.shape) for t in in_tensors]
        backs: list[G.BackMap] = []
        if display == "torch.einsum" and isinstance(args[0], str) and "->" in args[0] \
                and "." not in args[0]:
            lhs, _, rhs = args[0].replace(" ", "").partition("->")
            per = [G.back_letters(term, rhs) for term in lhs.split(",")]
        elif display in _MATMULS and len(ranks) == 2 and min(ranks) >= 2:
            lead = [-d for d in range(3, max(ranks) + 1)]  # broadcast batch dims
            per = [G.back_keep([-2, *lead]), G.back_keep([-1, *lead])]
        elif display == "F.scaled_dot_product_attention" and len(ranks) >= 3:
            lead = [-d for d in range(3, ranks[0] + 1)]
            # a query row is an output row; keys and values: every position; a mask: all
            per = [G.back_keep([-2, *lead]), G.back_keep(lead), G.back_keep(lead)]
        else:
            per = []
        for i, t in enumerate(in_tensors):
            if self.tag_of(t) is not None:
                backs.append(per[i] if i < len(per) else G.back_full)

        def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
            return _flow_whole(tags, len(out), backs if len(backs) == len(tags) else None)

        return flow

    def _stack_flow(self, in_tensors: list[Any], dim: int
                    ) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow]:
        indices = [i for i, t in enumerate(in_tensors) if self.tag_of(t) is not None]

        def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
            m = G.merge_tags(0, tags, len(out) - 1)
            fields = (*m.fields[:dim], None, *m.fields[dim:])
            return _Flow(fields, [G.back_stack(dim, i) for i in indices], m.whole, m.lost)

        return flow

    def _reduce_flow(self, args: tuple[Any, ...], kwargs: dict[str, Any]
                     ) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow]:
        dims_arg = kwargs.get("dim", args[1] if len(args) > 1 else None)

        def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
            rank = len(shapes[0])
            if dims_arg is None:
                dims = set(range(rank))
            else:
                raw = dims_arg if isinstance(dims_arg, list | tuple) else [dims_arg]
                dims = {int(d) % rank for d in raw}
            if any(tags[0].fields[d] is not None for d in dims if d < len(tags[0].fields)):
                # each output element sums the reduced dims of its own index in the others
                kept = ([d if d not in dims else -1 for d in range(rank)]
                        if len(out) == rank else [d for d in range(rank) if d not in dims])
                return _flow_whole(tags[:1], len(out), [G.back_permute(kept)])
            return _flow_keep(tags[0], _keep_order(shapes[0], out))

        return flow

    # -- result
    def done(self) -> tuple[list[Row], list[Spec | None], dict[int, int], list[Row]]:
        """(work rows, their specs, slot → row index, container rows). A container's index
        is the index of the first work row after it (where the tree shows it)."""
        index: dict[int, int] = {}
        specs: list[Spec | None] = []
        for slot, (row, spec) in enumerate(zip(self.rows, self.specs, strict=True)):
            if row is not None and row.kind != "container":
                index[slot] = len(specs)
                specs.append(spec)
        rows: list[Row] = []
        containers: list[Row] = []
        for slot, row in enumerate(self.rows):
            if row is None:
                continue
            if row.kind == "container":
                end = self.ends.get(slot, slot)
                containers.append(Row(**{**row.__dict__, "index": sum(
                    1 for s in index if s < slot), "mult_adds": sum(
                    r.mult_adds for r in self.rows[slot + 1:end]
                    if r is not None and r.kind != "container")}))
                continue
            rows.append(Row(**{**row.__dict__, "index": index[slot], "sources": tuple(
                index.get(s, s) if s >= 0 else s for s in row.sources)}))
        nodes = {}
        for slot, node in self.graph.nodes.items():
            if slot in index:
                node.sources = [(index.get(s, s) if s >= 0 else s, sh, b)
                                for s, sh, b in node.sources]
                nodes[index[slot]] = node
        self.graph.nodes = nodes
        return rows, specs, index, containers


_SINGLE_SPECS = (ConvSpec, PoolSpec, AdaptivePoolSpec, LinearSpec, FlattenSpec, ReshapeSpec,
                 UnflattenSpec, PadSpec, SameShapeSpec)


def _split_pieces(display: str, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                  shape: Shape, outs: Sequence[Any]) -> list[tuple[int, int, bool]] | None:
    """Where each output of a split-like op sits in its input: ``(dim, offset, removed)``
    per output (``removed``: the dim is indexed away). ``None`` when the call does not
    read as expected (the piece is then treated as an unknown op's output)."""
    op = display.split(".", 1)[1]
    rank = len(shape)
    try:
        if op in ("narrow", "select"):
            dim = int(kwargs.get("dim", args[1] if len(args) > 1 else 0)) % rank
            at = int(kwargs.get("start" if op == "narrow" else "index", args[2]))
            return [(dim, at % shape[dim], op == "select")]
        pos = 2 if op in ("chunk", "split", "tensor_split") else 1
        dim = int(kwargs.get("dim", args[pos] if len(args) > pos else 0)) % rank
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if op == "unbind":
        return [(dim, k, True) for k in range(len(outs))] if len(outs) == shape[dim] else None
    pieces: list[tuple[int, int, bool]] = []
    offset = 0
    for t in outs:  # consecutive pieces along dim
        if len(t.shape) != rank:
            return None
        pieces.append((dim, offset, False))
        offset += int(t.shape[dim])
    return pieces if offset == shape[dim] else None


def _reorder_maps(display: str, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                  shape: Shape) -> dict[int, Callable[[G.Interval], G.Interval]] | None:
    """Per reordered dim, the map from a result interval to the hull it reads: ``flip``
    mirrors it, ``roll`` shifts it back (wrapping). ``None``: a roll of the flattened
    tensor, or a call that does not read as expected."""
    rank = len(shape)

    def ints(value: Any) -> list[int]:
        return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)]

    try:
        if display.endswith("flip"):
            dims = ints(kwargs["dims"] if "dims" in kwargs else
                        args[1] if len(args) == 2 else list(args[1:]))
            return {d % rank: _mirror(shape[d % rank]) for d in dims}
        shifts = ints(kwargs.get("shifts", args[1] if len(args) > 1 else 0))
        raw = kwargs.get("dims", args[2] if len(args) > 2 else None)
        if raw is None:
            return None
        dims = ints(raw)
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    if len(dims) != len(shifts):
        return None
    maps: dict[int, Callable[[G.Interval], G.Interval]] = {}
    for d, k in zip(dims, shifts, strict=True):
        n = shape[d % rank]
        maps[d % rank] = _rolled(n, k)
    return maps


def _mixed_maps(display: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], shape: Shape
                ) -> tuple[dict[int, Callable[[G.Interval], G.Interval]], bool] | None:
    """Per mixed dim of a :data:`_MIXERS` call, the map from a result interval to the
    indices it reads, and whether every element reads the same (the whole dim: an exact
    field) or not (a cumulative op: a bound). ``None``: a call that does not read as
    expected (softmax without ``dim``)."""
    rank = len(shape)
    op = display.split(".", 1)[1]
    try:
        if op == "layer_norm":
            dims = list(range(rank - len(tuple(kwargs.get("normalized_shape", args[1]))),
                              rank))
        elif op == "instance_norm":
            dims = list(range(2, rank))  # per sample and channel, over every position
        else:
            default = 1 if op == "normalize" else None
            raw = kwargs.get("dim", args[2 if op == "normalize" else 1]
                             if len(args) > (2 if op == "normalize" else 1) else default)
            if raw is None:
                return None
            dims = [int(raw) % rank]
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    if op.startswith("cum") or op == "logcumsumexp":
        return {d: _cumulative for d in dims}, False
    return {d: _whole_dim(shape[d]) for d in dims}, True


def _whole_dim(n: int) -> Callable[[G.Interval], G.Interval]:
    def read(iv: G.Interval) -> G.Interval:
        return (0, n - 1)

    return read


def _cumulative(iv: G.Interval) -> G.Interval:
    return (0, iv[1])


def _mirror(n: int) -> Callable[[G.Interval], G.Interval]:
    def read(iv: G.Interval) -> G.Interval:
        return (n - 1 - iv[1], n - 1 - iv[0])

    return read


def _rolled(n: int, shift: int) -> Callable[[G.Interval], G.Interval]:
    def read(iv: G.Interval) -> G.Interval:
        return G.wrap((iv[0] - shift, iv[1] - shift), n)

    return read


def _pixel_flow(factor: int, unshuffle: bool
                ) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow]:
    """``pixel_shuffle`` by ``r`` moves channels into space: each output sees one input
    pixel and neighbours are ``1/r`` input pixels apart; ``pixel_unshuffle`` is a window of
    ``r`` with stride ``r`` (over all its channels)."""

    def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
        tag = tags[0]
        fields = list(tag.fields)
        for d in (-2, -1):
            f = fields[d]
            if f is not None:
                fields[d] = (f.window(factor, factor, 1, 0) if unshuffle else
                             G.AxisField(f.size, f.jump / factor, f.start, f.axis, exact=False))
        back = G.back_pixel_unshuffle(factor) if unshuffle else G.back_pixel_shuffle(factor)
        return _Flow(tuple(fields), [back], tag.whole, tag.lost)

    return flow


def _getitem_flow(index: Any) -> Callable[[list[G.Tag], list[Shape], Shape], _Flow] | None:
    """Basic indexing (ints, slices, ``...``): a slice keeps its dim's field, shifted by its
    start and scaled by its step; an int removes the dim. Anything else: generic."""
    items = index if isinstance(index, tuple) else (index,)
    if not all(isinstance(i, int | slice) or i is Ellipsis for i in items) or sum(
            i is Ellipsis for i in items) > 1:
        return None

    def flow(tags: list[G.Tag], shapes: list[Shape], out: Shape) -> _Flow:
        shape, tag = shapes[0], tags[0]
        n_ell = len(shape) - (len(items) - (Ellipsis in items))
        full: list[Any] = []
        for it in items:
            full.extend([slice(None)] * n_ell if it is Ellipsis else [it])
        full.extend([slice(None)] * (len(shape) - len(full)))
        fields: list[G.AxisField | None] = []
        plan: list[tuple[int, int, int]] = []  # (source dim, start, step) per output dim
        fixed: dict[int, int] = {}
        for d, it in enumerate(full):
            if isinstance(it, int):
                fixed[d] = it % shape[d]
                continue
            start, _, step = it.indices(shape[d])
            f = tag.fields[d]
            fields.append(None if f is None else G.AxisField(
                f.size, f.jump * step, f.start + start * f.jump, f.axis, f.exact))
            plan.append((d, start, step))
        lost = tag.lost or any(tag.fields[d] is not None for d in fixed)

        def back(box: G.Box, src: Shape) -> G.Box | None:
            res: list[G.Interval] = [(0, n - 1) for n in src]
            for d, i in fixed.items():
                res[d] = (i, i)
            for (lo, hi), (d, start, step) in zip(box, plan, strict=True):
                res[d] = (start + lo * step, start + hi * step)
            return tuple(res)

        return _Flow(tuple(fields), [back], tag.whole, lost)

    return flow


def _index_text(index: Any) -> str:
    items = index if isinstance(index, tuple) else (index,)
    parts = []
    for it in items:
        if isinstance(it, slice):
            a = "" if it.start is None else str(it.start)
            b = "" if it.stop is None else str(it.stop)
            parts.append(f"{a}:{b}" + (f":{it.step}" if it.step is not None else ""))
        elif it is None:
            parts.append("None")
        elif it is Ellipsis:
            parts.append("...")
        elif hasattr(it, "shape"):
            parts.append(f"<index {fmt_shape(tuple(it.shape))}>")
        else:
            parts.append(str(it))
    return ", ".join(parts)


def _make_mode(recorder: _Recorder) -> Any:
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None,
        ) -> Any:
            return recorder.call(func, args, kwargs or {})

    return _Mode()


# ----------------------------------------------------------------------------- inputs
DTYPES = {"float": "float32", "float32": "float32", "float64": "float64", "double": "float64",
          "half": "float16", "float16": "float16", "bfloat16": "bfloat16", "long": "int64",
          "int64": "int64", "int": "int32", "int32": "int32", "bool": "bool"}


def _forward_names(model: nn.Module) -> list[str]:
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _resolve_dtype(value: Any, what: str) -> Any:
    import torch

    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, str) and value.lower().replace("torch.", "") in DTYPES:
        return getattr(torch, DTYPES[value.lower().replace("torch.", "")])
    raise ValueError(f"{what} must be a torch dtype or one of {', '.join(sorted(DTYPES))}, "
                     f"got {value!r}")


@dataclass
class _Inputs:
    args: list[Any]
    kwargs: dict[str, Any]
    infos: list[InputInfo]
    tensors: list[Any]


def _prepare_inputs(model: nn.Module, input_size: Any, input_data: Any, dtypes: Any,
                    float_dtype: Any, device: Any) -> _Inputs:
    """Turn what the user gave (shapes + dtypes, or tensors) into call arguments."""
    import torch

    names = _forward_names(model)
    if input_data is not None:
        if isinstance(input_data, torch.Tensor):
            items: list[tuple[str | None, Any]] = [(None, input_data)]
        elif isinstance(input_data, Mapping):
            items = [(str(k), v) for k, v in input_data.items()]
        elif isinstance(input_data, list | tuple):
            items = [(None, v) for v in input_data]
        else:
            raise ValueError(f"input_data must be a tensor, a tuple/list of tensors or a dict "
                             f"of them, got {type(input_data).__name__}")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        infos: list[InputInfo] = []
        tensors: list[Any] = []
        for i, (key, v) in enumerate(items):
            name = key or (names[i] if i < len(names) else f"input{i}")
            if key is None:
                args.append(v)
            else:
                kwargs[key] = v
            if isinstance(v, torch.Tensor):
                infos.append(InputInfo(name, tuple(int(d) for d in v.shape),
                                       _dtype_name(v.dtype)))
                tensors.append(v)
        return _Inputs(args, kwargs, infos, tensors)
    if input_size is None:
        raise ValueError("trace needs input_size (e.g. (64, 1, 28, 28)) or input_data "
                         "(a tensor, a tuple or a dict of tensors)")
    if isinstance(input_size, Mapping):
        sizes: list[tuple[str | None, Shape]] = [
            (str(k), _check_input_shape(v, f"input_size[{k!r}]"))
            for k, v in input_size.items()]
    elif (isinstance(input_size, Sequence) and not isinstance(input_size, str | bytes)
          and input_size and all(isinstance(v, Sequence) and not isinstance(v, str)
                                 for v in input_size)):
        sizes = [(None, _check_input_shape(v, f"input_size[{i}]"))
                 for i, v in enumerate(input_size)]
    else:
        sizes = [(None, _check_input_shape(input_size))]
    if dtypes is None:
        dtype_list: list[Any] = [None] * len(sizes)
    elif isinstance(dtypes, Mapping):
        dtype_list = [dtypes.get(k) if k is not None else None for k, _ in sizes]
    elif isinstance(dtypes, list | tuple):
        if len(dtypes) != len(sizes):
            raise ValueError(f"dtypes must give one dtype per input: {len(sizes)} input(s), "
                             f"got {len(dtypes)} dtypes")
        dtype_list = list(dtypes)
    else:
        dtype_list = [dtypes] * len(sizes)
    args, kwargs, infos, tensors = [], {}, [], []
    for i, ((key, shape), dt) in enumerate(zip(sizes, dtype_list, strict=True)):
        name = key or (names[i] if i < len(names) else f"input{i}")
        dtype = _resolve_dtype(dt, "dtype") if dt is not None else float_dtype
        # ids are zeros (valid for any embedding); masks are ones (nothing masked out)
        fill = 1 if "mask" in name and not dtype.is_floating_point else 0
        _check_input_memory(name, shape, dtype, device)
        x = torch.full(shape, fill, dtype=dtype, device=device)
        if key is None:
            args.append(x)
        else:
            kwargs[key] = x
        infos.append(InputInfo(name, shape, _dtype_name(dtype)))
        tensors.append(x)
    return _Inputs(args, kwargs, infos, tensors)


def _hook_trace(model: nn.Module, inputs_spec: tuple[Any, Any, Any], mode: TraceMode,
                label: str) -> Trace:
    import torch

    graph = G.Graph()
    recorder = _Recorder(model, graph)
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    float_dtype = first.dtype if first is not None and first.is_floating_point() \
        else torch.float32
    device = torch.device("meta") if mode == "meta" else (
        first.device if first is not None else torch.device("cpu"))
    inputs = _prepare_inputs(model, *inputs_spec, float_dtype, device)
    if mode == "meta":
        inputs.args = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in inputs.args]
        inputs.kwargs = {k: v.to("meta") if isinstance(v, torch.Tensor) else v
                         for k, v in inputs.kwargs.items()}
        inputs.tensors = _tensors((inputs.args, inputs.kwargs))
    for k, (t, info) in enumerate(zip(inputs.tensors, inputs.infos, strict=False)):
        node = -1 - k
        graph.inputs[node] = (info.name, info.shape)
        t.__dict__[TAG] = G.input_tag(node, info.name, info.shape,
                                      not t.dtype.is_floating_point)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(recorder.pre, with_kwargs=True))
        handles.append(module.register_forward_hook(recorder.post, with_kwargs=True))
    training = {id(m): m.training for m in model.modules()}
    model.eval()
    output: Any = None
    error: Exception | None = None
    try:
        with torch.no_grad(), _make_mode(recorder):
            if mode == "meta":
                from torch.func import functional_call

                tensors: dict[str, torch.Tensor] = {
                    n: torch.empty_like(t, device="meta")
                    for n, t in itertools.chain(model.named_parameters(), model.named_buffers())
                }
                output = functional_call(model, tensors, tuple(inputs.args), inputs.kwargs)
            else:
                output = model(*inputs.args, **inputs.kwargs)
    except Exception as exc:
        error = exc
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = training.get(id(m), m.training)
    open_frames = list(recorder.stack)
    for frame in open_frames:  # the containers the failure happened in stay in the tree
        if frame.container and frame.slot is not None:
            recorder.rows[frame.slot] = Row(
                index=frame.slot, name=frame.name, type=type(frame.module).__name__,
                kind="container", depth=frame.depth, input_shape=None, output_shape=None,
                params=_param_count(frame.module), notes=("fails inside",))
            recorder.ends[frame.slot] = len(recorder.rows)
    rows, specs, index, containers = recorder.done()
    shape = inputs.infos[0].shape if inputs.infos else ()
    failure = None
    try:
        if error is not None:  # while the inputs still say they are the model's inputs
            failure = _failure_from_error(model, recorder, open_frames, rows, specs, index,
                                          error, shape, inputs)
    finally:
        for t in inputs.tensors:
            t.__dict__.pop(TAG, None)
    params = list(model.parameters())
    return Trace(
        model=label, input_shape=shape, mode=mode, rows=tuple(rows),
        containers=tuple(containers),
        output_shape=_first_shape(output) if error is None else None, failure=failure,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        warnings=tuple(dict.fromkeys(recorder.warnings)), inputs=tuple(inputs.infos),
        input_bytes=sum(t.numel() * t.element_size() for t in inputs.tensors),
        forward_backward_bytes=2 * sum(r.output_bytes for r in rows
                                       if r.kind == "module" and r.params > 0),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        graph=graph,
    )


def _specs_after(model: nn.Module, layer: str) -> list[Spec]:
    """Specs of the layers after ``layer`` when the model is a plain Sequential tree."""
    leaves = _sequential_leaves(model)
    if leaves is None:
        return []
    names = [name for name, _, _ in leaves]
    if layer not in names:
        return []
    return [s for _, m, _ in leaves[names.index(layer) + 1 :] if (s := spec_of(m)) is not None]


def _producers(rows: list[Row], index: dict[int, int], tags: Sequence[G.Tag | None],
               inputs: _Inputs) -> list[str]:
    out = []
    for tag in tags:
        if tag is None:
            out.append("a constant or parameter")
        elif tag.node < 0:
            k = -1 - tag.node
            out.append(f"the model's input '{inputs.infos[k].name}'" if k < len(inputs.infos)
                       else "the model's input")
        else:
            i = index.get(tag.node)
            name = f"{rows[i].name} ({rows[i].type})" if i is not None else "an earlier op"
            # a piece (chunk, split...) is not the producer's whole output
            out.append(f"{name} → {tag.piece}" if tag.piece else name)
    return out


def _failure_from_error(
    model: nn.Module, recorder: _Recorder, frames: list[_Frame], rows: list[Row],
    specs: list[Spec | None], index: dict[int, int], error: Exception, shape: Shape,
    inputs: _Inputs,
) -> Any:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    layers, layer_specs = rows, specs
    call = recorder.failed
    if call is not None and call.stack_len == len(frames):
        producers = _producers(rows, index, call.tags, inputs)
        if isinstance(call.spec, BroadcastRule | CatRule | StackRule | MatmulRule | EinsumRule
                      | AttentionRule):
            return diagnose_merge(layers, name=call.name, op=call.type, rule=call.spec,
                                  shapes=call.shapes, producers=producers, error=message,
                                  tensors=call.tensors, args=call.args, kwargs=call.kwargs,
                                  model_input=shape)
        return diagnose(
            layers, layer_specs, layer=call.name, layer_type=call.type,
            spec=call.spec if isinstance(call.spec, _SINGLE_SPECS) else None,
            input_shape=call.shapes[0] if call.shapes else None,
            error=message, model_input=shape, producers=producers,
        )
    inner = next((f for f in reversed(frames) if f.record), None) or (
        frames[-1] if frames else None
    )
    if inner is None:
        return diagnose(layers, layer_specs, layer=recorder.root, layer_type=recorder.root,
                        spec=None, input_shape=shape, error=message, model_input=shape)
    in_shapes = [tuple(int(v) for v in t.shape) for t in inner.in_tensors]
    producers = _producers(rows, index, [recorder.tag_of(t) for t in inner.in_tensors], inputs)
    spec = inner.spec
    after = _specs_after(model, inner.name) if isinstance(spec, _SINGLE_SPECS) else []
    return diagnose(
        layers, layer_specs, layer=inner.name, layer_type=type(inner.module).__name__,
        spec=spec, input_shape=in_shapes[0] if in_shapes else None, error=message,
        model_input=shape, after=after, producers=producers, module=inner.module,
        in_tensors=inner.in_tensors, call=inner.call, absent=_absent_inputs(model, inputs),
    )


def _absent_inputs(model: nn.Module, inputs: _Inputs) -> list[str]:
    """The ``forward`` parameters that default to ``None`` and were not given."""
    given = {i.name for i in inputs.infos}
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is None and p.name not in given]


def _sequential_leaves(model: nn.Module) -> list[tuple[str, nn.Module, int]] | None:
    """The leaves of a tree of plain ``nn.Sequential`` whose leaves are all known, in order."""
    from torch import nn

    out: list[tuple[str, nn.Module, int]] = []

    def walk_named(module: nn.Module, prefix: str, depth: int) -> bool:
        if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            return all(
                walk_named(child, f"{prefix}.{child_name}" if prefix else child_name, depth + 1)
                for child_name, child in module.named_children()
            )
        if spec_of(module) is None:
            return False
        out.append((prefix or type(module).__name__, module, max(depth - 1, 0)))
        return True

    return out if walk_named(model, "", 0) else None


def _static_trace(model: nn.Module, shape: Shape, label: str) -> Trace | None:
    leaves = _sequential_leaves(model)
    if leaves is None:
        return None
    graph = G.Graph()
    graph.inputs[-1] = ("input", shape)
    tag = G.input_tag(-1, "input", shape, False)
    rows: list[Row] = []
    specs: list[Spec | None] = []
    warnings: list[str] = []
    current = shape
    failure = None
    for i, (name, module, depth) in enumerate(leaves):
        spec = spec_of(module)
        assert spec is not None  # _sequential_leaves only returns known layers
        try:
            ls = spec.apply(current)
        except LayerShapeError as err:
            failure = diagnose(rows, specs, layer=name, layer_type=type(module).__name__,
                               spec=spec, input_shape=current, error=str(err),
                               model_input=shape,
                               after=[s for _, m, _ in leaves[i + 1 :] if (s := spec_of(m))],
                               producers=[f"{rows[-1].name} ({rows[-1].type})" if rows
                                          else "the model's input 'input'"])
            failure = dataclasses.replace(failure, source="convrec (static)")
            break
        out = ls.output_shape
        flow = _spec_flow(spec, [tag], [current], out)
        node = G.Node(name, out, [(tag.node, current, flow.backs[0])])
        graph.nodes[i] = node
        tag = G.Tag(i, flow.fields, flow.whole, flow.lost)
        sizes, jumps, note = G.describe_fields(tag)
        warnings.extend(f"{name}: {n}" for n in ls.notes)
        macs, macs_formula = _torchinfo_macs(module, out)
        rows.append(Row(
            index=i, name=name, type=type(module).__name__, kind="module", depth=depth,
            input_shape=current, output_shape=out, explanations=ls.explanations,
            formulas=ls.formulas, params=_param_count(module), mult_adds=macs,
            mult_adds_formula=macs_formula, receptive_field=sizes, jump=jumps, rf_note=note,
            notes=ls.notes, sources=(i - 1,) if i else (-1,),
            kernel_shape=tuple(getattr(spec, "kernel", ()) or ()),
        ))
        specs.append(spec)
        current = out
    params = list(model.parameters())
    return Trace(
        model=label, input_shape=shape, mode="static", rows=tuple(rows),
        output_shape=None if failure else current, failure=failure,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        warnings=tuple(dict.fromkeys(warnings)),
        inputs=(InputInfo("input", shape, "float32"),),
        param_bytes=sum(p.numel() * p.element_size() for p in params), graph=graph,
    )


def trace(
    model: nn.Module,
    input_size: Any = None,
    *,
    input_data: Any = None,
    dtypes: Any = None,
    run: bool = True,
    name: str | None = None,
) -> Trace:
    """Trace ``model`` on an input and explain every shape, merge and receptive field.

    Args:
        model: any ``torch.nn.Module``.
        input_size: e.g. ``(64, 1, 28, 28)`` for a batch of 64 MNIST digits ``(N, C, H, W)``;
            a list of shapes for several positional inputs, or a dict ``{name: shape}`` for
            keyword inputs (``{"input_ids": (2, 16), "attention_mask": (2, 16)}``).
        input_data: instead of ``input_size``: a tensor, a tuple/list of tensors (positional)
            or a dict of tensors (keywords), used as they are.
        dtypes: with ``input_size``: one dtype for every input, a list (one per input) or a
            dict by name; ``torch.long`` / ``"long"`` inputs are token ids (zeros, valid for
            any embedding; an input whose name contains ``mask`` is ones). Default: the
            model's parameter dtype.
        run: ``True`` runs one forward pass (eval mode, no grad, state restored).
            ``False`` runs none: an ``nn.Sequential`` of known layers is computed from the
            formulas alone; any other model runs on meta tensors (shapes only).
        name: how to call the model in the output (default: its class name).

    Returns:
        A :class:`Trace`: one :class:`Row` per layer or op (input/output shape, the worked
        formulas, params, multiply-adds, receptive field, which rows it consumed) and, if the
        model fails on this input, a :class:`Failure` explaining why and what would fit.

    Raises:
        ValueError: if the input is not a sequence of positive ints (or tensors), a dtype is
            unknown, or ``model`` is not an ``nn.Module``.

    Example:
        >>> from torch import nn
        >>> t = trace(nn.Conv2d(1, 4, 3), (64, 1, 28, 28))
        >>> t.rows[0].output_shape, str(t.rows[0].explanations[0])
        ((64, 4, 26, 26), '(28 + 2*0 - 3)//1 + 1 = 26')
        >>> t.rows[0].mult_adds  # torchinfo's count: (36 weights + 4 biases) * 64*26*26
        1730560
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if input_data is None:
        if input_size is None:
            raise ValueError("trace needs input_size (e.g. (64, 1, 28, 28)) or input_data "
                             "(a tensor, a tuple or a dict of tensors)")
        if not isinstance(input_size, Mapping) and (
                isinstance(input_size, str | bytes) or not isinstance(input_size, Sequence)):
            _check_input_shape(input_size)
    label = name or type(model).__name__
    single = (input_data is None and dtypes is None and isinstance(input_size, Sequence)
              and not isinstance(input_size, str | bytes)
              and all(isinstance(v, int) for v in input_size))
    if not run:
        if single:
            static = _static_trace(model, _check_input_shape(input_size), label)
            if static is not None:
                return static
        return _hook_trace(model, (input_size, input_data, dtypes), "meta", label)
    return _hook_trace(model, (input_size, input_data, dtypes), "run", label)
