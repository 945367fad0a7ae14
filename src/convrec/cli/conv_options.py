"""The convolution options that ``convrec conv shape`` and ``convrec conv animate`` share,
declared once: the same flag, letter, type and words in every command that takes them."""

from __future__ import annotations

from typing import Annotated

import typer

from convrec.conv.shapes import PADDING_MODES, PADDING_NAMES  # no NumPy: help stays light

__all__ = ["PADDING_NAMES_HELP", "DilationOption", "KernelOption", "OutputPaddingOption",
           "PaddingModeOption", "StrideOption", "TransposedOption"]

KernelOption = Annotated[int, typer.Option("-k", "--kernel", help="Kernel size.")]
StrideOption = Annotated[int, typer.Option("-s", "--stride", help="Stride.")]
DilationOption = Annotated[int, typer.Option("-d", "--dilation", help="Dilation.")]
TransposedOption = Annotated[
    bool, typer.Option("--transposed", help="The transposed convolution instead.")
]
OutputPaddingOption = Annotated[
    int, typer.Option("--output-padding", help="Transposed only: extra output rows and "
                      "columns (less than the stride or the dilation).")
]
PaddingModeOption = Annotated[
    str, typer.Option("--padding-mode", help=f"How the border is filled: "
                      f"{', '.join(PADDING_MODES)}.")
]
#: the words every ``--padding`` help ends with (the named paddings, from conv)
PADDING_NAMES_HELP = " or ".join([", ".join(PADDING_NAMES[:-1]), PADDING_NAMES[-1]])
