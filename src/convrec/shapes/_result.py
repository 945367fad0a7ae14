"""The values a trace returns: one :class:`Row` per layer, a :class:`Failure`, the :class:`Trace`.

They are plain frozen dataclasses holding the :class:`~convrec.conv.shapes.ShapeExplanation`
objects made by :mod:`convrec.conv.shapes`; ``to_dict`` gives JSON-ready data for the studio
and ``--format json``, ``to_markdown`` a table for docs and notebooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
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
        kind: ``"module"``, ``"function"`` or ``"container"`` (a module with children,
            shown for the tree; its mult-adds are its children's).
        depth: nesting depth (0 for a layer of the top model).
        input_shape, output_shape: the shapes, e.g. ``(64, 1, 28, 28)`` → ``(64, 8, 14, 14)``.
        explanations: the worked output-size formula per spatial dimension (H, W).
        formulas: other worked formulas (flatten, linear, reshape, padding).
        params: parameters of this layer (recursive for an unknown leaf module).
        mult_adds: multiply-adds, torchinfo's convention (conv and linear; bias ignored).
        mult_adds_formula: how ``mult_adds`` was counted, with the numbers.
        receptive_field: input pixels seen by one output pixel, per spatial dimension,
            propagated along the dataflow graph (the union of the branches at a merge);
            ``None`` when not defined here.
        jump: distance in input pixels between neighbouring outputs, per dimension (a
            ``Fraction`` below 1 after an upsampling).
        rf_note: ``"whole input"`` (a global pool, attention, a Linear over a spatial
            dimension), ``"at most"`` (after a transposed conv, a resize or a pixel
            shuffle the field is a bound: outputs see different amounts; the table shows
            ``≤``) or ``""``.
        notes: warnings about this row.
        sources: the rows whose outputs this op consumed (row indices; ``-1 - k`` for the
            model's k-th input).
        input_shapes: the shapes of every tensor it consumed (two or more for a merge).
        kernel_shape: e.g. ``(3, 3)`` for a conv or pool, ``()`` otherwise.
        output_bytes: bytes of the output tensor (for the memory estimate).
    """

    index: int
    name: str
    type: str
    kind: Literal["module", "function", "container"]
    depth: int
    input_shape: Shape | None
    output_shape: Shape | None
    explanations: tuple[ShapeExplanation, ...] = ()
    formulas: tuple[str, ...] = ()
    params: int = 0
    mult_adds: int = 0
    mult_adds_formula: str = ""
    receptive_field: tuple[int, ...] | None = None
    jump: tuple[Fraction, ...] | None = None
    rf_note: str = ""
    notes: tuple[str, ...] = ()
    sources: tuple[int, ...] = ()
    input_shapes: tuple[Shape, ...] = ()
    kernel_shape: tuple[int, ...] = ()
    output_bytes: int = 0

    def __repr__(self) -> str:
        return (f"Row({self.index}, {self.name!r} {self.type}: {fmt_shape(self.input_shape)} → "
                f"{fmt_shape(self.output_shape)})")

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
            "jump": [int(j) if j.denominator == 1 else str(j) for j in self.jump]
            if self.jump else None,
            "rf_note": self.rf_note,
            "notes": list(self.notes),
            "sources": list(self.sources),
            "input_shapes": [list(s) for s in self.input_shapes],
            "kernel_shape": list(self.kernel_shape),
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
class InputInfo:
    """One input of the model: its name (the ``forward`` parameter), shape and dtype."""

    name: str
    shape: Shape
    dtype: str

    def __str__(self) -> str:
        dtype = "" if self.dtype == "float32" else f" {self.dtype}"
        return f"{self.name} {fmt_shape(self.shape)}{dtype}"


@dataclass(frozen=True)
class Trace:
    """A model traced on one input (or several named ones).

    Attributes:
        model: the model's class name (or the path it was loaded from).
        input_shape: the first input's shape, e.g. ``(64, 1, 28, 28)``.
        mode: ``"run"`` (a real forward pass), ``"meta"`` (a forward pass on meta
            tensors: shapes only, no arithmetic) or ``"static"`` (no forward pass: the layers'
            own formulas, for an ``nn.Sequential`` of known layers).
        rows: one :class:`Row` per layer or shape-changing op, in execution order
            (``Row.index`` is the position here; ``Row.sources`` point into it).
        containers: the modules with children (``kind="container"``, for the tree and
            ``depth``); a container's ``index`` is that of its first row.
        output_shape: the model's output shape (``None`` when it fails).
        failure: ``None``, or why it fails.
        total_params, trainable_params: counted once per parameter tensor.
        warnings: model-level warnings (e.g. a ``view`` that changed the batch size).
        inputs: every input with its name, shape and dtype.
        input_bytes, forward_backward_bytes, param_bytes: torchinfo's memory estimates
            (inputs; outputs of layers with parameters, twice for their gradients; params).
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
    inputs: tuple[InputInfo, ...] = ()
    input_bytes: int = 0
    forward_backward_bytes: int = 0
    param_bytes: int = 0
    graph: Any = field(default=None, repr=False, compare=False)
    containers: tuple[Row, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def layers(self) -> tuple[Row, ...]:
        """The rows (an alias that says they hold no containers)."""
        return self.rows

    @property
    def tree(self) -> tuple[Row, ...]:
        """Rows and containers in tree order: each container just before its first row."""
        out: list[Row] = []
        pending = list(self.containers)
        for row in self.rows:
            while pending and pending[0].index <= row.index:
                out.append(pending.pop(0))
            out.append(row)
        return (*out, *pending)

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    @property
    def inputs_text(self) -> str:
        if not self.inputs:
            return f"input {fmt_shape(self.input_shape)}"
        if len(self.inputs) == 1 and self.inputs[0].dtype == "float32":
            return f"input {fmt_shape(self.inputs[0].shape)}"
        return ", ".join(str(i) for i in self.inputs)

    def source_names(self, row: Row) -> tuple[str, ...]:
        """Who made each input of ``row``: ``"layer1.0.conv2 (Conv2d)"`` or ``"input x"``."""
        out = []
        for s in row.sources:
            if s < 0:
                k = -1 - s
                out.append(f"input {self.inputs[k].name}" if k < len(self.inputs) else "input")
            else:
                out.append(f"{self.rows[s].name} ({self.rows[s].type})")
        return tuple(out)

    def receptive_box(self, row: int | str, element: tuple[int, ...] | None = None
                      ) -> dict[str, tuple[tuple[int, int], ...]]:
        """The input elements that one output element of ``row`` depends on (exact, clipped
        to the input), found by walking the dataflow graph backwards.

        Args:
            row: a row index or name.
            element: an index per output dimension; default sample 0, every channel, the
                centre of the spatial dimensions.

        Returns:
            ``{input name: ((lo, hi) per dimension)}``, inclusive.
        """
        if self.graph is None:
            raise ValueError("receptive_box needs a traced graph (run=True or meta mode)")
        index = row if isinstance(row, int) else next(
            (r.index for r in self.rows if r.name == row), None)
        if index is None or not 0 <= index < len(self.rows):
            raise ValueError(f"row must be a row index (0 to {len(self.rows) - 1}) or a row "
                             f"name, got row={row!r}")
        return dict(self.graph.receptive_box(index, element))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the studio renders this)."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": [{"name": i.name, "shape": list(i.shape), "dtype": i.dtype}
                       for i in self.inputs],
            "mode": self.mode,
            "ok": self.ok,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "rows": [r.to_dict() for r in self.rows],
            "containers": [r.to_dict() for r in self.containers],
            "failure": self.failure.to_dict() if self.failure else None,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_mult_adds": self.total_mult_adds,
            "memory_bytes": {"input": self.input_bytes,
                             "forward_backward": self.forward_backward_bytes,
                             "params": self.param_bytes},
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self, depth: int | None = None) -> str:
        """A markdown table of every row (containers deeper than ``depth`` folded), the
        totals, and the failure if any."""
        from convrec.shapes._render import trace_markdown

        return trace_markdown(self, depth=depth)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        from convrec.shapes._render import trace_html

        return trace_html(self)

    def __repr__(self) -> str:
        status = (f"output {fmt_shape(self.output_shape)}" if self.ok else
                  f"FAILS at {self.failure.layer}" if self.failure else "")
        return (f"<Trace {self.model} on {self.inputs_text}: {len(self.layers)} rows, "
                f"{self.total_params:,} params, {self.total_mult_adds:,} mult-adds, {status}>")

    def __str__(self) -> str:
        return self.to_markdown()
