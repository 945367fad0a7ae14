"""The convolution options that ``convrec conv shape`` and ``convrec conv animate`` share,
declared once: the same flag, letter, type and words in every command that takes them."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DilationOption", "KernelOption", "OutputPaddingOption", "StrideOption",
           "TransposedOption"]

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
