"""``convrec conv animate``: conv_arithmetic-style GIFs for any numbers, captioned."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convrec.cli.common import UserError, console, output_file, unnamed_output
from convrec.cli.conv_options import (
    PADDING_NAMES_HELP,
    DilationOption,
    KernelOption,
    OutputPaddingOption,
    StrideOption,
    TransposedOption,
)

__all__ = ["animate"]


def _input_size(text: str) -> int | tuple[int, int]:
    parts = text.lower().replace(" ", "").split("x")
    if not all(p.isdigit() for p in parts) or len(parts) not in (1, 2):
        raise UserError(f"--input must be a size such as 5 or 5x7, got {text!r}")
    sizes = [int(p) for p in parts]
    if min(sizes) < 1:
        raise UserError(f"--input {text}: sizes start at 1 (one pixel)")
    return sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1])


def _padding(text: str) -> int | str:
    from convrec.conv import shapes as S

    parsed = S.parse_padding(text, name="--padding")  # conv's one padding parser
    if isinstance(parsed, str):
        return parsed
    if len(set(parsed)) != 1:
        raise UserError(f"--padding {text!r}: the animation takes one amount for every side, "
                        "e.g. -p 1, or same, full, valid")
    return parsed[0]


def animate(
    input_size: Annotated[
        str, typer.Option("--input", "-i", help="Input size: 5, or 5x7 (rows x columns).")
    ] = "5",
    kernel: KernelOption = 3,
    padding: Annotated[
        str, typer.Option("-p", "--padding", help=f"An int, {PADDING_NAMES_HELP}.")
    ] = "0",
    stride: StrideOption = 1,
    dilation: DilationOption = 1,
    transposed: TransposedOption = False,
    output_padding: OutputPaddingOption = 0,
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="The GIF to write (default: convolution.gif; an existing file is "
        "replaced only when named).", parser=output_file("GIF", "anim.gif", "-o"))] = None,
    cell: Annotated[int, typer.Option("--cell", help="Pixels per cell, 8 to 64.")] = 28,
    ms: Annotated[int, typer.Option("--ms", help="Milliseconds per frame, 20 to 5000.")] = 500,
) -> None:
    """Animate a convolution as conv_arithmetic does: the window slides, the output fills.

    Blue: the input; dashed white: padding (or, transposed, zeros around and, dotted, between
    the input pixels); dark blue: the window; cyan: the output; red: rows and columns the
    floor never visits. Each frame is captioned with the output-size formula in your numbers.

    Example: [bold]convrec conv animate --input 5 -k 3 -p 1 -s 2 -o anim.gif[/]
    """
    from convrec.vision.animate import AnimationSpec, animate_convolution

    if not 8 <= cell <= 64:
        raise UserError(f"--cell {cell}: give 8 to 64 pixels per cell")
    if not 20 <= ms <= 5000:
        raise UserError(f"--ms {ms}: give 20 to 5000 milliseconds per frame")
    if output_padding and not transposed:
        raise UserError("--output-padding is for a transposed convolution: add --transposed")
    out = unnamed_output("-o", out, Path("convolution.gif"))
    if out.suffix.lower() != ".gif":
        raise UserError(f"-o {out}: the animation is a GIF; name the file with .gif")
    if not out.parent.is_dir():
        raise UserError(f"-o {out}: the folder {out.parent} does not exist")
    spec = AnimationSpec(
        n=_input_size(input_size), kernel=kernel, stride=stride, padding=_padding(padding),
        dilation=dilation, transposed=transposed, output_padding=output_padding,
    )
    path = animate_convolution(out, spec, cell=cell, ms_per_frame=ms)
    from PIL import Image

    with Image.open(path) as gif:
        frames, size = getattr(gif, "n_frames", 1), gif.size
    console.print(f"{frames} frames, {size[0]}×{size[1]} pixels: {path}", highlight=False,
                  soft_wrap=True)
