"""The values a trace returns: one :class:`Row` per layer, a :class:`Failure`, the :class:`Trace`.

They are plain frozen dataclasses holding the :class:`~convrec.conv.shapes.ShapeExplanation`
objects made by :mod:`convrec.conv.shapes`; ``to_dict`` gives JSON-ready data for the studio
and ``--format json``, ``to_markdown`` a table for docs and notebooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from convrec.conv.shapes import ShapeExplanation

Shape = tuple[int, ...]
TraceMode = Literal["run", "meta", "static"]


def fmt_shape(shape: Shape | None) -> str:
    """``(64, 1, 28, 28)``; ``?`` when unknown."""
    if shape is None:
        return "?"
    return "(" + ", ".join(str(v) for v in shape) + ")"


@dataclass(frozen=True)
class Row:
    """One layer (or one shape-changing function call inside a ``forward``).

    Attributes:
        index: position in execution order, from 0.
        name: the module's dotted name (``"features.0"``) or, for a function call, the
            calling module's name plus the function (``"view()"``).
        type: ``"Conv2d"``, ``"Linear"``, ``"Tensor.view"``, ...
        kind: ``"module"`` or ``"function"``.
        depth: nesting depth (0 for a layer of the top model).
        input_shape, output_shape: the shapes, e.g. ``(64, 1, 28, 28)`` → ``(64, 8, 14, 14)``.
        explanations: the worked output-size formula per spatial dimension (H, W).
        formulas: other worked formulas (flatten, linear, reshape, padding).
        params: parameters of this layer (recursive for an unknown leaf module).
        mult_adds: multiply-adds, torchinfo's convention (conv and linear; bias ignored).
        mult_adds_formula: how ``mult_adds`` was counted, with the numbers.
        receptive_field: input pixels seen by one output pixel, per spatial dimension, along
            the main path; ``None`` when not defined here.
        jump: distance in input pixels between neighbouring outputs, per dimension.
        rf_note: ``"global"`` (sees the whole input), ``"unknown"`` or ``""``.
        notes: warnings about this row.
    """

    index: int
    name: str
    type: str
    kind: Literal["module", "function"]
    depth: int
    input_shape: Shape | None
    output_shape: Shape | None
    explanations: tuple[ShapeExplanation, ...] = ()
    formulas: tuple[str, ...] = ()
    params: int = 0
    mult_adds: int = 0
    mult_adds_formula: str = ""
    receptive_field: tuple[int, ...] | None = None
    jump: tuple[int, ...] | None = None
    rf_note: str = ""
    notes: tuple[str, ...] = ()

    @property
    def why(self) -> tuple[str, ...]:
        """Every formula of this row as text, H before W."""
        return tuple(str(e) for e in self.explanations) + self.formulas

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; explanations via :meth:`ShapeExplanation.to_dict`."""
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "depth": self.depth,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "explanations": [e.to_dict() for e in self.explanations],
            "formulas": list(self.formulas),
            "why": list(self.why),
            "params": self.params,
            "mult_adds": self.mult_adds,
            "mult_adds_formula": self.mult_adds_formula,
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "jump": list(self.jump) if self.jump else None,
            "rf_note": self.rf_note,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Failure:
    """Why the model cannot take the input, at the first layer that fails.

    Attributes:
        layer: the failing layer's name; ``layer_type`` its type.
        input_shape: what reached it.
        kind: ``"linear_in_features"``, ``"flatten_missing"``, ``"channels"``,
            ``"kernel_too_large"``, ``"pool_too_small"``, ``"rank"``, ``"reshape"``,
            ``"features"``, ``"invalid"`` or ``"unknown"`` (a layer we cannot explain; the
            PyTorch error is kept).
        error: the error as PyTorch (or, in static mode, our arithmetic) reported it.
        source: who reported ``error``: ``"PyTorch"`` or ``"convrec (static)"``.
        summary: the cause in one sentence.
        cause: the explanation, line by line (which layer produced which number and why).
        chain: the formula chain that led to the bad size, one step per line.
        fixes: concrete changes that make the shapes fit, each checked by re-tracing.
        explanations: the failing layer's worked formulas (with ``rule_broken`` set).
    """

    layer: str
    layer_type: str
    input_shape: Shape | None
    kind: str
    error: str
    summary: str
    cause: tuple[str, ...] = ()
    chain: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    explanations: tuple[ShapeExplanation, ...] = ()
    source: str = "PyTorch"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "layer": self.layer,
            "layer_type": self.layer_type,
            "input_shape": list(self.input_shape) if self.input_shape is not None else None,
            "kind": self.kind,
            "error": self.error,
            "summary": self.summary,
            "cause": list(self.cause),
            "chain": list(self.chain),
            "fixes": list(self.fixes),
            "explanations": [e.to_dict() for e in self.explanations],
        }

    def to_text(self) -> str:
        """The failure as plain text (one screen)."""
        lines = [f"FAILS at {self.layer} ({self.layer_type}) with input "
                 f"{fmt_shape(self.input_shape)}: {self.summary}",
                 f"{self.source} says: {self.error}"]
        if self.cause:
            lines.append("Why:")
            lines.extend(f"  {c}" for c in self.cause)
        if self.chain:
            lines.append("How the size came to be:")
            lines.extend(f"  {c}" for c in self.chain)
        if self.fixes:
            lines.append("Changes that make it fit (each checked):")
            lines.extend(f"  - {f}" for f in self.fixes)
        return "\n".join(lines)


@dataclass(frozen=True)
class Trace:
    """A model traced on one input shape.

    Attributes:
        model: the model's class name (or the path it was loaded from).
        input_shape: e.g. ``(64, 1, 28, 28)``.
        mode: ``"run"`` (a real forward pass on zeros), ``"meta"`` (a forward pass on meta
            tensors: shapes only, no arithmetic) or ``"static"`` (no forward pass: the layers'
            own formulas, for an ``nn.Sequential`` of known layers).
        rows: one :class:`Row` per layer, in execution order.
        output_shape: the model's output shape (``None`` when it fails).
        failure: ``None``, or why it fails.
        total_params, trainable_params: counted once per parameter tensor.
        warnings: model-level warnings (e.g. a ``view`` that changed the batch size).
    """

    model: str
    input_shape: Shape
    mode: TraceMode
    rows: tuple[Row, ...]
    output_shape: Shape | None
    failure: Failure | None = None
    total_params: int = 0
    trainable_params: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the studio renders this)."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "mode": self.mode,
            "ok": self.ok,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "rows": [r.to_dict() for r in self.rows],
            "failure": self.failure.to_dict() if self.failure else None,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_mult_adds": self.total_mult_adds,
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self) -> str:
        """A markdown table of every row, the totals, and the failure if any."""
        from convrec.shapes._render import trace_markdown

        return trace_markdown(self)

    def __str__(self) -> str:
        return self.to_markdown()
