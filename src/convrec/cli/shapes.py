"""``convrec shapes ...``: trace a model layer by layer and explain every shape; solve for k/s/p.

``convrec shapes MODEL --input 64,1,28,28`` is short for ``convrec shapes trace MODEL ...``.
torch is imported inside the commands only (through :mod:`convrec.shapes`' lazy imports).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from convrec.cli.common import UserError, console


class _TraceByDefault(TyperGroup):
    """Route ``convrec shapes MODEL ...`` to ``convrec shapes trace MODEL ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["trace", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_TraceByDefault,
    help="Why this shape: trace any PyTorch model layer by layer, explain every shape and "
    "every shape error; find kernel/stride/padding for an output size.",
    no_args_is_help=True,
)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"64,1,28,28"`` or ``"64x1x28x28"`` → ``(64, 1, 28, 28)``."""
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UserError(f"--input must be comma-separated positive ints such as 64,1,28,28, "
                        f"got {text!r}") from None
    if not shape or any(v < 1 for v in shape):
        raise UserError(f"--input must be comma-separated positive ints such as 64,1,28,28, "
                        f"got {text!r}")
    return shape


def parse_inputs(texts: list[str], dtype: str | None) -> tuple[Any, Any]:
    """``--input`` values → ``(input_size, dtypes)`` for :func:`convrec.shapes.trace`.

    ``4,20`` (one positional input), or repeated ``NAME=SHAPE[:DTYPE]``
    (``input_ids=2,16:long``); ``--dtype`` is the default dtype of every input.
    """
    from convrec.shapes import DTYPES

    def check_dtype(value: str, where: str) -> str:
        if value.lower() not in DTYPES:
            raise UserError(f"{where} must be one of {', '.join(sorted(DTYPES))}, got {value!r}")
        return value.lower()

    default = check_dtype(dtype, "--dtype") if dtype else None
    named = [t for t in texts if "=" in t]
    if named and len(named) != len(texts):
        raise UserError("--input: give either one plain shape (64,1,28,28) or NAME=SHAPE "
                        f"for every input, got {' '.join(texts)!r}")
    if not named:
        if len(texts) != 1:
            raise UserError(f"--input: several inputs need names, e.g. --input input_ids=2,16 "
                            f"--input attention_mask=2,16; got {' '.join(texts)!r}")
        shape_text, _, dt = texts[0].partition(":")
        dt_value = check_dtype(dt, "--input dtype") if dt else default
        return parse_shape(shape_text), dt_value
    sizes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str | None] = {}
    for text in named:
        name, _, rest = text.partition("=")
        shape_text, _, dt = rest.partition(":")
        if not name.isidentifier():
            raise UserError(f"--input NAME=SHAPE: {name!r} is not a parameter name (e.g. "
                            f"input_ids=2,16:long)")
        sizes[name] = parse_shape(shape_text)
        dtypes[name] = check_dtype(dt, "--input dtype") if dt else default
    return sizes, dtypes if any(v for v in dtypes.values()) else None


def bundled_names() -> list[str]:
    """The bundled CNNs, by the names ``convrec mnist summary --model`` and ``mnist train``
    use (one vocabulary, read from :mod:`convrec.vision.models`)."""
    from convrec.vision.models import model_names

    return model_names()


def resolve_model(ref: str) -> Any:
    """A ``module:attribute`` / ``file.py:attribute`` path, or a bundled model's name."""
    from convrec.shapes import load_model

    if ":" in ref:
        return load_model(ref)
    from convrec.vision.models import build_model

    names = bundled_names()
    if ref not in names:
        raise UserError(f"unknown model {ref!r}: bundled models are {', '.join(names)}; or "
                        f"give a 'module:attribute' or 'file.py:attribute' path")
    return build_model(ref)


Format = Literal["table", "markdown", "json"]


@app.command("trace")
def trace_command(
    model: Annotated[str, typer.Argument(
        help="'package.module:attr', 'file.py:attr' (a module, a class or a function) or "
        "a bundled model (simple, simple_bn, fast, accurate).")],
    input_shape: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="Input shape, e.g. 64,1,28,28 (N, C, H, W) or 4,20:long; "
        "repeat NAME=SHAPE[:DTYPE] for keyword inputs (input_ids=2,16:long).")] = None,
    dtype: Annotated[str | None, typer.Option(
        "--dtype", help="dtype of the inputs: float (default), long (token ids), ...")] = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", help="Show containers down to this depth (0: the model's children); "
        "default every row.")] = None,
    static: Annotated[bool, typer.Option(
        "--static", help="Do not run the model: formulas only for nn.Sequential of known "
        "layers, meta tensors otherwise.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", "-f", help="table (terminal), markdown or json.")] = "table",
) -> None:
    """Trace MODEL on an input: every layer's and merge's shapes, formulas with your numbers,
    params, mult-adds (torchinfo's), receptive field along the dataflow graph; and why it
    fails, with checked fixes, if it does (exit code 1).

    Example: [bold]convrec shapes mymodel.py:Net --input 64,1,28,28[/]
    (a tagger: [bold]--input 4,20 --dtype long[/]; BERT: [bold]--input input_ids=2,16:long
    --input attention_mask=2,16:long[/])
    """
    if fmt not in ("table", "markdown", "json"):
        raise UserError(f"--format must be table, markdown or json, got {fmt!r}")
    if depth is not None and depth < 0:
        raise UserError(f"--depth must be >= 0, got {depth}")
    size, dtypes = parse_inputs(input_shape or ["64,1,28,28"], dtype)
    from convrec.shapes import render_rich, trace

    module = resolve_model(model)
    try:
        result = trace(module, size, dtypes=dtypes, run=not static, name=model)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if fmt == "json":
        print(result.to_json())
    elif fmt == "markdown":
        print(result.to_markdown(depth=depth), end="")
    else:
        console.print(render_rich(result, depth=depth, width=console.width))
    if not result.ok:
        raise SystemExit(1)  # typer.Exit is swallowed by run_app's standalone_mode=False


@app.command("solve")
def solve_command(
    n_in: Annotated[int, typer.Argument(help="Input size, e.g. 28.")],
    n_out: Annotated[int, typer.Argument(help="Wanted output size, e.g. 14.")],
    kind: Annotated[str, typer.Option(
        "--kind", help="conv, pool or transposed.")] = "conv",
    kernel: Annotated[list[int] | None, typer.Option(
        "--kernel", "-k", help="Kernel sizes to try (repeat). Default 1,2,3,4,5,7.")] = None,
    stride: Annotated[list[int] | None, typer.Option(
        "--stride", "-s", help="Strides to try (repeat). Default 1,2,3,4.")] = None,
    dilation: Annotated[list[int] | None, typer.Option(
        "--dilation", "-d", help="Dilations to try (repeat). Default 1.")] = None,
    max_padding: Annotated[int | None, typer.Option(
        "--max-padding", help="Largest padding per side (default: full padding d*(k-1)).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Most solutions shown.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Kernel/stride/padding combinations that turn N_IN into N_OUT, each with its formula
    (including TensorFlow-style 'same' padding with a stride, which may be asymmetric).

    Example: [bold]convrec shapes solve 28 14[/]
    """
    from rich.table import Table

    from convrec.shapes import solve

    if kind not in ("conv", "pool", "transposed"):
        raise UserError(f"--kind must be conv, pool or transposed, got {kind!r}")
    kwargs: dict[str, Any] = {}
    if kernel:
        kwargs["kernels"] = kernel
    if stride:
        kwargs["strides"] = stride
    if dilation:
        kwargs["dilations"] = dilation
    found = solve(n_in, n_out, kind=kind, max_padding=max_padding,  # type: ignore[arg-type]
                  limit=limit, **kwargs)
    if as_json:
        print(json.dumps([s.to_dict() for s in found], indent=2))
        return
    if not found:  # one error line, exit 2: these numbers have no answer among those tried
        raise UserError(f"N_OUT {n_out}: no combination of the tried kernels/strides/paddings "
                        f"maps N_IN {n_in} to it; try more with --kernel/--stride/--dilation "
                        "(or --kind transposed to grow the size)")
    table = Table(title=f"{kind}: {n_in} → {n_out}")
    for col in ("k", "s", "p (before, after)", "d", "formula", "note", "PyTorch"):
        table.add_column(col)
    for s in found:
        pad = str(s.padding[0]) if s.padding[0] == s.padding[1] else str(s.padding)
        note = "'same'" if s.same else ""
        if s.output_padding:
            note = f"output_padding={s.output_padding}"
        if s.explanation.dropped:
            note += (" " if note else "") + f"floor drops {s.explanation.dropped}"
        table.add_row(str(s.kernel), str(s.stride), pad, str(s.dilation), str(s.explanation),
                      note, s.code)
    console.print(table)
