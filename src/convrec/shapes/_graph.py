"""The dataflow graph of a trace, and receptive fields propagated along its edges.

Every tensor seen during a trace carries a :class:`Tag`: which node produced it (a row, or
one of the model's inputs) and, per tensor dimension, the :class:`AxisField` of that
dimension: how many input pixels one element sees (``size``), how far apart neighbouring
elements' fields are (``jump``) and where element 0's field starts (``start``, negative when
it begins in the padding). This is the algebra of Araujo, Norris and Sim, "Computing
Receptive Fields of Convolutional Neural Networks" (Distill, 2019), applied edge by edge:

- a window (conv, pool; dilation ``d``, padding ``p``):
  ``size += (d*(k-1))*jump``, ``start -= p*jump``, ``jump *= s``;
- a transposed convolution: one output sees at most ``floor((d*(k-1))/s) + 1`` inputs, so
  ``size += floor(d*(k-1)/s)*jump`` and ``jump /= s`` (a fraction of an input pixel);
- resizing (``F.interpolate``, ``nn.Upsample``, non-global adaptive pools): the same with
  the resize's window and ``jump *= n_in/n_out``;
- a merge (``+``, ``*``, ``torch.cat`` along another dimension): the union of the
  branches' fields, ``start = min(starts)``, ``end = max(ends)`` (branches that are
  misaligned, e.g. a shortcut that starts at another offset, widen the union);
- global pools, attention, matmuls and Linear layers over a spatial dimension: every output
  sees the whole input (``whole``).

The fields in the rows are the theoretical ones (they may exceed the input, as in the
paper). :meth:`Graph.receptive_box` answers the exact question for one output element:
it walks the graph *backwards* from that element, mapping index intervals through each
op (clipped to each tensor's size), and returns the box of input elements it depends on.
The tests check that box against input gradients for every convolution of real CNNs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

Shape = tuple[int, ...]
Interval = tuple[int, int]  # inclusive (lo, hi) indices along one dimension
Box = tuple[Interval, ...]  # one interval per tensor dimension
BackMap = Callable[[Box, Shape], Box | None]  # output box, source shape → source box


@dataclass(frozen=True)
class AxisField:
    """The receptive field along one dimension of a tensor, in pixels of one model input.

    Attributes:
        size: input pixels seen by one element (the hull over all elements; exact for
            convolutions and pools, an upper bound after transposed convs and resizes).
        jump: input pixels between neighbouring elements' fields (``1/2`` after a 2x
            upsampling of the input resolution).
        start: where element 0's field begins (``-p`` for a first conv with padding ``p``).
        axis: ``"x"`` (the input's name) and dimension, e.g. ``"x:3"`` for W of (N, C, H, W).
        exact: ``size`` is what an element sees (windows on an exact field); ``False``
            after a transposed conv, a resize or a pixel shuffle (their outputs see
            different amounts, or are not evenly spaced), where ``size`` is only a bound
            ("at most").
    """

    size: Fraction
    jump: Fraction
    start: Fraction
    axis: str
    exact: bool = True

    def window(self, kernel: int, stride: int, dilation: int, pad_before: int) -> AxisField:
        k_eff = dilation * (kernel - 1) + 1
        return AxisField(self.size + (k_eff - 1) * self.jump, self.jump * stride,
                         self.start - pad_before * self.jump, self.axis, self.exact)

    def transposed(self, kernel: int, stride: int, dilation: int, padding: int) -> AxisField:
        k_eff = dilation * (kernel - 1) + 1
        extra = (k_eff - 1) // stride  # a closed interval of length L holds <= floor(L)+1 ints
        return AxisField(self.size + extra * self.jump, self.jump / stride,
                         self.start + Fraction(padding - (k_eff - 1), stride) * self.jump,
                         self.axis, self.exact and stride == 1)

    def resize(self, n_in: int, n_out: int, window: int) -> AxisField:
        """Each output reads ``window`` neighbouring inputs around ``o*n_in/n_out``."""
        return AxisField(self.size + (window - 1) * self.jump,
                         self.jump * Fraction(n_in, n_out), self.start, self.axis, exact=False)

    def union(self, other: AxisField) -> AxisField:
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        # branches with other jumps drift apart along the axis: the hull is then a bound
        return AxisField(end - start, max(self.jump, other.jump), start, self.axis,
                         self.exact and other.exact and self.jump == other.jump)


@dataclass(frozen=True)
class Tag:
    """What the graph knows about one tensor.

    Attributes:
        node: the producing node (row slot, or ``-1 - k`` for the model's k-th input).
        fields: one :class:`AxisField` (or ``None``) per tensor dimension.
        whole: every element depends on the whole input (a global pool, attention, ...).
        lost: the spatial layout was reshaped away (a flatten, an unknown op).
        view: for a piece of the node's output taken without a row of its own (a
            ``chunk``, ``split``, ``unbind``, ``narrow`` or ``select``): maps an index box
            of this tensor to the box of the node's output it occupies; ``None`` when the
            tensor is the node's output itself.
    """

    node: int
    fields: tuple[AxisField | None, ...]
    whole: bool = False
    lost: bool = False
    view: Callable[[Box], Box] | None = field(default=None, compare=False)
    piece: str = ""  # how the piece was taken, e.g. "split(dim=1) piece 0" (for messages)

    @property
    def spatial(self) -> bool:
        return any(f is not None for f in self.fields)


def merge_tags(node: int, tags: Sequence[Tag], out_rank: int) -> Tag:
    """The tag of an element-wise result: fields aligned from the right and united."""
    fields: list[AxisField | None] = [None] * out_rank
    for tag in tags:
        offset = out_rank - len(tag.fields)
        for d, f in enumerate(tag.fields):
            if f is None or d + offset < 0:
                continue
            cur = fields[d + offset]
            fields[d + offset] = f if cur is None else cur.union(f)
    whole = any(t.whole for t in tags)
    return Tag(node, tuple(None if whole else f for f in fields), whole,
               any(t.lost for t in tags) and not whole)


def whole_tag(node: int, rank: int, tags: Sequence[Tag]) -> Tag:
    """The tag of an op that mixes the spatial dimensions: every element sees everything."""
    seen = any(t.spatial or t.whole or t.lost for t in tags)
    return Tag(node, (None,) * rank, whole=seen)


def keep_dims_tag(node: int, tag: Tag, keep: Sequence[int | None]) -> Tag:
    """Output dim ``i`` carries input dim ``keep[i]``'s field (``None``: no field); an input
    field that is not carried over was reshaped away (``lost``)."""
    fields = tuple(tag.fields[k] if k is not None and k < len(tag.fields) else None
                   for k in keep)
    carried = {k for k in keep if k is not None}
    dropped = any(f is not None and d not in carried for d, f in enumerate(tag.fields))
    return Tag(node, fields, tag.whole, tag.lost or dropped)


def slice_tag(tag: Tag, dim: int, offset: int, removed: bool, how: str = "") -> Tag:
    """The tag of the piece of a tensor that starts at ``offset`` along ``dim`` (a chunk,
    split or narrow; ``removed``: the dim is indexed away, as by ``unbind`` or ``select``).

    The piece keeps every other dim's field; along ``dim`` its element 0 is the tensor's
    element ``offset``, so the field's start moves by ``offset * jump`` (or, when the dim is
    removed, the field is reshaped away). Its view maps its boxes back onto the node's
    output through the tensor's own view.
    """
    fields = list(tag.fields)
    f = fields[dim] if dim < len(fields) else None
    lost = tag.lost
    if removed:
        fields.pop(dim)
        lost = lost or f is not None
    elif f is not None:
        fields[dim] = AxisField(f.size, f.jump, f.start + offset * f.jump, f.axis, f.exact)
    def place(box: Box) -> Box:
        if removed:
            return (*box[:dim], (offset, offset), *box[dim:])
        lo, hi = box[dim]
        return (*box[:dim], (lo + offset, hi + offset), *box[dim + 1:])

    return Tag(tag.node, tuple(fields), tag.whole, lost, _then_view(place, tag), how)


def remap_tag(tag: Tag, shape: Shape, maps: dict[int, Callable[[Interval], Interval]],
              exact: bool = False) -> Tag:
    """The tag of a same-shape reordering along some dims (``flip``, ``roll``) or of an op
    that mixes along them (``softmax``, ``cumsum``): ``maps`` takes an index interval of
    the result along dim ``d`` to the hull it reads. Element ``i`` then sees other
    elements' fields, so each such dim's field becomes the hull over all of them (start of
    element 0, size to the last one's end): a bound, or ``exact`` when every element reads
    the whole dim (a softmax)."""
    fields = list(tag.fields)
    for d in maps:
        f = fields[d]
        if f is not None:
            fields[d] = AxisField(f.size + (shape[d] - 1) * f.jump, f.jump, f.start, f.axis,
                                  exact=exact and f.exact)
    def place(box: Box) -> Box:
        return tuple(maps[d](iv) if d in maps else iv for d, iv in enumerate(box))

    return Tag(tag.node, tuple(fields), tag.whole, tag.lost, _then_view(place, tag))


def _then_view(place: Callable[[Box], Box], tag: Tag) -> Callable[[Box], Box]:
    """``place`` (a box of the new piece → a box of ``tag``'s tensor) followed by that
    tensor's own view onto its node's output."""
    prev = tag.view
    if prev is None:
        return place

    def view(box: Box) -> Box:
        return prev(place(box))

    return view


def through_view(back: BackMap, tag: Tag, shape: Shape) -> BackMap:
    """``back`` (an op's map from its output box to its input of ``shape``) followed by the
    input's view onto its node's output."""
    view = tag.view
    if view is None:
        return back

    def composed(box: Box, src: Shape) -> Box | None:
        mapped = back(box, shape)
        return None if mapped is None else view(mapped)

    return composed


# ----------------------------------------------------------------------------- backward maps
def _clip(iv: Interval, n: int) -> Interval | None:
    lo, hi = max(iv[0], 0), min(iv[1], n - 1)
    return (lo, hi) if lo <= hi else None


def full_box(shape: Shape) -> Box:
    return tuple((0, n - 1) for n in shape)


def back_full(box: Box, src: Shape) -> Box | None:
    """The op mixes everything: the whole source tensor."""
    return full_box(src)


def back_keep(dims: Sequence[int]) -> BackMap:
    """An op that mixes every dimension except ``dims`` (the batch, heads, the rows of a
    matmul), which output and source share by position: ``-1`` is the last dimension of
    each (so leading dims align from the right, as broadcasting does); a size-1 source dim
    is index 0 (broadcast)."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(full_box(src))
        for d in dims:
            if not (-len(src) <= d < len(src) and -len(box) <= d < len(box)):
                continue
            n = src[d]
            clipped = (0, 0) if n == 1 else _clip(box[d], n)
            if clipped is None:
                return None
            out[d] = clipped
        return tuple(out)

    return back


def back_letters(term: str, out_term: str) -> BackMap:
    """``torch.einsum``: a source dim named by a letter of the output is that output dim's
    interval; a summed letter (not in the output) is the whole dim."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(full_box(src))
        for d, letter in enumerate(term):
            i = out_term.find(letter)
            if i >= 0 and d < len(src):
                clipped = (0, 0) if src[d] == 1 else _clip(box[i], src[d])
                if clipped is None:
                    return None
                out[d] = clipped
        return tuple(out)

    return back


def back_group_norm(groups: int) -> BackMap:
    """GroupNorm on (N, C, ...): statistics over every position of the channel's group, of
    its own sample."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(full_box(src))
        out[0] = box[0]
        if len(src) > 1:
            out[1] = group_channels(box[1], groups, src[1], src[1])
        return tuple(out)

    return back


def back_recurrent(batch: int | None, time: int, causal: bool) -> BackMap:
    """An RNN over ``time``: step t reads every feature of steps 0..t of its own sample
    (``batch``; ``None`` unbatched), every step when it also runs backwards."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(full_box(src))
        if batch is not None:
            out[batch] = box[batch]
        if causal:
            out[time] = (0, min(box[time][1], src[time] - 1))
        return tuple(out)

    return back


def back_elementwise(box: Box, src: Shape) -> Box | None:
    """Broadcasting: dims aligned from the right; a size-1 source dim is index 0."""
    offset = len(box) - len(src)
    out: list[Interval] = []
    for d, n in enumerate(src):
        iv = box[d + offset] if d + offset >= 0 else (0, n - 1)
        clipped = (0, 0) if n == 1 else _clip(iv, n)
        if clipped is None:
            return None
        out.append(clipped)
    return tuple(out)


def back_permute(order: Sequence[int]) -> BackMap:
    """Output dim i is source dim ``order[i]`` (permute, transpose, squeeze, unsqueeze:
    ``-1`` marks a new size-1 output dim)."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(full_box(src))
        for i, d in enumerate(order):
            if d >= 0:
                out[d] = box[i]
        return tuple(out)

    return back


def wrap(iv: Interval, n: int) -> Interval:
    """The hull of ``iv``'s indices taken modulo ``n`` (circular padding, ``torch.roll``):
    an interval that crosses the edge holds both ends, so its hull is the whole axis."""
    lo, hi = iv
    if hi - lo + 1 >= n:
        return (0, n - 1)
    a, b = lo % n, hi % n
    return (a, b) if a <= b else (0, n - 1)


def padded_hull(iv: Interval, n: int, mode: str) -> Interval | None:
    """The input indices that padded positions ``iv`` read, as a hull (``None``: only
    zeros). ``mode`` as PyTorch names it: ``zeros``/``constant`` read nothing outside,
    ``replicate`` the edge, ``reflect`` the mirror image (without the edge), ``circular``
    the opposite edge."""
    lo, hi = iv
    if mode == "circular":
        return wrap(iv, n)
    if mode == "replicate":
        return (min(max(lo, 0), n - 1), max(min(hi, n - 1), 0))
    if mode == "reflect" and n > 1:
        seen = [abs(i) if i < 0 else 2 * (n - 1) - i if i > n - 1 else i
                for i in range(lo, hi + 1)]
        return (max(min(seen), 0), min(max(seen), n - 1))
    return _clip(iv, n)


def group_channels(iv: Interval, groups: int, out_channels: int, in_channels: int
                   ) -> Interval:
    """The input channels that output channels ``iv`` of a conv with ``groups`` read: each
    output channel reads only its own group's ``in_channels // groups`` (a depthwise conv,
    ``groups == in_channels``, one channel)."""
    if groups <= 1 or out_channels % groups or in_channels % groups:
        return (0, in_channels - 1)
    per_out, per_in = out_channels // groups, in_channels // groups
    return (iv[0] // per_out * per_in, (iv[1] // per_out + 1) * per_in - 1)


def back_window(nd: int, windows: Sequence[tuple[int, int, int, int]],
                mix_channels: bool, padding_mode: str = "zeros", groups: int = 1,
                out_channels: int = 0) -> BackMap:
    """Conv/pool over the last ``nd`` dims; ``windows`` = (kernel, stride, dilation,
    pad_before) per spatial dim. A conv reads every channel of its group
    (:func:`group_channels`); a window over the edge reads what its ``padding_mode`` puts
    there (:func:`padded_hull`)."""

    def back(box: Box, src: Shape) -> Box | None:
        lead = len(src) - nd
        out: list[Interval] = list(box[:lead])
        if mix_channels and lead >= 1:
            out[lead - 1] = group_channels(box[lead - 1], groups, out_channels, src[lead - 1])
        for (lo, hi), (k, s, d, p), n in zip(box[lead:], windows, src[lead:], strict=True):
            iv = (lo * s - p, hi * s - p + d * (k - 1))
            clipped = padded_hull(iv, n, padding_mode)
            if clipped is None:
                return None
            out.append(clipped)
        return tuple(out)

    return back


def back_transposed(nd: int, windows: Sequence[tuple[int, int, int, int]], groups: int = 1,
                    out_channels: int = 0) -> BackMap:
    """Transposed conv: output o gets input j when ``o = j*s - p + t*d`` for a tap t; an
    output channel reads its group's input channels (:func:`group_channels`)."""

    def one(lo: int, hi: int, k: int, s: int, d: int, p: int, n: int) -> Interval | None:
        js: list[int] = []
        # the extreme inputs come from the first and last s*d outputs of the interval
        outs = set(range(lo, min(hi, lo + s * d) + 1)) | set(range(max(lo, hi - s * d), hi + 1))
        for o in outs:
            for t in range(k):
                num = o + p - t * d
                if num % s == 0 and 0 <= num // s < n:
                    js.append(num // s)
        return (min(js), max(js)) if js else None

    def back(box: Box, src: Shape) -> Box | None:
        lead = len(src) - nd
        out: list[Interval] = list(box[:lead])
        if lead >= 1:
            out[lead - 1] = group_channels(box[lead - 1], groups, out_channels, src[lead - 1])
        for (lo, hi), (k, s, d, p), n in zip(box[lead:], windows, src[lead:], strict=True):
            iv = one(lo, hi, k, s, d, p, n)
            if iv is None:
                return None
            out.append(iv)
        return tuple(out)

    return back


def back_resize(nd: int, per_dim: Sequence[Callable[[int], Interval]]) -> BackMap:
    """Resizing over the last ``nd`` dims; ``per_dim[i](o)`` = inputs read by output o."""

    def back(box: Box, src: Shape) -> Box | None:
        lead = len(src) - nd
        out: list[Interval] = list(box[:lead])
        for (lo, hi), f, n in zip(box[lead:], per_dim, src[lead:], strict=True):
            a, b = f(lo), f(hi)
            clipped = _clip((a[0], b[1]), n)
            if clipped is None:
                return None
            out.append(clipped)
        return tuple(out)

    return back


def adaptive_window(n_in: int, n_out: int) -> Callable[[int], Interval]:
    return lambda o: (o * n_in // n_out, -(-(o + 1) * n_in // n_out) - 1)


def nearest_window(n_in: int, n_out: int, scale: float | None) -> Callable[[int], Interval]:
    ratio = 1.0 / scale if scale else n_in / n_out

    def f(o: int) -> Interval:
        i = min(math.floor(o * ratio), n_in - 1)
        return (i, i)

    return f


def linear_window(n_in: int, n_out: int, scale: float | None,
                  align_corners: bool) -> Callable[[int], Interval]:
    """(bi/tri)linear interpolation: the two inputs around the source coordinate."""
    if align_corners:
        ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        ratio = 1.0 / scale if scale else n_in / n_out

    def f(o: int) -> Interval:
        src = o * ratio if align_corners else max((o + 0.5) * ratio - 0.5, 0.0)
        i0 = min(math.floor(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1) if src - i0 > 1e-12 else i0
        return (i0, i1)

    return f


def back_pixel_shuffle(factor: int) -> BackMap:
    """``pixel_shuffle`` by ``r``: output ``(c, h, w)`` is input ``(c*r² + (h%r)*r + w%r,
    h//r, w//r)`` over the last three dims."""

    def back(box: Box, src: Shape) -> Box | None:
        (c_lo, c_hi), (h_lo, h_hi), (w_lo, w_hi) = box[-3:]
        r2 = factor * factor
        return (*box[:-3], (c_lo * r2, min((c_hi + 1) * r2, src[-3]) - 1),
                (h_lo // factor, h_hi // factor), (w_lo // factor, w_hi // factor))

    return back


def back_pixel_unshuffle(factor: int) -> BackMap:
    """``pixel_unshuffle`` by ``r``: output ``(c*r² + i*r + j, h, w)`` is input ``(c,
    h*r + i, w*r + j)``: the channel box says which sub-positions ``(i, j)`` are read."""

    def back(box: Box, src: Shape) -> Box | None:
        (c_lo, c_hi), (h_lo, h_hi), (w_lo, w_hi) = box[-3:]
        r2 = factor * factor
        i_lo, i_hi, j_lo, j_hi = 0, factor - 1, 0, factor - 1
        if c_lo // r2 == c_hi // r2:  # one input channel: only some sub-positions
            s_lo, s_hi = c_lo % r2, c_hi % r2
            i_lo, i_hi = s_lo // factor, s_hi // factor
            if i_lo == i_hi:
                j_lo, j_hi = s_lo % factor, s_hi % factor
        return (*box[:-3], (c_lo // r2, c_hi // r2),
                (h_lo * factor + i_lo, h_hi * factor + i_hi),
                (w_lo * factor + j_lo, w_hi * factor + j_hi))

    return back


def back_cat(dim: int, offset: int) -> BackMap:
    """The source occupies ``[offset, offset + n)`` along ``dim`` of the output."""

    def back(box: Box, src: Shape) -> Box | None:
        out = list(box)
        lo, hi = box[dim]
        clipped = _clip((lo - offset, hi - offset), src[dim])
        if clipped is None:
            return None
        out[dim] = clipped
        return tuple(out)

    return back


def back_stack(dim: int, index: int) -> BackMap:
    def back(box: Box, src: Shape) -> Box | None:
        lo, hi = box[dim]
        if not lo <= index <= hi:
            return None
        return tuple(iv for d, iv in enumerate(box) if d != dim)

    return back


@dataclass
class Node:
    """One op of the graph: its sources (node ids) and how an output box maps back to each."""

    name: str
    shape: Shape | None
    sources: list[tuple[int, Shape, BackMap]] = field(default_factory=list)


@dataclass
class Graph:
    """Nodes by id: row slots ``>= 0``, model inputs ``-1, -2, ...`` (``inputs`` holds
    their names and shapes)."""

    nodes: dict[int, Node] = field(default_factory=dict)
    inputs: dict[int, tuple[str, Shape]] = field(default_factory=dict)

    def receptive_box(self, node: int, element: Sequence[int] | None = None
                      ) -> dict[str, Box]:
        """The input elements that output ``element`` of ``node`` depends on.

        Args:
            node: the node (row slot) id.
            element: an index per output dimension; default: sample 0, every channel
                (dim 1), the centre of every further dimension.

        Returns:
            For each model input reached, a box: one inclusive ``(lo, hi)`` per dimension.
        """
        shape = self.nodes[node].shape
        if shape is None:
            return {}
        if element is None:
            box: Box = tuple(
                (0, 0) if d == 0 else (0, n - 1) if d == 1 else ((n - 1) // 2, (n - 1) // 2)
                for d, n in enumerate(shape)
            )
        else:
            box = tuple((int(i), int(i)) for i in element)
        pending: dict[int, Box] = {node: box}
        found: dict[str, Box] = {}
        # ids only grow along the graph, so processing the highest id first visits every
        # node after all of its consumers (a topological order)
        while pending:
            nid = max(pending)
            box = pending.pop(nid)
            if nid < 0:
                name = self.inputs[nid][0]
                found[name] = _hull(found.get(name), box)
                continue
            for src, src_shape, back in self.nodes[nid].sources:
                mapped = back(box, src_shape)
                if mapped is not None:
                    pending[src] = _hull(pending.get(src), mapped)
        return found


def _hull(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return tuple((min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b, strict=True))


def fmt_fraction(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/" \
        f"{value.denominator}"


def describe_fields(tag: Tag | None) -> tuple[tuple[int, ...] | None, tuple[Fraction, ...] | None,
                                              str]:
    """(sizes, jumps, note) for a row: the spatial fields (note ``"at most"`` when one of
    them is only a bound), or ``"whole input"``."""
    if tag is None:
        return None, None, ""
    if tag.whole:
        return None, None, "whole input"
    fields = [f for f in tag.fields if f is not None]
    if not fields:
        return None, None, ""
    sizes = tuple(math.ceil(f.size) for f in fields)
    return sizes, tuple(f.jump for f in fields), "" if all(f.exact for f in fields) else "at most"


def input_tag(node: int, name: str, shape: Shape, integer: bool) -> Tag:
    """Spatial dims of a model input: dims 2.. of (N, C, ...) float data; dim 1 of a 2-D
    input (a sequence of ids, or of audio samples)."""
    rank = len(shape)
    spatial = range(1, 2) if rank == 2 else range(2, rank) if rank >= 3 else range(0)
    if integer and rank >= 3:
        spatial = range(0)
    fields = tuple(
        AxisField(Fraction(1), Fraction(1), Fraction(0), f"{name}:{d}") if d in spatial else None
        for d in range(rank)
    )
    return Tag(node, fields)


def any_tag(value: Any) -> bool:
    return isinstance(value, Tag)
