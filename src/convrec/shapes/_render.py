"""Render a :class:`~convrec.shapes.Trace` as markdown or as a rich renderable.

Nothing here computes a shape: the text comes from the rows' explanations and formulas.
``rich`` is imported inside :func:`render_rich` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from convrec.shapes._result import Row, Trace, fmt_shape

if TYPE_CHECKING:
    from convrec.shapes._result import Failure


def _why(row: Row) -> list[str]:
    texts = [str(e) for e in row.explanations]
    if len(texts) == 2 and texts[0] == texts[1]:
        texts = [f"H, W: {texts[0]}"]
    elif len(texts) == 2:
        texts = [f"H: {texts[0]}", f"W: {texts[1]}"]
    return texts + list(row.formulas)


def _rf(row: Row, compact: bool = False) -> str:
    if row.receptive_field is not None:
        size = "×".join(str(v) for v in row.receptive_field)
        jump = "×".join(str(v) for v in row.jump or ())
        if len(set(row.receptive_field)) == 1 and len(set(row.jump or ())) == 1:
            size, jump = str(row.receptive_field[0]), str((row.jump or (1,))[0])
        return f"{size} j{jump}" if compact else f"{size} (jump {jump})"
    return row.rf_note


def _name(row: Row) -> str:
    return "  " * row.depth + row.name


def _dropped(row: Row) -> str:
    parts = [f"{e.dropped}" for e in row.explanations if e.dropped]
    return "dropped " + "/".join(parts) if parts else ""


def trace_markdown(trace: Trace) -> str:
    """Markdown: a header line, the table, totals, warnings and the failure (if any)."""
    status = (f"output {fmt_shape(trace.output_shape)}" if trace.ok
              else f"FAILS at {trace.failure.layer}" if trace.failure else "")
    lines = [
        f"**{trace.model}** on input `{fmt_shape(trace.input_shape)}` ({trace.mode}): {status}",
        "",
        "| # | layer | type | input | output | why (your numbers) | params | mult-adds | RF |",
        "|---|---|---|---|---|---|---:|---:|---|",
    ]
    for row in trace.rows:
        why = "<br>".join(f"`{t}`" for t in _why(row))
        dropped = _dropped(row)
        if dropped:
            why += f" ({dropped})"
        lines.append(
            f"| {row.index} | {row.name} | {row.type} | {fmt_shape(row.input_shape)} | "
            f"{fmt_shape(row.output_shape)} | {why} | {row.params:,} | {row.mult_adds:,} | "
            f"{_rf(row)} |"
        )
    if trace.failure is not None:
        f = trace.failure
        lines.append(f"| {len(trace.rows)} | {f.layer} | {f.layer_type} | "
                     f"{fmt_shape(f.input_shape)} | **✗ FAILS** | see below | | | |")
    lines.append("")
    lines.append(f"Total params: {trace.total_params:,} (trainable {trace.trainable_params:,}); "
                 f"total mult-adds: {trace.total_mult_adds:,}")
    for w in trace.warnings:
        lines.append(f"\n> warning: {w}")
    if trace.failure is not None:
        lines.append("")
        lines.append(_failure_markdown(trace.failure))
    return "\n".join(lines) + "\n"


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


def render_rich(trace: Trace, *, compact: bool = False) -> Any:
    """A rich renderable (``rich.console.Group``) of the trace: the table, totals, failure.

    ``compact=True`` (for terminals narrower than ~140 columns) leaves out the input shape
    (it is the previous row's output) and the mult-adds column. Print it with
    ``rich.console.Console().print(render_rich(trace))``.
    """
    from rich import box
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    title = f"{trace.model} on input {fmt_shape(trace.input_shape)} ({trace.mode})"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer", style="bold", no_wrap=True)
    if not compact:
        table.add_column("input", no_wrap=True)
    table.add_column("output", style="cyan", no_wrap=True)
    table.add_column("why (your numbers)", style="green", min_width=24)
    table.add_column("params", justify="right")
    if not compact:
        table.add_column("mult-adds", justify="right")
    table.add_column("RF j=jump" if compact else "RF", no_wrap=True)
    for row in trace.rows:
        why = "\n".join(_why(row))
        dropped = _dropped(row)
        if dropped:
            why += f"\n{dropped}"
        cells = [str(row.index), f"{_name(row)} {row.type}"]
        if not compact:
            cells.append(fmt_shape(row.input_shape))
        cells += [fmt_shape(row.output_shape), why, f"{row.params:,}"]
        if not compact:
            cells.append(f"{row.mult_adds:,}" if row.mult_adds else "")
        cells.append(_rf(row, compact))
        table.add_row(*cells)
    if trace.failure is not None:
        f = trace.failure
        cells = [str(len(trace.rows)), f"{f.layer} {f.layer_type}"]
        if not compact:
            cells.append(fmt_shape(f.input_shape))
        cells += ["✗ FAILS", "see below", ""]
        if not compact:
            cells.append("")
        cells.append("")
        table.add_row(*cells, style="bold red")
    parts: list[Any] = [table]
    parts.append(Text(f"total params {trace.total_params:,} (trainable "
                      f"{trace.trainable_params:,}) · total mult-adds "
                      f"{trace.total_mult_adds:,}"
                      + (f" · output {fmt_shape(trace.output_shape)}" if trace.ok else "")))
    for w in trace.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    if trace.failure is not None:
        parts.append(Panel(Text(trace.failure.to_text()), title="why it fails",
                           border_style="red", expand=False))
    return Group(*parts)
