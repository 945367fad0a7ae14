"""Trace any ``nn.Module`` layer by layer: forward hooks, a torch-function mode, or no run at all.

Three ways, one result (:class:`~convrec.shapes.Trace`):

- ``run=True``: a real forward pass on zeros (eval mode, no grad; the model's train/eval
  state is restored). Forward pre-/post-hooks on every module record each leaf layer's input
  and output shape; a :class:`torch.overrides.TorchFunctionMode` records the shape-changing
  function calls made directly inside a ``forward`` (``F.max_pool2d(x, 2)``,
  ``x.view(x.size(0), -1)``, ``torch.flatten(x, 1)``, ...).
- ``run=False`` and the model is an ``nn.Sequential`` (nested or not) of known layers: no
  forward pass at all. Each layer's formula from :mod:`convrec.conv.shapes` gives the next
  shape (``"static"``).
- ``run=False`` otherwise: the same hooks, on a forward pass over *meta* tensors (shapes
  without data, no arithmetic, no memory for activations) (``"meta"``).

Every known layer's formulas are computed from its hyperparameters and the observed input
shape, and the prediction is compared with what PyTorch produced.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from convrec.conv.shapes import receptive_field
from convrec.shapes._diagnose import diagnose
from convrec.shapes._result import Row, Shape, Trace, TraceMode, fmt_shape
from convrec.shapes._specs import (
    LayerShape,
    LayerShapeError,
    Spec,
    Window,
    spec_of,
    spec_of_call,
    traced_function_table,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["trace"]


def _check_input_shape(input_shape: Sequence[int]) -> Shape:
    if isinstance(input_shape, str | bytes) or not isinstance(input_shape, Sequence):
        raise ValueError(
            f"input_shape must be a sequence of positive ints such as (64, 1, 28, 28), "
            f"got input_shape={input_shape!r}"
        )
    shape: list[int] = []
    for v in input_shape:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(
                f"input_shape must hold positive ints such as (64, 1, 28, 28), got "
                f"input_shape={tuple(input_shape)!r} ({v!r} is not a positive int)"
            )
        shape.append(v)
    if not shape:
        raise ValueError("input_shape must have at least one dimension, got ()")
    return tuple(shape)


class _Field:
    """The receptive field along the main path: the windows met so far, per dimension."""

    def __init__(self) -> None:
        self.windows: list[list[Window]] | None = None
        self.state = "none"  # none | ok | global | unknown

    def update(self, ls: LayerShape | None, changed: bool) -> tuple[
        tuple[int, ...] | None, tuple[int, ...] | None, str
    ]:
        if ls is None:
            if changed:
                self.state = "unknown"
                return None, None, "unknown"
            return None, None, ""
        if ls.rf == "keep":
            return None, None, ""
        if ls.rf == "window" and ls.windows is not None:
            if self.state == "none":
                self.windows = [[] for _ in ls.windows]
                self.state = "ok"
            if self.state == "ok" and self.windows is not None and len(self.windows) == len(
                ls.windows
            ):
                for lst, w in zip(self.windows, ls.windows, strict=True):
                    lst.append(w)
                fovs = [receptive_field(lst)[-1] for lst in self.windows]
                return tuple(f.size for f in fovs), tuple(f.jump for f in fovs), ""
            if self.state == "global":
                return None, None, "global"
            self.state = "unknown"
            return None, None, "unknown"
        if ls.rf == "global" and self.state != "unknown":
            self.state = "global"
            return None, None, "global"
        self.state = "unknown"
        return None, None, "unknown"


class _Rows:
    """Builds rows (and keeps each row's spec for the failure's what-if search)."""

    def __init__(self) -> None:
        self.rows: list[Row | None] = []
        self.specs: list[Spec | None] = []
        self.field = _Field()
        self.warnings: list[str] = []

    def reserve(self) -> int:
        self.rows.append(None)
        self.specs.append(None)
        return len(self.rows) - 1

    def fill(
        self, slot: int, *, name: str, type_: str, kind: str, depth: int,
        input_shape: Shape | None, output_shape: Shape | None, spec: Spec | None, params: int,
        extra_formulas: tuple[str, ...] = (),
    ) -> Row:
        ls: LayerShape | None = None
        notes: list[str] = []
        if spec is not None and input_shape is not None:
            try:
                ls = spec.apply(input_shape)
            except LayerShapeError as err:
                notes.append(f"convrec's formula rejects this input ({err}), PyTorch accepted it")
        if ls is not None and output_shape is not None and ls.output_shape != output_shape:
            notes.append(
                f"the formula gives {fmt_shape(ls.output_shape)} but PyTorch produced "
                f"{fmt_shape(output_shape)} (e.g. an output_size argument); shown as produced"
            )
            ls = None
        if ls is not None:
            notes.extend(ls.notes)
            self.warnings.extend(f"{name}: {n}" for n in ls.notes)
        changed = input_shape is not None and output_shape is not None and (
            input_shape[2:] != output_shape[2:]
        )
        rf, jump, rf_note = self.field.update(ls, changed)
        row = Row(
            index=slot, name=name, type=type_, kind="function" if kind == "function" else "module",
            depth=depth, input_shape=input_shape, output_shape=output_shape,
            explanations=ls.explanations if ls else (),
            formulas=(ls.formulas if ls else ()) + extra_formulas,
            params=params,
            mult_adds=ls.mult_adds if ls else 0,
            mult_adds_formula=ls.mult_adds_formula if ls else "",
            receptive_field=rf, jump=jump, rf_note=rf_note, notes=tuple(notes),
        )
        self.rows[slot] = row
        self.specs[slot] = spec
        return row

    def done(self) -> tuple[list[Row], list[Spec | None]]:
        rows: list[Row] = []
        specs: list[Spec | None] = []
        for row, spec in zip(self.rows, self.specs, strict=True):
            if row is not None:
                rows.append(Row(**{**row.__dict__, "index": len(rows)}))
                specs.append(spec)
        return rows, specs


@dataclass
class _Frame:
    name: str
    module: nn.Module
    record: bool
    spec: Spec | None
    input_shape: Shape | None
    depth: int
    slot: int | None


@dataclass
class _FailedCall:
    name: str
    spec: Spec | None
    input_shape: Shape | None
    stack_len: int
    depth: int
    parent: str


def _first_shape(value: Any) -> Shape | None:
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(int(v) for v in value.shape)
    if isinstance(value, list | tuple):
        for item in value:
            found = _first_shape(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _first_shape(list(value.values()))
    return None


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class _Recorder:
    def __init__(self, model: nn.Module) -> None:
        self.names = {id(m): n for n, m in model.named_modules()}
        self.root = type(model).__name__
        self.stack: list[_Frame] = []
        self.rows = _Rows()
        self.failed_call: _FailedCall | None = None
        self.functions = traced_function_table()
        self._specs: dict[int, Spec | None] = {}

    def _spec(self, module: nn.Module) -> Spec | None:
        key = id(module)
        if key not in self._specs:
            self._specs[key] = spec_of(module)
        return self._specs[key]

    def pre(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        name = self.names.get(id(module)) or self.root
        spec = self._spec(module)
        leaf = next(iter(module.children()), None) is None
        record = leaf or spec is not None
        depth = max(len(self.stack) - 1, 0)
        slot = self.rows.reserve() if record else None
        self.stack.append(_Frame(name, module, record, spec, _first_shape((args, kwargs)),
                                 depth, slot))

    def post(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
    ) -> None:
        frame = self.stack.pop()
        if frame.record and frame.slot is not None:
            self.rows.fill(
                frame.slot, name=frame.name, type_=type(module).__name__, kind="module",
                depth=frame.depth, input_shape=frame.input_shape,
                output_shape=_first_shape(output), spec=frame.spec,
                params=_param_count(module),
            )

    def call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        display = self.functions.get(func)
        top = self.stack[-1] if self.stack else None
        if display is None or (top is not None and top.record and top.spec is not None):
            return func(*args, **kwargs)
        spec = spec_of_call(display, args, kwargs)
        in_shape = _first_shape(args[:1])
        depth = len(self.stack) if top is not None and top.record else max(len(self.stack) - 1, 0)
        parent = top.name if top is not None and top.name != self.root else ""
        try:
            out = func(*args, **kwargs)
        except Exception:
            self.failed_call = _FailedCall(display, spec, in_shape, len(self.stack), depth,
                                           parent)
            raise
        extra: tuple[str, ...] = ()
        if display in ("torch.cat", "torch.stack") and args and isinstance(args[0], list | tuple):
            extra = ("inputs " + ", ".join(fmt_shape(_first_shape(t)) for t in args[0]),)
        slot = self.rows.reserve()
        short = display.split(".", 1)[1]
        self.rows.fill(
            slot, name=f"{parent + '.' if parent else ''}{short}()", type_=display,
            kind="function", depth=depth, input_shape=in_shape, output_shape=_first_shape(out),
            spec=spec, params=0, extra_formulas=extra,
        )
        return out


def _make_mode(recorder: _Recorder) -> Any:
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None,
        ) -> Any:
            return recorder.call(func, args, kwargs or {})

    return _Mode()


def _hook_trace(model: nn.Module, shape: Shape, mode: TraceMode, label: str) -> Trace:
    import torch

    recorder = _Recorder(model)
    handles = []
    for module in model.modules():
        handles.append(module.register_forward_pre_hook(recorder.pre, with_kwargs=True))
        handles.append(module.register_forward_hook(recorder.post, with_kwargs=True))
    training = {id(m): m.training for m in model.modules()}
    model.eval()
    output: Any = None
    error: Exception | None = None
    try:
        first = next(itertools.chain(model.parameters(), model.buffers()), None)
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
        with torch.no_grad(), _make_mode(recorder):
            if mode == "meta":
                from torch.func import functional_call

                tensors: dict[str, torch.Tensor] = {
                    n: torch.empty_like(t, device="meta")
                    for n, t in itertools.chain(model.named_parameters(), model.named_buffers())
                }
                x = torch.zeros(shape, dtype=dtype, device="meta")
                output = functional_call(model, tensors, (x,))
            else:
                device = first.device if first is not None else torch.device("cpu")
                x = torch.zeros(shape, dtype=dtype, device=device)
                output = model(x)
    except Exception as exc:
        error = exc
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = training.get(id(m), m.training)
    open_frames = list(recorder.stack)
    rows, specs = recorder.rows.done()
    failure = None
    if error is not None:
        failure = _failure_from_error(recorder, open_frames, rows, specs, error, shape)
        after = _specs_after(model, failure.layer)
        if after:
            failure = _failure_from_error(recorder, open_frames, rows, specs, error, shape,
                                          after)
    return Trace(
        model=label, input_shape=shape, mode=mode, rows=tuple(rows),
        output_shape=_first_shape(output) if error is None else None, failure=failure,
        total_params=_param_count(model),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        warnings=tuple(recorder.rows.warnings),
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


def _failure_from_error(
    recorder: _Recorder, frames: list[_Frame], rows: list[Row], specs: list[Spec | None],
    error: Exception, shape: Shape, after: Sequence[Spec] = (),
) -> Any:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    call = recorder.failed_call
    if call is not None and call.stack_len == len(frames):
        short = call.name.split(".", 1)[1]
        return diagnose(
            rows, specs, layer=f"{call.parent + '.' if call.parent else ''}{short}()",
            layer_type=call.name, spec=call.spec, input_shape=call.input_shape,
            error=message, model_input=shape, after=after,
        )
    inner = next((f for f in reversed(frames) if f.record), None) or (
        frames[-1] if frames else None
    )
    if inner is None:
        return diagnose(rows, specs, layer=recorder.root, layer_type=recorder.root, spec=None,
                        input_shape=shape, error=message, model_input=shape)
    return diagnose(
        rows, specs, layer=inner.name, layer_type=type(inner.module).__name__,
        spec=inner.spec, input_shape=inner.input_shape, error=message, model_input=shape,
        after=after,
    )


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
    builder = _Rows()
    current = shape
    failure = None
    for i, (name, module, depth) in enumerate(leaves):
        spec = spec_of(module)
        assert spec is not None  # _sequential_leaves only returns known layers
        try:
            ls = spec.apply(current)
        except LayerShapeError as err:
            rows, specs = builder.done()
            failure = diagnose(rows, specs, layer=name, layer_type=type(module).__name__,
                               spec=spec, input_shape=current, error=str(err),
                               model_input=shape,
                               after=[s for _, m, _ in leaves[i + 1 :] if (s := spec_of(m))])
            failure = dataclasses.replace(failure, source="convrec (static)")
            break
        slot = builder.reserve()
        builder.fill(slot, name=name, type_=type(module).__name__, kind="module", depth=depth,
                     input_shape=current, output_shape=ls.output_shape, spec=spec,
                     params=_param_count(module))
        current = ls.output_shape
    rows, _ = builder.done()
    return Trace(
        model=label, input_shape=shape, mode="static", rows=tuple(rows),
        output_shape=None if failure else current, failure=failure,
        total_params=_param_count(model),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        warnings=tuple(builder.warnings),
    )


def trace(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    run: bool = True,
    name: str | None = None,
) -> Trace:
    """Trace ``model`` on an input of ``input_shape`` and explain every shape.

    Args:
        model: any ``torch.nn.Module``.
        input_shape: e.g. ``(64, 1, 28, 28)`` for a batch of 64 MNIST digits ``(N, C, H, W)``.
        run: ``True`` runs one forward pass on zeros (eval mode, no grad, state restored).
            ``False`` runs none: an ``nn.Sequential`` of known layers is computed from the
            formulas alone; any other model runs on meta tensors (shapes only).
        name: how to call the model in the output (default: its class name).

    Returns:
        A :class:`Trace`: one :class:`Row` per layer (input/output shape, the worked formulas,
        params, multiply-adds, receptive field) and, if the model fails on this input, a
        :class:`Failure` explaining why and what would make it fit.

    Raises:
        ValueError: if ``input_shape`` is not a sequence of positive ints, or ``model`` is not
            an ``nn.Module``.

    Example:
        >>> from torch import nn
        >>> t = trace(nn.Conv2d(1, 4, 3), (64, 1, 28, 28))
        >>> t.rows[0].output_shape, str(t.rows[0].explanations[0])
        ((64, 4, 26, 26), '(28 + 2*0 - 3)//1 + 1 = 26')
        >>> t.rows[0].mult_adds
        1557504
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = _check_input_shape(input_shape)
    label = name or type(model).__name__
    if not run:
        static = _static_trace(model, shape, label)
        if static is not None:
            return static
        return _hook_trace(model, shape, "meta", label)
    return _hook_trace(model, shape, "run", label)
