"""Shape rules of the ops that combine or rearrange tensors, with the user's numbers.

One rule per op family: broadcasting (``+``, ``*``, ``torch.add``, ...), ``torch.cat`` /
``torch.stack``, ``matmul`` / ``@`` / ``bmm`` / ``einsum``, ``permute`` / ``transpose`` /
``squeeze`` / ``unsqueeze``, ``F.interpolate``, ``nn.Embedding``, ``nn.LSTM`` / ``GRU``,
``nn.MultiheadAttention`` and ``F.scaled_dot_product_attention``. Each rule takes the shapes
that reached the op and returns a :class:`~convrec.shapes._specs.LayerShape` (the formulas),
or raises :class:`~convrec.shapes._specs.LayerShapeError` naming the rule that is broken,
the same cause PyTorch fails on. Pure Python: no torch here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from convrec.shapes._specs import LayerShape, LayerShapeError, Shape, _fmt


def _norm(dim: int, rank: int, label: str) -> int:
    if not -rank <= dim < rank:
        raise LayerShapeError("rank", f"{label}: dim={dim} is out of range for a {rank}-D "
                              f"input (allowed {-rank} to {rank - 1})")
    return dim % rank


# ----------------------------------------------------------------------------- broadcasting
@dataclass(frozen=True)
class BroadcastRule:
    """Element-wise ops of several tensors: shapes are aligned from the right and each
    dimension must be equal or 1."""

    label: str = "add"

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        rank = max(len(s) for s in shapes)
        padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
        out: list[int] = []
        steps: list[str] = []
        for d in range(rank):
            sizes = [s[d] for s in padded]
            big = {v for v in sizes if v != 1}
            if len(big) > 1:
                a, b = shapes[0], shapes[1] if len(shapes) > 1 else shapes[0]
                raise LayerShapeError(
                    "broadcast",
                    f"{self.label}: {_fmt(a)} and {_fmt(b)} do not broadcast: dimension {d} "
                    f"is {' vs '.join(str(v) for v in sizes)} (each dimension must be equal "
                    f"or 1, aligned from the right)",
                    expected=sizes[0], got=sizes[1] if len(sizes) > 1 else sizes[0],
                )
            n = big.pop() if big else 1
            out.append(n)
            if len(set(sizes)) > 1:
                steps.append(f"dim {d}: {' vs '.join(str(v) for v in sizes)} → {n}")
        text = " ⊕ ".join(_fmt(s) for s in shapes) + f" → {_fmt(tuple(out))}"
        if steps:
            text += " (broadcast " + "; ".join(steps) + ")"
        return LayerShape(output_shape=tuple(out), formulas=(text,), rf="keep")


# ----------------------------------------------------------------------------- cat / stack
@dataclass(frozen=True)
class CatRule:
    """``torch.cat(tensors, dim)``: the same shape except along ``dim``, where sizes add."""

    dim: int = 0
    label: str = "torch.cat"

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        # PyTorch skips empty 1-D tensors in a cat (a legacy rule caches rely on)
        shapes = [s for s in shapes if s != (0,)] or list(shapes[:1])
        rank = len(shapes[0])
        dim = _norm(self.dim, rank, self.label)
        for i, s in enumerate(shapes[1:], 1):
            if len(s) != rank:
                raise LayerShapeError(
                    "cat", f"{self.label}: tensor 0 is {rank}-D {_fmt(shapes[0])} but tensor "
                    f"{i} is {len(s)}-D {_fmt(s)}; all must have the same rank")
            for d in range(rank):
                if d != dim and s[d] != shapes[0][d]:
                    raise LayerShapeError(
                        "cat",
                        f"{self.label}(dim={self.dim}): sizes must match in every dimension "
                        f"but {dim}; dimension {d} is {shapes[0][d]} in tensor 0 "
                        f"{_fmt(shapes[0])} and {s[d]} in tensor {i} {_fmt(s)}",
                        expected=shapes[0][d], got=s[d])
        total = sum(s[dim] for s in shapes)
        out = (*shapes[0][:dim], total, *shapes[0][dim + 1 :])
        return LayerShape(output_shape=out, formulas=(
            f"dim {dim}: {' + '.join(str(s[dim]) for s in shapes)} = {total}",), rf="keep")


@dataclass(frozen=True)
class StackRule:
    dim: int = 0
    label: str = "torch.stack"

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        for i, s in enumerate(shapes[1:], 1):
            if s != shapes[0]:
                raise LayerShapeError(
                    "cat", f"{self.label}: every tensor must have the same shape, but tensor 0 "
                    f"is {_fmt(shapes[0])} and tensor {i} is {_fmt(s)}")
        rank = len(shapes[0]) + 1
        dim = _norm(self.dim, rank, self.label)
        out = (*shapes[0][:dim], len(shapes), *shapes[0][dim:])
        return LayerShape(output_shape=out, formulas=(
            f"{len(shapes)} × {_fmt(shapes[0])} stacked at dim {dim} → {_fmt(out)}",))


# ----------------------------------------------------------------------------- matmul
@dataclass(frozen=True)
class MatmulRule:
    """``a @ b``: (..., n, k) @ (..., k, m) → (..., n, m); batch dims broadcast
    (``bmm``: 3-D only, no broadcasting)."""

    label: str = "matmul"
    batched_only: bool = False

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        a, b = shapes[0], shapes[1]
        if self.batched_only and (len(a) != 3 or len(b) != 3):
            raise LayerShapeError("rank", f"{self.label} takes two 3-D tensors (b, n, k) and "
                                  f"(b, k, m), got {_fmt(a)} and {_fmt(b)}")
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        k_a, k_b = a2[-1], b2[-2]
        if k_a != k_b:
            hint = ""
            if len(b2) >= 2 and b2[-1] == k_a:
                hint = f"; b.transpose(-2, -1) {_fmt((*b2[:-2], b2[-1], b2[-2]))} would fit"
            raise LayerShapeError(
                "matmul",
                f"{self.label}: {_fmt(a)} @ {_fmt(b)}: the inner sizes must agree, the last "
                f"dimension of the left ({k_a}) against the second-to-last of the right "
                f"({k_b}){hint}",
                expected=k_b, got=k_a)
        batch_a, batch_b = a2[:-2], b2[:-2]
        try:
            batch = BroadcastRule("batch dims").apply_many([batch_a, batch_b]).output_shape \
                if batch_a or batch_b else ()
        except LayerShapeError:
            raise LayerShapeError(
                "matmul", f"{self.label}: the batch dimensions {_fmt(batch_a)} and "
                f"{_fmt(batch_b)} of {_fmt(a)} @ {_fmt(b)} do not broadcast") from None
        if self.batched_only and batch_a != batch_b:
            raise LayerShapeError("matmul", f"{self.label}: batch sizes {batch_a[0]} and "
                                  f"{batch_b[0]} differ")
        out = (*batch, a2[-2], b2[-1])
        if len(a) == 1:
            out = (*batch, b2[-1])
        if len(b) == 1:
            out = out[:-1]
        return LayerShape(output_shape=tuple(out), formulas=(
            f"{_fmt(a)} @ {_fmt(b)}: (…, {a2[-2]}, {k_a}) @ (…, {k_b}, {b2[-1]}) → "
            f"{_fmt(tuple(out))}",), rf="global")


@dataclass(frozen=True)
class EinsumRule:
    equation: str
    label: str = "torch.einsum"

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        lhs, _, rhs = self.equation.replace(" ", "").partition("->")
        terms = lhs.split(",")
        sizes: dict[str, int] = {}
        if len(terms) != len(shapes):
            raise LayerShapeError("invalid", f"{self.label}('{self.equation}') names "
                                  f"{len(terms)} operands but got {len(shapes)}")
        for t, s in zip(terms, shapes, strict=True):
            if "." in t or len(t) != len(s):
                return LayerShape(output_shape=(), formulas=(f"einsum '{self.equation}'",))
            for letter, n in zip(t, s, strict=True):
                if sizes.setdefault(letter, n) != n and n != 1 and sizes[letter] != 1:
                    raise LayerShapeError(
                        "matmul", f"{self.label}('{self.equation}'): index '{letter}' is "
                        f"{sizes[letter]} in one operand and {n} in another",
                        expected=sizes[letter], got=n)
        if not rhs:
            rhs = "".join(sorted(c for c in set(lhs.replace(",", "")) if lhs.count(c) == 1))
        out = tuple(sizes[c] for c in rhs)
        letters = ", ".join(f"{c}={n}" for c, n in sizes.items())
        return LayerShape(output_shape=out, formulas=(
            f"'{self.equation}' with {letters} → {_fmt(out)}",), rf="global")


# ----------------------------------------------------------------------------- rearranging
@dataclass(frozen=True)
class PermuteRule:
    """``permute(dims)`` / ``transpose(a, b)`` / ``x.T``: dims reordered, sizes kept."""

    order: tuple[int, ...]
    label: str = "Tensor.permute"

    def apply(self, shape: Shape) -> LayerShape:
        rank = len(shape)
        if len(self.order) != rank:
            raise LayerShapeError("rank", f"{self.label}{self.order}: {len(self.order)} dims "
                                  f"for a {rank}-D input {_fmt(shape)}")
        dims = [_norm(d, rank, self.label) for d in self.order]
        out = tuple(shape[d] for d in dims)
        return LayerShape(output_shape=out, formulas=(
            f"dims {tuple(dims)} of {_fmt(shape)} → {_fmt(out)}",))


def transpose_order(rank: int, a: int, b: int, label: str) -> tuple[int, ...]:
    a, b = _norm(a, rank, label), _norm(b, rank, label)
    order = list(range(rank))
    order[a], order[b] = order[b], order[a]
    return tuple(order)


# ----------------------------------------------------------------------------- layers
@dataclass(frozen=True)
class EmbeddingRule:
    """``nn.Embedding(num_embeddings, embedding_dim)``: ids (…) → vectors (…, dim)."""

    num_embeddings: int
    embedding_dim: int
    label: str = "Embedding"

    def apply(self, shape: Shape) -> LayerShape:
        out = (*shape, self.embedding_dim)
        return LayerShape(output_shape=out, formulas=(
            f"{_fmt(shape)} ids in [0, {self.num_embeddings}) → one {self.embedding_dim}-vector "
            f"each: {_fmt(out)}",))


@dataclass(frozen=True)
class RNNRule:
    """``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``: (L, N, input_size) or (N, L, input_size) with
    ``batch_first=True`` → (…, D·hidden_size), D = 2 when bidirectional."""

    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    proj_size: int = 0
    label: str = "LSTM"

    def apply(self, shape: Shape) -> LayerShape:
        if len(shape) not in (2, 3):
            raise LayerShapeError("rank", f"{self.label} expects a 3-D input "
                                  f"({'N, L' if self.batch_first else 'L, N'}, input_size) or "
                                  f"2-D unbatched (L, input_size), got {_fmt(shape)}")
        if shape[-1] != self.input_size:
            raise LayerShapeError(
                "features", f"{self.label}(input_size={self.input_size}) gets {shape[-1]} "
                f"features in the last dimension of {_fmt(shape)}",
                expected=self.input_size, got=shape[-1])
        d = 2 if self.bidirectional else 1
        h = self.proj_size or self.hidden_size
        out = (*shape[:-1], d * h)
        if len(shape) == 3:
            seq, batch = (shape[1], shape[0]) if self.batch_first else (shape[0], shape[1])
            layout = (f"batch_first={self.batch_first}: reads (N={batch}, L={seq}, "
                      f"{shape[-1]})" if self.batch_first else
                      f"batch_first=False: reads (L={seq}, N={batch}, {shape[-1]})")
        else:
            layout = f"unbatched (L={shape[0]}, {shape[-1]})"
        return LayerShape(output_shape=out, formulas=(
            layout,
            f"last dim: {'2·' if d == 2 else ''}hidden_size = "
            f"{'2·' if d == 2 else ''}{h} = {d * h} ({self.num_layers} layer"
            f"{'s' if self.num_layers > 1 else ''}"
            f"{', bidirectional' if self.bidirectional else ''})",
        ), rf="global")


@dataclass(frozen=True)
class AttentionRule:
    """``nn.MultiheadAttention`` / ``F.scaled_dot_product_attention``: query (…, L, E),
    key/value (…, S, E) → (…, L, E); E = heads × head_dim."""

    embed_dim: int
    num_heads: int
    batch_first: bool = False
    label: str = "MultiheadAttention"

    def apply_many(self, shapes: Sequence[Shape]) -> LayerShape:
        q = shapes[0]
        k = shapes[1] if len(shapes) > 1 else q
        head_dim = self.embed_dim // self.num_heads if self.num_heads else 0
        if self.num_heads and q[-1] != self.embed_dim:
            raise LayerShapeError(
                "features", f"{self.label}(embed_dim={self.embed_dim}) gets query "
                f"{_fmt(q)} with {q[-1]} features in its last dimension",
                expected=self.embed_dim, got=q[-1])
        if len(q) == 3 and len(k) == 3 and self.num_heads:
            if self.batch_first:
                n_q, n_k, lq, sk = q[0], k[0], q[1], k[1]
            else:
                n_q, n_k, lq, sk = q[1], k[1], q[0], k[0]
            if n_q != n_k:
                raise LayerShapeError(
                    "features", f"{self.label}: query {_fmt(q)} has batch {n_q} but key "
                    f"{_fmt(k)} has batch {n_k} (batch_first={self.batch_first})",
                    expected=n_q, got=n_k)
            return LayerShape(output_shape=q, formulas=(
                f"E = heads × head_dim = {self.num_heads} × {head_dim} = {self.embed_dim}; "
                f"scores (N·heads, L, S) = ({n_q}·{self.num_heads}, {lq}, {sk}) → {_fmt(q)}",),
                rf="global")
        if not self.num_heads:  # scaled_dot_product_attention on (…, heads, L, head_dim)
            if q[-1] != k[-1]:
                raise LayerShapeError(
                    "matmul", f"{self.label}: query {_fmt(q)} and key {_fmt(k)} must share "
                    f"the head dimension, {q[-1]} vs {k[-1]}", expected=q[-1], got=k[-1])
            v = shapes[2] if len(shapes) > 2 else k
            out = (*q[:-1], v[-1])
            heads = f"{q[-3]} heads × " if len(q) >= 4 else ""
            return LayerShape(output_shape=out, formulas=(
                f"softmax(Q Kᵀ/√{q[-1]}) V: ({heads}L={q[-2]}, S={k[-2]}) scores; "
                f"{_fmt(q)} → {_fmt(out)}",), rf="global")
        return LayerShape(output_shape=q, formulas=(f"{_fmt(q)} → {_fmt(q)}",), rf="global")


def numel(shape: Shape) -> int:
    return math.prod(shape)
