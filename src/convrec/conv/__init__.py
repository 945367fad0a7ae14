"""Convolutions you can see: kernels, ``conv2d`` and its engines, shapes, matmul views.

Floor 0 of convrec: imports only numpy, scipy and (lazily) torch and numba.
"""

from convrec.conv.functional import ENGINES, choose_engine, conv2d
from convrec.conv.kernels import (
    EDGE_KERNEL_NAMES,
    diag1_edge,
    diag2_edge,
    edge_kernels,
    edge_weights,
    get_kernel,
    kernel_names,
    left_edge,
    load_kernel,
    parse_kernel,
    top_edge,
)
from convrec.conv.matmul import conv_matrix, conv_transpose_via_matrix, im2col
from convrec.conv.shapes import (
    ShapeError,
    ShapeExplanation,
    explain,
    explain_pool,
    explain_transposed,
    output_size,
    pool_output_size,
    receptive_field,
    same_padding,
    transposed_output_size,
)

__all__ = [
    "EDGE_KERNEL_NAMES",
    "ENGINES",
    "ShapeError",
    "ShapeExplanation",
    "choose_engine",
    "conv2d",
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
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "top_edge",
    "transposed_output_size",
]
