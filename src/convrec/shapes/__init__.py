"""Why this shape: trace any PyTorch model layer by layer and explain every shape.

Floor 1 of convrec: imports only :mod:`convrec.conv` (whose shape arithmetic it renders,
never re-derives) and, lazily inside functions, torch and rich. ``import convrec.shapes``
does not import torch.

Example:
    >>> from torch import nn
    >>> from convrec.shapes import trace
    >>> t = trace(nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1)), (64, 1, 28, 28))
    >>> str(t.rows[0].explanations[0])
    '(28 + 2*1 - 3)//2 + 1 = 14'
"""

from convrec.shapes._load import load_model
from convrec.shapes._render import render_rich
from convrec.shapes._result import Failure, InputInfo, Row, Trace, fmt_shape
from convrec.shapes._solve import Solution, solve
from convrec.shapes._specs import LayerShape, LayerShapeError, spec_of
from convrec.shapes._trace import DTYPES, trace

__all__ = [
    "DTYPES",
    "Failure",
    "InputInfo",
    "LayerShape",
    "LayerShapeError",
    "Row",
    "Solution",
    "Trace",
    "fmt_shape",
    "load_model",
    "render_rich",
    "solve",
    "spec_of",
    "trace",
]
