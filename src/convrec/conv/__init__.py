"""Convolutions you can see: kernels, ``conv2d`` and its engines, shapes, matmul views.

Floor 0 of convrec: imports only numpy, scipy and (lazily) torch and numba. Names are
resolved lazily (PEP 562) so that ``convrec conv shape`` answers without importing NumPy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from convrec.conv.functional import (
        ENGINES as ENGINES,
        choose_engine as choose_engine,
        conv2d as conv2d,
        conv2d_plan as conv2d_plan,
    )
    from convrec.conv.kernels import (
        EDGE_KERNEL_NAMES as EDGE_KERNEL_NAMES,
        diag1_edge as diag1_edge,
        diag2_edge as diag2_edge,
        edge_kernels as edge_kernels,
        edge_weights as edge_weights,
        get_kernel as get_kernel,
        kernel_names as kernel_names,
        left_edge as left_edge,
        load_kernel as load_kernel,
        parse_kernel as parse_kernel,
        top_edge as top_edge,
    )
    from convrec.conv.limits import ConvLimits as ConvLimits, LimitError as LimitError
    from convrec.conv.matmul import (
        conv_matrix as conv_matrix,
        conv_transpose_via_matrix as conv_transpose_via_matrix,
        im2col as im2col,
    )
    from convrec.conv.shapes import (
        PADDING_MODES as PADDING_MODES,
        PADDING_NAMES as PADDING_NAMES,
        Conv2dPlan as Conv2dPlan,
        ShapeError as ShapeError,
        ShapeExplanation as ShapeExplanation,
        explain as explain,
        explain_pool as explain_pool,
        explain_transposed as explain_transposed,
        output_size as output_size,
        parse_padding as parse_padding,
        pool_output_size as pool_output_size,
        receptive_field as receptive_field,
        same_padding as same_padding,
        transposed_output_size as transposed_output_size,
    )

_HOMES = {
    "functional": ("ENGINES", "choose_engine", "conv2d", "conv2d_plan"),
    "limits": ("ConvLimits", "LimitError"),
    "kernels": (
        "EDGE_KERNEL_NAMES", "diag1_edge", "diag2_edge", "edge_kernels", "edge_weights",
        "get_kernel", "kernel_names", "left_edge", "load_kernel", "parse_kernel", "top_edge",
    ),
    "matmul": ("conv_matrix", "conv_transpose_via_matrix", "im2col"),
    "shapes": (
        "PADDING_MODES", "PADDING_NAMES", "Conv2dPlan", "parse_padding",
        "ShapeError", "ShapeExplanation", "explain", "explain_pool", "explain_transposed",
        "output_size", "pool_output_size", "receptive_field", "same_padding",
        "transposed_output_size",
    ),
}

__all__ = [
    "EDGE_KERNEL_NAMES",
    "ENGINES",
    "PADDING_MODES",
    "PADDING_NAMES",
    "Conv2dPlan",
    "ConvLimits",
    "LimitError",
    "ShapeError",
    "ShapeExplanation",
    "choose_engine",
    "conv2d",
    "conv2d_plan",
    "conv_matrix",
    "conv_transpose_via_matrix",
    "diag1_edge",
    "diag2_edge",
    "edge_kernels",
    "edge_weights",
    "explain",
    "explain_pool",
    "explain_transposed",
    "get_kernel",
    "im2col",
    "kernel_names",
    "left_edge",
    "load_kernel",
    "output_size",
    "parse_kernel",
    "parse_padding",
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "top_edge",
    "transposed_output_size",
]


# PEP 562 through scientific-python's lazy_loader: a name's submodule is imported on first use
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_HOMES)
