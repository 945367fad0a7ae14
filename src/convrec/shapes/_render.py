"""Render a :class:`~convrec.shapes.Trace` as terminal text (rich), markdown or HTML.

Nothing here computes a shape: the text comes from the rows' explanations and formulas.
The terminal layout fits 80 columns: one line per row (number, layer, output, params,
receptive field) with its formulas on their own indented lines below, so that a long
formula wraps instead of pushing a column off the screen. ``rich`` is imported inside
:func:`render_rich` only.
"""

from __future__ import annotations

import html
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from convrec.shapes._result import Row, Trace, fmt_shape

if TYPE_CHECKING:
    from convrec.shapes._result import Failure


def _frac(v: Fraction | int) -> str:
    f = Fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _dropped_text(row: Row) -> str:
    """What the floor dropped, in words: 'the floor drops the last 1 row and 1 column'."""
    expls = row.explanations
    if not any(e.dropped for e in expls):
        return ""
    names = (["row", "column"] if len(expls) == 2 else
             ["sample"] if len(expls) == 1 else ["plane", "row", "column"][: len(expls)])
    parts = []
    for e, n in zip(expls, names, strict=False):
        if e.dropped:
            parts.append(f"{e.dropped} {n}{'s' if e.dropped > 1 else ''}")
    return "the floor drops the last " + " and ".join(parts) + " of the padded input"


def _why(row: Row) -> list[str]:
    texts = [str(e) for e in row.explanations]
    if len(texts) == 2 and texts[0] == texts[1]:
        texts = [f"H, W: {texts[0]}"]
    elif len(texts) == 2:
        texts = [f"H: {texts[0]}", f"W: {texts[1]}"]
    elif len(texts) == 3 and len(set(texts)) == 1:
        texts = [f"D, H, W: {texts[0]}"]
    seen: set[str] = set()
    out = []
    for t in texts + list(row.formulas):
        if t not in seen:  # a formula that is also a note is shown once
            seen.add(t)
            out.append(t)
    return out


def _rf(row: Row) -> str:
    if row.receptive_field is not None:
        sizes = row.receptive_field
        jumps = row.jump or ()
        if len(set(sizes)) == 1 and len(set(jumps)) <= 1:
            size = str(sizes[0])
            jump = _frac(jumps[0]) if jumps else "1"
        else:
            size = "×".join(str(v) for v in sizes)
            jump = "×".join(_frac(j) for j in jumps)
        bound = "≤" if row.rf_note == "at most" else ""
        return f"{bound}{size} j{jump}"
    return row.rf_note


def _kernel(row: Row) -> str:
    return "×".join(str(k) for k in row.kernel_shape)


def _visible(trace: Trace, depth: int | None) -> list[Row]:
    """Rows and containers in tree order, down to ``depth`` (containers at the last level
    stand for their children)."""
    return [r for r in trace.tree if depth is None or r.depth <= depth]


def _memory(trace: Trace) -> str:
    mb = 1024 * 1024

    def f(n: int) -> str:
        return f"{n / mb:,.2f}"

    total = trace.input_bytes + trace.forward_backward_bytes + trace.param_bytes
    return (f"memory (MB): input {f(trace.input_bytes)} · forward/backward "
            f"{f(trace.forward_backward_bytes)} · params {f(trace.param_bytes)} · "
            f"total {f(total)}")


def trace_markdown(trace: Trace, depth: int | None = None) -> str:
    """Markdown: a header line, the table, totals, warnings and the failure (if any)."""
    status = (f"output {fmt_shape(trace.output_shape)}" if trace.ok
              else f"FAILS at {trace.failure.layer}" if trace.failure else "")
    lines = [
        f"**{trace.model}** on {trace.inputs_text} ({trace.mode}): {status}",
        "",
        "| # | layer | type | kernel | input | output | why (your numbers) | params | "
        "mult-adds | RF |",
        "|---|---|---|---|---|---|---|---:|---:|---|",
    ]
    for row in _visible(trace, depth):
        why = "<br>".join(f"`{t}`" for t in _why(row))
        dropped = _dropped_text(row)
        if dropped:
            why += f" ({dropped})"
        inputs = (" ⊕ ".join(fmt_shape(s) for s in row.input_shapes) if row.input_shapes
                  else fmt_shape(row.input_shape))
        name = ("&nbsp;&nbsp;" * row.depth) + row.name
        number = "" if row.kind == "container" else str(row.index)
        lines.append(
            f"| {number} | {name} | {row.type} | {_kernel(row)} | {inputs} | "
            f"{fmt_shape(row.output_shape)} | {why} | {row.params:,} | {row.mult_adds:,} | "
            f"{_rf(row)} |"
        )
    if trace.failure is not None:
        f = trace.failure
        lines.append(f"| {len(trace.rows)} | {f.layer} | {f.layer_type} | | "
                     f"{fmt_shape(f.input_shape)} | **✗ FAILS** | see below | | | |")
    lines.append("")
    lines.append(f"Total params: {trace.total_params:,} (trainable {trace.trainable_params:,}); "
                 f"total mult-adds: {trace.total_mult_adds:,}; {_memory(trace)}")
    for w in trace.warnings:
        lines.append(f"\n> warning: {w}")
    if trace.failure is not None:
        lines.append("")
        lines.append(_failure_markdown(trace.failure))
    return "\n".join(lines) + "\n"


def trace_html(trace: Trace, depth: int | None = None) -> str:
    """An HTML table (for notebooks' ``_repr_html_``)."""
    e = html.escape
    status = (f"output {fmt_shape(trace.output_shape)}" if trace.ok
              else f"FAILS at {trace.failure.layer}" if trace.failure else "")
    out = [f"<p><b>{e(trace.model)}</b> on {e(trace.inputs_text)} ({trace.mode}): "
           f"{e(status)}</p>", "<table>",
           "<tr><th>#</th><th>layer</th><th>type</th><th>output</th>"
           "<th>why (your numbers)</th><th>params</th><th>mult-adds</th><th>RF</th></tr>"]
    for row in _visible(trace, depth):
        why = "<br>".join(f"<code>{e(t)}</code>" for t in _why(row))
        out.append(
            f"<tr><td>{'' if row.kind == 'container' else row.index}</td>"
            f"<td>{'&nbsp;' * 2 * row.depth}{e(row.name)}</td>"
            f"<td>{e(row.type)}</td><td>{e(fmt_shape(row.output_shape))}</td><td>{why}</td>"
            f"<td>{row.params:,}</td><td>{row.mult_adds:,}</td><td>{e(_rf(row))}</td></tr>")
    out.append("</table>")
    out.append(f"<p>Total params {trace.total_params:,}; total mult-adds "
               f"{trace.total_mult_adds:,}; {e(_memory(trace))}</p>")
    if trace.failure is not None:
        out.append(f"<pre>{e(trace.failure.to_text())}</pre>")
    return "\n".join(out)


def _failure_markdown(failure: Failure) -> str:
    out = [f"**FAILS at {failure.layer} ({failure.layer_type})** with input "
           f"`{fmt_shape(failure.input_shape)}`: {failure.summary}", "",
           f"{failure.source} says: `{failure.error}`"]
    if failure.cause:
        out += ["", "Why:"] + [f"- {c}" for c in failure.cause]
    if failure.chain:
        out += ["", "How the size came to be:", "```", *failure.chain, "```"]
    if failure.fixes:
        out += ["", "Changes that make it fit (each checked):"]
        out += [f"- {f}" for f in failure.fixes]
    return "\n".join(out)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def render_rich(trace: Trace, *, compact: bool = False, depth: int | None = None,
                width: int = 80) -> Any:
    """A rich renderable (``rich.console.Group``) of the trace: the table, totals, failure.

    Every row is one line (``#``, layer and type, output shape, params, receptive field;
    with ``compact=False`` also the kernel, input shape and mult-adds when ``width``
    allows) and its formulas follow on their own indented lines, so nothing is cut at 80
    columns. ``depth`` folds containers deeper than it (torchinfo's ``depth``). Print it
    with ``rich.console.Console().print(render_rich(trace))``.
    """
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    rows = _visible(trace, depth)
    wide = not compact and width >= 120
    cells: list[tuple[str, ...]] = []
    for row in rows:
        layer = "  " * row.depth + f"{row.name} {row.type}"
        output = ("✗ fails inside" if row.kind == "container" and row.output_shape is None
                  else fmt_shape(row.output_shape))
        base = ["" if row.kind == "container" else str(row.index), layer, output,
                f"{row.params:,}" if row.params or row.kind == "module" else "", _rf(row)]
        if wide:
            base[2:2] = [_kernel(row), " ⊕ ".join(fmt_shape(s) for s in row.input_shapes)
                         if row.input_shapes else fmt_shape(row.input_shape)]
            base.insert(-1, f"{row.mult_adds:,}" if row.mult_adds else "")
        cells.append(tuple(base))
    heads = ["#", "layer", "output", "params", "RF j=jump"]
    if wide:
        heads[2:2] = ["kernel", "input"]
        heads.insert(-1, "mult-adds")
    fixed = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    layer_col = heads.index("layer")
    others = sum(w for i, w in enumerate(fixed) if i != layer_col) + 2 * (len(heads) - 1) + 2
    fixed[layer_col] = max(min(fixed[layer_col], width - others), 12)
    right = {"params", "mult-adds", "#"}

    def line(values: tuple[str, ...] | list[str]) -> str:
        parts = []
        for i, (v, h) in enumerate(zip(values, heads, strict=True)):
            v = _cut(v, fixed[i])
            parts.append(v.rjust(fixed[i]) if h in right else v.ljust(fixed[i]))
        return ("  " + "  ".join(parts)).rstrip()

    title = f"{trace.model} on {trace.inputs_text} ({trace.mode})"
    body = Text()
    body.append(title + "\n", style="bold")
    body.append(line(heads) + "\n", style="bold")
    body.append("  " + "─" * (min(sum(fixed) + 2 * (len(heads) - 1), width - 2)) + "\n")
    indent = " " * (2 + fixed[0] + 2 + 4)
    for row, values in zip(rows, cells, strict=True):
        body.append(line(values) + "\n", style="dim" if row.kind == "container" else "")
        whys = _why(row) if row.kind != "container" else []
        dropped = _dropped_text(row)
        if dropped:
            whys.append(dropped)
        for w in whys:
            body.append(_wrap(w, indent, width) + "\n", style="green")
    if trace.failure is not None:
        f = trace.failure
        body.append(line([str(len(trace.rows)), f"{f.layer} {f.layer_type}", "✗ FAILS", "",
                          *[""] * (len(heads) - 4)]) + "\n", style="bold red")
    parts: list[Any] = [body]
    parts.append(Text(f"params {trace.total_params:,} (trainable "
                      f"{trace.trainable_params:,}) · mult-adds {trace.total_mult_adds:,}"))
    if trace.ok:
        parts.append(Text(f"output {fmt_shape(trace.output_shape)}"))
    parts.append(Text(_memory(trace), style="dim"))
    for w in trace.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    if trace.failure is not None:
        parts.append(Panel(Text(trace.failure.to_text()), title="why it fails",
                           border_style="red", expand=False, width=min(width, 100)))
    return Group(*parts)


def _wrap(text: str, indent: str, width: int) -> str:
    """``text`` wrapped at ``width`` with every line indented."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=max(width, len(indent) + 20),
                                   initial_indent=indent, subsequent_indent=indent + "  ",
                                   break_on_hyphens=False))
