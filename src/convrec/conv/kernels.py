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

from convrec.conv.limits import ConvLimits, check_kernel_size

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
    "kernel_spec_shape",
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


def _sized_name(text: str) -> tuple[int, int] | None:
    """``(size, size)`` of ``gaussian:SIZE[:SIGMA]`` / ``box:SIZE``, read without building it."""
    base, *params = text.strip().split(":")
    if base in ("gaussian", "box") and params and params[0].strip().isdigit():
        size = int(params[0])
        return (size, size)
    return None


def kernel_spec_shape(spec: str | Path) -> tuple[int, int] | None:
    """The ``(kH, kW)`` a kernel spec would build, measured without building it.

    Known for sized names (``gaussian:6001`` → ``(6001, 6001)``), inline text (rows and
    values counted) and ``.npy`` files (read from the header); ``None`` when it cannot be
    told cheaply (then the built kernel is checked). Faces call it with
    :func:`convrec.conv.limits.check_kernel_size` so that an oversized kernel is refused
    before its memory is allocated.
    """
    text = str(spec)
    if Path(text).suffix.lower() == ".npy" and Path(text).is_file():
        try:
            shape = np.load(text, mmap_mode="r", allow_pickle=False).shape
        except (ValueError, OSError):
            return None
        return (int(shape[0]), int(shape[1])) if len(shape) == 2 else None
    sized = _sized_name(text)
    if sized is not None:
        return sized
    if _looks_like_values(text):
        rows = [r for r in text.split(";") if r.strip()]
        return (len(rows), max(len(r.replace(",", " ").split()) for r in rows))
    return None


def _looks_like_values(text: str) -> bool:
    return any(ch.isdigit() for ch in text) and (";" in text or "," in text) and ":" not in text


def get_kernel(name: str, limits: ConvLimits | None = None) -> Kernel:
    """Look a kernel up by name (see :func:`kernel_names`).

    ``gaussian`` and ``box`` also accept parameters in the name: ``gaussian:7:1.5``
    (size 7, sigma 1.5), ``box:5``. With ``limits``, a size over ``limits.max_kernel_size``
    is refused before the kernel is built.

    Raises:
        KeyError: for an unknown name; the message lists the known names.
        LimitError: for a size over the limit.
    """
    if not isinstance(name, str):
        raise TypeError(f"kernel name must be a string such as 'top_edge' or 'gaussian:5', "
                        f"got {name!r}")
    sized = _sized_name(name)
    if limits is not None and sized is not None:
        check_kernel_size(sized, limits, shown=name)
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


def load_kernel(spec: str | Path, limits: ConvLimits | None = None) -> Kernel:
    """Load a kernel from a name, inline text, or a ``.json``, ``.csv`` or ``.npy`` file.

    With ``limits``, a kernel over ``limits.max_kernel_size`` per side is refused (a
    :class:`~convrec.conv.limits.LimitError`) before it is built when its size can be read
    from the spec (:func:`kernel_spec_shape`), else right after loading.

    - a name from :func:`kernel_names` (``"top_edge"``, ``"gaussian:7:1.5"``);
    - inline text ``"-1,-1,-1;0,0,0;1,1,1"``;
    - ``.json``: a list of rows, or ``{"kernel": [[...], ...]}``;
    - ``.csv``: one row per line, comma separated;
    - ``.npy``: a 2-D numeric array (loaded with ``allow_pickle=False``).
    """
    if limits is not None:
        measured = kernel_spec_shape(spec)
        if measured is not None:
            check_kernel_size(measured, limits, shown=str(spec))
        kernel = load_kernel(spec)
        check_kernel_size(kernel.shape, limits, shown=str(spec))
        return kernel
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
    if _looks_like_values(text):
        return parse_kernel(text)
    return get_kernel(text)
