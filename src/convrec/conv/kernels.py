"""Named convolution kernels: fastai's four edge kernels, the classics, and user kernels.

Every kernel is a float32 array of shape ``(kH, kW)``. Conventions, stated once because
libraries disagree (scipy/scipy#18425):

- All kernels are meant for *cross-correlation* (what ``torch.nn.functional.conv2d`` and
  :func:`convrec.conv.conv2d` compute). ``sobel_x`` responds positively where intensity
  grows to the right, ``sobel_y`` where it grows downwards (row index increases).
- Directional kernels (Sobel, Prewitt, Scharr) give one direction only, not a magnitude;
  combine ``x`` and ``y`` with ``hypot`` for the magnitude.
- No kernel is normalised unless its name says so (``gaussian``, ``box`` sum to 1).

fastai's kernels (book chapter 13) are reproduced exactly::

    top_edge   = [[-1,-1,-1],[ 0, 0, 0],[ 1, 1, 1]]
    left_edge  = [[-1, 1, 0],[-1, 1, 0],[-1, 1, 0]]
    diag1_edge = [[ 0,-1, 1],[-1, 1, 0],[ 1, 0, 0]]
    diag2_edge = [[ 1,-1, 0],[ 0, 1,-1],[ 0, 0, 1]]
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EDGE_KERNEL_NAMES",
    "KERNELS",
    "box",
    "diag1_edge",
    "diag2_edge",
    "edge_kernels",
    "edge_weights",
    "gaussian",
    "get_kernel",
    "kernel_names",
    "left_edge",
    "load_kernel",
    "parse_kernel",
    "top_edge",
    "validate_kernel",
]

Kernel = NDArray[np.float32]


def _k(rows: list[list[float]]) -> Kernel:
    kernel = np.array(rows, dtype=np.float32)
    kernel.setflags(write=False)  # module constants must not be changed by accident
    return kernel


# fastai book, chapter 13: exact values.
top_edge: Kernel = _k([[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
left_edge: Kernel = _k([[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]])
diag1_edge: Kernel = _k([[0, -1, 1], [-1, 1, 0], [1, 0, 0]])
diag2_edge: Kernel = _k([[1, -1, 0], [0, 1, -1], [0, 0, 1]])

#: The order fastai stacks them in: left, top, diag1, diag2.
EDGE_KERNEL_NAMES: tuple[str, ...] = ("left_edge", "top_edge", "diag1_edge", "diag2_edge")

#: The four edge kernels stacked, shape (4, 3, 3).
edge_kernels: Kernel = _k(np.stack([left_edge, top_edge, diag1_edge, diag2_edge]).tolist())


def edge_weights() -> Kernel:
    """The four edge kernels as conv weights.

    Shape:
        ``(4, 1, 3, 3)``: ``(out_channels, in_channels, kH, kW)``, ready for
        ``conv2d(batch_of_shape_(N,1,H,W), edge_weights())`` → ``(N, 4, H-2, W-2)``.
    """
    return edge_kernels[:, None].copy()  # (4, 1, 3, 3)


def gaussian(size: int = 5, sigma: float = 1.0) -> Kernel:
    """A normalised Gaussian blur kernel of shape ``(size, size)`` (sums to 1).

    Args:
        size: odd side length, ≥ 1.
        sigma: standard deviation in pixels, > 0.
    """
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be an odd integer >= 1, got size={size!r}")
    if not (isinstance(sigma, int | float) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got sigma={sigma!r}")
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(r**2) / (2 * sigma**2))
    k2 = np.outer(g, g)
    kernel: Kernel = (k2 / k2.sum()).astype(np.float32)
    return kernel


def box(size: int = 3) -> Kernel:
    """A normalised box (mean) filter of shape ``(size, size)``."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got size={size!r}")
    return np.full((size, size), 1.0 / (size * size), dtype=np.float32)


_FIXED: dict[str, Kernel] = {
    "top_edge": top_edge,
    "left_edge": left_edge,
    "diag1_edge": diag1_edge,
    "diag2_edge": diag2_edge,
    "sobel_x": _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
    "sobel_y": _k([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
    "prewitt_x": _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "prewitt_y": _k([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "scharr_x": _k([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]),
    "scharr_y": _k([[-3, -10, -3], [0, 0, 0], [3, 10, 3]]),
    "laplacian": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
}

#: Every named kernel with its default parameters. Parametrised kernels are built on demand.
def _constant(kernel: Kernel) -> Callable[[], Kernel]:
    return lambda: kernel


KERNELS: dict[str, Callable[[], Kernel]] = {
    **{name: _constant(k) for name, k in _FIXED.items()},
    "gaussian": lambda: gaussian(5, 1.0),
    "box": lambda: box(3),
}


def kernel_names() -> list[str]:
    """Names accepted by :func:`get_kernel`, in display order."""
    return list(KERNELS)


def get_kernel(name: str) -> Kernel:
    """Look a kernel up by name (see :func:`kernel_names`).

    ``gaussian`` and ``box`` also accept parameters in the name: ``gaussian:7:1.5``
    (size 7, sigma 1.5), ``box:5``.

    Raises:
        KeyError: for an unknown name; the message lists the known names.
    """
    base, *params = name.strip().split(":")
    try:
        if base == "gaussian" and params:
            size = int(params[0])
            sigma = float(params[1]) if len(params) > 1 else 1.0
            return gaussian(size, sigma)
        if base == "box" and params:
            return box(int(params[0]))
    except ValueError as exc:
        raise ValueError(f"kernel {name!r}: {exc}") from exc
    if base not in KERNELS or (params and base not in ("gaussian", "box")):
        raise KeyError(
            f"unknown kernel {name!r}; known kernels: {', '.join(kernel_names())} "
            "(or pass values such as '-1,-1,-1;0,0,0;1,1,1')"
        )
    return KERNELS[base]()


def validate_kernel(values: ArrayLike, source: str = "kernel") -> Kernel:
    """Check that ``values`` is a usable kernel and return it as float32 ``(kH, kW)``.

    Rules: 2-D, non-empty, every value finite.

    Raises:
        ValueError: naming ``source``, what was received and the rule it broke.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: values must be numbers ({exc})") from exc
    if arr.ndim != 2:
        raise ValueError(f"{source}: a kernel must be 2-D (kH, kW), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{source}: a kernel must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{source}: every kernel value must be finite (no NaN or inf)")
    return arr.astype(np.float32)


def parse_kernel(text: str) -> Kernel:
    """Parse a kernel written as rows separated by ``;`` and values by ``,`` or spaces.

    Example:
        >>> parse_kernel("-1,-1,-1; 0,0,0; 1,1,1").tolist()
        [[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    rows = [r for r in text.strip().split(";") if r.strip()]
    parsed: list[list[float]] = []
    for i, row in enumerate(rows):
        cells = [c for c in row.replace(",", " ").split() if c]
        try:
            parsed.append([float(c) for c in cells])
        except ValueError as exc:
            raise ValueError(f"kernel text row {i + 1} ({row.strip()!r}): {exc}") from exc
    lengths = {len(r) for r in parsed}
    if len(lengths) > 1:
        raise ValueError(
            f"kernel text {text!r}: every row needs the same number of values, "
            f"got row lengths {[len(r) for r in parsed]}"
        )
    return validate_kernel(parsed, source=f"kernel text {text!r}")


def load_kernel(spec: str | Path) -> Kernel:
    """Load a kernel from a name, inline text, or a ``.json``, ``.csv`` or ``.npy`` file.

    - a name from :func:`kernel_names` (``"top_edge"``, ``"gaussian:7:1.5"``);
    - inline text ``"-1,-1,-1;0,0,0;1,1,1"``;
    - ``.json``: a list of rows, or ``{"kernel": [[...], ...]}``;
    - ``.csv``: one row per line, comma separated;
    - ``.npy``: a 2-D numeric array (loaded with ``allow_pickle=False``).
    """
    text = str(spec)
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv", ".npy"):
        if not path.is_file():
            raise FileNotFoundError(f"kernel file not found: {path}")
        if suffix == ".npy":
            try:
                data = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ValueError(f"kernel file {path}: not a valid .npy array ({exc})") from exc
            return validate_kernel(data, source=f"kernel file {path}")
        raw = path.read_text(encoding="utf-8")
        if suffix == ".json":
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"kernel file {path}: invalid JSON ({exc})") from exc
            if isinstance(obj, dict):
                obj = obj.get("kernel")
            return validate_kernel(obj, source=f"kernel file {path}")
        return parse_kernel(";".join(line for line in raw.splitlines() if line.strip()))
    if any(ch.isdigit() for ch in text) and (";" in text or "," in text) and ":" not in text:
        return parse_kernel(text)
    return get_kernel(text)
