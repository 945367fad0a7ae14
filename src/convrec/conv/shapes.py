"""Shape arithmetic for convolution, transposed convolution and pooling, explained.

The one formula (PyTorch ``Conv2d``'s Shape section; Dumoulin & Visin, "A guide to
convolution arithmetic for deep learning")::

    out = (n + pad_before + pad_after - (d*(k - 1) + 1)) // s + 1

with ``n`` the input size, ``k`` the kernel size, ``s`` the stride, ``d`` the dilation and
``d*(k - 1) + 1`` the *effective* (dilated) kernel size. With symmetric padding ``p`` this is
the familiar ``(n + 2p - k)//s + 1``. Every function here returns or raises a
:class:`ShapeExplanation`, the value that every face of convrec (terminal, JSON, studio,
tracer, error messages) renders.

Examples:
    >>> str(explain(28, kernel=3, stride=2, padding=1))
    '(28 + 2*1 - 3)//2 + 1 = 14'
    >>> explain(5, kernel=3, padding=2).result    # full padding: 5 -> 7
    7
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "PADDING_MODES",
    "PADDING_NAMES",
    "Conv2dPlan",
    "FieldOfView",
    "ShapeError",
    "ShapeExplanation",
    "conv2d_output_shape",
    "explain",
    "explain_padded",
    "explain_pool",
    "explain_transposed",
    "full_padding",
    "normalize_padding",
    "output_size",
    "parse_padding",
    "plan_conv2d",
    "pool_output_size",
    "receptive_field",
    "resolve_padding",
    "same_padding",
    "transposed_output_size",
]

ShapeKind = Literal["conv", "transposed", "pool"]


@dataclass(frozen=True)
class ShapeExplanation:
    """One output-size computation, with the user's numbers.

    Attributes:
        kind: ``"conv"``, ``"transposed"`` or ``"pool"``.
        n, kernel, stride, dilation: the inputs.
        pad_before, pad_after: padding on each side of this dimension.
        output_padding: extra size for transposed convolution (0 otherwise).
        formula: the formula with the numbers substituted, e.g. ``"(28 + 2*1 - 3)//2 + 1"``.
        result: the output size (``0`` or less when ``rule_broken`` is set).
        dropped: how many trailing rows/columns of the padded input the window never
            visits because of the floor (conv and pool only).
        notes: plain-language sentences: the floor, the effective kernel, ambiguities.
        rule_broken: ``None`` when the configuration is valid, else the rule it breaks.
    """

    kind: ShapeKind
    n: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    result: int
    formula: str
    dropped: int = 0
    output_padding: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    rule_broken: str | None = None

    @property
    def valid(self) -> bool:
        return self.rule_broken is None

    @property
    def effective_kernel(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def __str__(self) -> str:
        return f"{self.formula} = {self.result}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the API and ``--json`` output)."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["text"] = str(self)
        d["effective_kernel"] = self.effective_kernel
        return d

    def describe(self) -> str:
        """Formula, result and notes as a few lines of plain text."""
        lines = [str(self)]
        lines.extend(self.notes)
        if self.rule_broken:
            lines.append(f"invalid: {self.rule_broken}")
        return "\n".join(lines)


class ShapeError(ValueError):
    """An impossible shape configuration. ``explanation`` holds the worked formula."""

    def __init__(self, message: str, explanation: ShapeExplanation | None = None) -> None:
        super().__init__(message)
        self.explanation = explanation


#: the largest stride or dilation a convolution runs with: the engines' (and torch's) int64
MAX_STEP = 2**63 - 1


def _check_int(name: str, value: object, minimum: int, rule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ShapeError(f"{name} must be an integer, got {name}={value!r}")
    if value < minimum:
        raise ShapeError(f"{name} must be {rule}, got {name}={value}")
    return value


def _pad_pair(padding: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(padding, tuple):
        if len(padding) != 2:
            raise ShapeError(
                f"padding for one dimension must be an int or (before, after), got {padding!r}"
            )
        before, after = padding
    else:
        before = after = padding
    _check_int("padding", before, 0, ">= 0 (negative padding would crop the input)")
    _check_int("padding", after, 0, ">= 0 (negative padding would crop the input)")
    return before, after


def _pad_text(before: int, after: int) -> str:
    if before == after:
        return f"2*{before}"
    return f"{before} + {after}"


def _kernel_text(kernel: int, dilation: int) -> str:
    return str(kernel) if dilation == 1 else f"({dilation}*({kernel} - 1) + 1)"


def _floor_notes(numerator: int, stride: int, pad_after: int, axis_word: str) -> tuple[int, str]:
    dropped = numerator % stride if numerator >= 0 else 0
    if stride == 1 or dropped == 0:
        return 0, ""
    exact = numerator / stride
    who = "padding" if dropped <= pad_after else "real input"
    plural = f"{axis_word}s" if dropped > 1 else axis_word
    note = (
        f"{numerator}/{stride} = {exact:g}: the floor drops the remainder {dropped}, so the "
        f"last {dropped} {plural} of the padded input (which {'are' if dropped > 1 else 'is'} "
        f"{who}) {'are' if dropped > 1 else 'is'} never visited"
    )
    return dropped, note


def explain(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    *,
    check: bool = True,
    axis_word: str = "row",
) -> ShapeExplanation:
    """Explain the output size of a convolution along one dimension.

    Args:
        n: input size (≥ 1).
        kernel: kernel size (≥ 1).
        stride: step between windows (≥ 1).
        padding: the same on both sides (int) or ``(before, after)``.
        dilation: spacing between kernel taps (≥ 1); the window spans ``d*(k-1)+1`` pixels.
        check: raise :class:`ShapeError` for an impossible configuration (default); with
            ``check=False`` the explanation is returned with ``rule_broken`` set instead.
        axis_word: ``"row"`` or ``"column"``, used in the notes.

    Returns:
        A :class:`ShapeExplanation` whose ``str`` is e.g. ``(28 + 2*1 - 3)//2 + 1 = 14``.

    Raises:
        ShapeError: (a ``ValueError``) naming the parameter, its value and the rule.
    """
    _check_int("n", n, 1, ">= 1 (the input must have at least one pixel)")
    _check_int("kernel", kernel, 1, ">= 1")
    _check_int("stride", stride, 1, ">= 1 (a stride of 0 would never move the window)")
    _check_int("dilation", dilation, 1, ">= 1 (1 means no gaps between kernel taps)")
    before, after = _pad_pair(padding)
    k_eff = dilation * (kernel - 1) + 1
    padded = n + before + after
    numerator = padded - k_eff
    formula = f"({n} + {_pad_text(before, after)} - {_kernel_text(kernel, dilation)})//{stride} + 1"
    notes: list[str] = []
    if dilation > 1:
        notes.append(
            f"dilation {dilation} spreads the {kernel} taps over "
            f"{dilation}*({kernel} - 1) + 1 = {k_eff} pixels"
        )
    rule = None
    if numerator < 0:
        result = numerator // stride + 1  # <= 0: no window fits
        rule = (
            f"the kernel (effective size {k_eff}) must fit in the padded input "
            f"n + padding = {n} + {before + after} = {padded}; rule: n + pad_before + "
            f"pad_after >= dilation*(kernel - 1) + 1"
        )
        dropped = 0
    else:
        result = numerator // stride + 1
        dropped, floor_note = _floor_notes(numerator, stride, after, axis_word)
        if floor_note:
            notes.append(floor_note)
        if stride == 1 and before == after == dilation * (kernel - 1):
            notes.append(f"full padding p = k_eff - 1 = {before}: output n + k_eff - 1 = {result}")
        elif stride == 1 and result == n:
            notes.append("'same' padding: the output keeps the input size")
    expl = ShapeExplanation(
        kind="conv",
        n=n,
        kernel=kernel,
        stride=stride,
        pad_before=before,
        pad_after=after,
        dilation=dilation,
        result=result,
        formula=formula,
        dropped=dropped,
        notes=tuple(notes),
        rule_broken=rule,
    )
    if check and rule is not None:
        raise ShapeError(f"impossible convolution: {formula} = {result} <= 0; {rule}", expl)
    return expl


def output_size(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
) -> int:
    """Output size of a convolution along one dimension (see :func:`explain`).

    ``out = (n + 2p - d*(k-1) - 1)//s + 1``; e.g. ``output_size(28, 3) == 26``.

    Raises:
        ShapeError: for an impossible configuration.
    """
    return explain(n, kernel, stride, padding, dilation).result


def explain_transposed(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
    *,
    check: bool = True,
) -> ShapeExplanation:
    """Explain the output size of a transposed convolution (PyTorch ``ConvTranspose2d``).

    ``out = (n - 1)*s - 2p + d*(k - 1) + output_padding + 1``

    Because the forward convolution's floor maps several sizes to one (n = 5 and n = 6 with
    k = 3, s = 2, p = 1 both give 3), ``output_padding`` (< max(stride, dilation)) picks which
    one the transposed convolution restores.
    """
    _check_int("n", n, 1, ">= 1")
    _check_int("kernel", kernel, 1, ">= 1")
    _check_int("stride", stride, 1, ">= 1")
    _check_int("dilation", dilation, 1, ">= 1")
    _check_int("padding", padding, 0, ">= 0")
    _check_int("output_padding", output_padding, 0, ">= 0")
    result = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    formula = f"({n} - 1)*{stride} - 2*{padding} + {dilation}*({kernel} - 1) + {output_padding} + 1"
    notes: list[str] = []
    rule = None
    if output_padding >= max(stride, dilation):
        rule = (
            f"output_padding must be smaller than max(stride, dilation) = "
            f"{max(stride, dilation)}, got output_padding={output_padding}"
        )
    elif result < 1:
        rule = f"padding {padding} removes more than the transposed convolution produces"
    if stride > 1 and rule is None:
        notes.append(
            f"the forward convolution maps sizes {result - output_padding} to "
            f"{result - output_padding + stride - 1} all to {n}; output_padding "
            f"(0 to {max(stride, dilation) - 1}) chooses which one comes back"
        )
    expl = ShapeExplanation(
        kind="transposed",
        n=n,
        kernel=kernel,
        stride=stride,
        pad_before=padding,
        pad_after=padding,
        dilation=dilation,
        result=result,
        formula=formula,
        output_padding=output_padding,
        notes=tuple(notes),
        rule_broken=rule,
    )
    if check and rule is not None:
        raise ShapeError(f"impossible transposed convolution: {formula} = {result}; {rule}", expl)
    return expl


def transposed_output_size(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Output size of a transposed convolution (see :func:`explain_transposed`)."""
    return explain_transposed(n, kernel, stride, padding, dilation, output_padding).result


def explain_pool(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    check: bool = True,
) -> ShapeExplanation:
    """Explain the output size of max/avg pooling (PyTorch ``MaxPool2d`` rules).

    ``stride`` defaults to ``kernel``. Pooling uses the convolution formula, with ceil
    instead of floor when ``ceil_mode=True`` (a last window that would start inside the
    right padding is dropped). PyTorch requires ``padding <= kernel // 2``.
    """
    stride = kernel if stride is None else stride
    base = explain(n, kernel, stride, padding, dilation, check=False)
    notes = list(base.notes)
    rule = base.rule_broken
    result = base.result
    formula = base.formula
    if padding > kernel // 2:
        rule = f"pooling padding must be <= kernel // 2 = {kernel // 2}, got padding={padding}"
    elif ceil_mode:
        numerator = n + 2 * padding - base.effective_kernel
        result = -(-numerator // stride) + 1
        if result >= 1 and (result - 1) * stride >= n + padding:
            result -= 1
            notes.append("ceil_mode: the last window would start in the padding, so it is dropped")
        formula = f"ceil(({n} + 2*{padding} - {_kernel_text(kernel, dilation)})/{stride}) + 1"
        if result >= 1 and numerator < 0:
            # PyTorch pools a window larger than the input once, over the part that exists
            # (EfficientNet's AvgPool2d(2560, ceil_mode=True) on its last 1x1 map)
            rule = None
            notes.append(
                f"ceil_mode: the window ({base.effective_kernel}) is larger than the padded "
                f"input ({n + 2 * padding}); PyTorch still pools it once, over the part that "
                f"exists")
    expl = ShapeExplanation(
        kind="pool",
        n=n,
        kernel=kernel,
        stride=stride,
        pad_before=padding,
        pad_after=padding,
        dilation=dilation,
        result=result,
        formula=formula,
        dropped=0 if ceil_mode else base.dropped,
        notes=tuple(notes),
        rule_broken=rule,
    )
    if check and rule is not None:
        raise ShapeError(f"impossible pooling: {formula} = {result}; {rule}", expl)
    return expl


def pool_output_size(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output size of pooling along one dimension (see :func:`explain_pool`)."""
    return explain_pool(n, kernel, stride, padding, dilation, ceil_mode).result


def same_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that gives ``ceil(n / stride)`` outputs ('same').

    Total padding is ``max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0)``. When it is odd, the
    extra pixel goes *after* (bottom/right), as TensorFlow and PyTorch's stride-1 'same' do.
    """
    _check_int("n", n, 1, ">= 1")
    _check_int("kernel", kernel, 1, ">= 1")
    _check_int("stride", stride, 1, ">= 1")
    _check_int("dilation", dilation, 1, ">= 1")
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def full_padding(kernel: int, dilation: int = 1) -> int:
    """Padding ``d*(k-1)`` on each side: every partial overlap is computed (n → n + k_eff - 1)."""
    return dilation * (kernel - 1)


Padding2d = tuple[int, int, int, int]

PaddingName = Literal["valid", "same", "full"]
#: The named paddings every face accepts (the web's vocabulary is derived from this).
PADDING_NAMES: tuple[str, ...] = get_args(PaddingName)
#: How the border is filled (PyTorch's names, plus NumPy's ``symmetric``). Every padding mode
#: in one place, here beside the names because this module imports no NumPy: the CLI's help,
#: the web's Literal and :mod:`convrec.conv._padding`'s padding all come from it.
PaddingMode = Literal["zeros", "reflect", "replicate", "circular", "symmetric"]
PADDING_MODES: tuple[str, ...] = get_args(PaddingMode)
#: What every function taking ``padding`` accepts (see :func:`parse_padding`).
PaddingArg = int | str | Sequence[int]
#: What :func:`parse_padding` returns: a name, resolved later against the input and kernel
#: sizes, or explicit ``(top, bottom, left, right)`` (``(before, after)`` when ``ndim=1``).
ParsedPadding = str | tuple[int, ...]

_PADDING_FORMS_2D = (
    "an int, 'ph,pw', 'top,bottom,left,right', a pair, a 4-tuple or one of "
    + ", ".join(PADDING_NAMES)
)
_PADDING_FORMS_1D = "an int, 'before,after' or one of " + ", ".join(PADDING_NAMES)


def _padding_int(value: object, shown: object, forms: str, name: str) -> int:
    if isinstance(value, bool):  # True is an int to Python, never a padding
        raise ShapeError(f"{name} must be {forms}; got {name}={shown!r}")
    if not isinstance(value, int | str):
        try:
            value = operator.index(value)  # type: ignore[arg-type]  # NumPy ints are fine
        except TypeError:
            raise ShapeError(f"{name} must be {forms}; got {name}={shown!r}") from None
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("+-").isdigit():
            raise ShapeError(f"{name} must be {forms}; got {name}={shown!r}")
        value = int(text)
    if value < 0:
        raise ShapeError(
            f"{name} must be >= 0 (negative padding would crop the input); got {name}={shown!r}"
        )
    return int(value)


def parse_padding(
    padding: object, *, ndim: int = 2, name: str = "padding"
) -> ParsedPadding:
    """The one padding parser: every face (Python, CLI, web) goes through it.

    Accepted (``ndim=2``, the default): an int ``p``; a pair ``(ph, pw)``; a 4-tuple
    ``(top, bottom, left, right)``; a name from :data:`PADDING_NAMES`; or the same as text
    (``"1"``, ``"1,2"``, ``"1,0,2,2"``, ``"same"``, any case, spaces allowed). With ``ndim=1``
    (one dimension, as in ``convrec conv shape``): an int, ``(before, after)`` or a name.

    Returns:
        The lower-case name, or the explicit amounts: ``(top, bottom, left, right)`` for
        ``ndim=2``, ``(before, after)`` for ``ndim=1``.

    Raises:
        ShapeError: one line naming ``name``, the value and the accepted forms.

    Examples:
        >>> parse_padding("1,2"), parse_padding(" SAME "), parse_padding(1, ndim=1)
        ((1, 1, 2, 2), 'same', (1, 1))
    """
    forms = _PADDING_FORMS_2D if ndim == 2 else _PADDING_FORMS_1D
    parts: Sequence[object]
    if isinstance(padding, str):
        text = padding.strip().lower()
        if text in PADDING_NAMES:
            return text
        texts = text.replace("(", "").replace(")", "").split(",")
        if len(texts) > 1 and texts[-1].strip() == "":
            texts = texts[:-1]  # "1," as Python would read it
        parts = texts
    elif isinstance(padding, tuple | list):
        parts = padding
    else:
        parts = [padding]
    amounts = [_padding_int(p, padding, forms, name) for p in parts]
    if len(amounts) == 1:
        return (amounts[0],) * (2 * ndim)
    if ndim == 1 and len(amounts) == 2:
        return (amounts[0], amounts[1])
    if ndim == 2 and len(amounts) == 2:
        return (amounts[0], amounts[0], amounts[1], amounts[1])
    if ndim == 2 and len(amounts) == 4:
        return (amounts[0], amounts[1], amounts[2], amounts[3])
    raise ShapeError(f"{name} must be {forms}; got {name}={padding!r}")


def resolve_padding(
    parsed: ParsedPadding,
    sizes: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """Explicit ``(before, after)`` amounts per dimension for a :func:`parse_padding` result."""
    if isinstance(parsed, tuple):
        return parsed
    amounts: list[int] = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=True):
        if parsed == "valid":
            amounts += [0, 0]
        elif parsed == "same":
            amounts += list(same_padding(n, k, s, d))
        else:  # "full"
            amounts += [full_padding(k, d)] * 2
    return tuple(amounts)


def explain_padded(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: object = 0,
    dilation: int = 1,
    *,
    check: bool = True,
    axis_word: str = "row",
) -> ShapeExplanation:
    """:func:`explain` with padding in any one-dimension form of :func:`parse_padding`.

    ``padding`` may be an int, ``(before, after)``, ``"same"``, ``"full"``, ``"valid"`` or
    the same as text (``"1,2"``): what the CLI's ``--padding`` and the API's ``padding``
    query parameter receive.
    """
    _check_int("n", n, 1, ">= 1 (the input must have at least one pixel)")
    _check_int("kernel", kernel, 1, ">= 1")
    _check_int("stride", stride, 1, ">= 1 (a stride of 0 would never move the window)")
    _check_int("dilation", dilation, 1, ">= 1 (1 means no gaps between kernel taps)")
    before, after = resolve_padding(
        parse_padding(padding, ndim=1), (n,), (kernel,), (stride,), (dilation,)
    )
    return explain(n, kernel, stride, (before, after), dilation, check=check, axis_word=axis_word)


def normalize_padding(
    padding: object,
    input_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> Padding2d:
    """Turn any padding spec into ``(top, bottom, left, right)``.

    Accepted: everything :func:`parse_padding` accepts; ``"valid"`` is 0, ``"same"`` works
    with any stride (the odd extra pixel goes bottom/right, see :func:`same_padding`) and
    ``"full"`` is ``d*(k-1)`` on every side.
    """
    top, bottom, left, right = resolve_padding(
        parse_padding(padding), input_hw, kernel_hw, stride, dilation
    )
    return (top, bottom, left, right)


def _pair(name: str, value: object) -> tuple[int, int]:
    items = value if isinstance(value, tuple | list) else (value, value)
    if len(items) == 2:
        try:
            if not any(isinstance(v, bool) for v in items):
                return (operator.index(items[0]), operator.index(items[1]))
        except TypeError:
            pass
    raise ShapeError(f"{name} must be an int or a pair (h, w) of ints, got {name}={value!r}")


@dataclass(frozen=True)
class Conv2dPlan:
    """Everything about one 2-D convolution that is known before any array is touched.

    Made once per call by :func:`plan_conv2d` (padding parsed and resolved once) and shared by
    ``conv2d``, the limits guard (:mod:`convrec.conv.limits`) and the faces, which render
    ``rows`` and ``cols``.

    Attributes:
        input_shape: ``(N, C, H, W)``.
        weight_shape: ``(O, C/groups, kH, kW)``.
        stride, dilation: ``(h, w)`` pairs.
        pads: ``(top, bottom, left, right)``.
        groups: channel groups.
        rows, cols: the :class:`ShapeExplanation` of the output height and width.
    """

    input_shape: tuple[int, int, int, int]
    weight_shape: tuple[int, int, int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: Padding2d
    groups: int
    rows: ShapeExplanation
    cols: ShapeExplanation

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """``(N, O, H_out, W_out)``."""
        return (self.input_shape[0], self.weight_shape[0], self.rows.result, self.cols.result)

    @property
    def padded_hw(self) -> tuple[int, int]:
        """``(H + top + bottom, W + left + right)``."""
        top, bottom, left, right = self.pads
        return (self.input_shape[2] + top + bottom, self.input_shape[3] + left + right)

    @property
    def multiply_adds(self) -> int:
        """``N * O * H_out * W_out * C/groups * kH * kW``: the work of the call."""
        n, o, out_h, out_w = self.output_shape
        _, c_per_group, kh, kw = self.weight_shape
        return n * o * out_h * out_w * c_per_group * kh * kw


def plan_conv2d(
    input_shape: tuple[int, int, int, int],
    weight_shape: tuple[int, int, int, int],
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: int = 1,
) -> Conv2dPlan:
    """Check a 2-D convolution's arguments and shapes and compute its output shape, once.

    Args:
        input_shape: ``(N, C, H, W)``.
        weight_shape: ``(O, C/groups, kH, kW)``.
        stride: as in :func:`convrec.conv.conv2d`.
        padding: any form :func:`parse_padding` accepts.
        dilation: as in :func:`convrec.conv.conv2d`.
        groups: as in :func:`convrec.conv.conv2d`.

    Raises:
        ShapeError: for a bad argument, a channel/group mismatch (with the likely cause) or an
            impossible size along H or W (with the worked formula).
    """
    n, c, h, w = input_shape
    o, c_per_group, kh, kw = weight_shape
    _check_int("groups", groups, 1, ">= 1")
    for label, size in (("kernel height", kh), ("kernel width", kw), ("output channels", o)):
        if size < 1:
            raise ShapeError(f"weight must have {label} >= 1, got weight shape {weight_shape}")
    if c % groups or o % groups:
        raise ShapeError(
            f"groups={groups} must divide both the input channels ({c}) and the output "
            f"channels ({o})"
        )
    if c_per_group * groups != c:
        hint = ""
        if c == 1 and c_per_group == 3:
            hint = " Likely cause: a grayscale (1-channel) image fed to a layer built for RGB."
        elif c == 3 and c_per_group == 1:
            hint = " Likely cause: an RGB image fed to a layer built for grayscale."
        raise ShapeError(
            f"weight of shape {tuple(weight_shape)} expects {c_per_group * groups} input "
            f"channels (weight.shape[1]={c_per_group} × groups={groups}), but the input "
            f"{tuple(input_shape)} has {c} channels.{hint}"
        )
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    # checked before resolving 'same', which needs valid sizes
    _check_int("stride", sh, 1, ">= 1 (a stride of 0 would never move the window)")
    _check_int("stride", sw, 1, ">= 1 (a stride of 0 would never move the window)")
    _check_int("dilation", dh, 1, ">= 1 (1 means no gaps between kernel taps)")
    _check_int("dilation", dw, 1, ">= 1 (1 means no gaps between kernel taps)")
    for name, value in (("stride", sh), ("stride", sw), ("dilation", dh), ("dilation", dw)):
        if value > MAX_STEP:  # numba's and torch's int64 would overflow (a crash, not a line)
            raise ShapeError(f"{name} must be at most {MAX_STEP:,} (a 64-bit integer; a stride "
                             f"beyond the padded input already gives one output per row), got "
                             f"{name}={value}")
    top, bottom, left, right = normalize_padding(padding, (h, w), (kh, kw), (sh, sw), (dh, dw))
    rows = explain(h, kh, sh, (top, bottom), dh, axis_word="row")
    cols = explain(w, kw, sw, (left, right), dw, axis_word="column")
    return Conv2dPlan(
        input_shape=(n, c, h, w),
        weight_shape=(o, c_per_group, kh, kw),
        stride=(sh, sw),
        dilation=(dh, dw),
        pads=(top, bottom, left, right),
        groups=groups,
        rows=rows,
        cols=cols,
    )


def conv2d_output_shape(
    input_shape: tuple[int, ...],
    weight_shape: tuple[int, int, int, int],
    stride: int | tuple[int, int] = 1,
    padding: object = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> tuple[tuple[int, int, int, int], ShapeExplanation, ShapeExplanation]:
    """Output shape of a 2-D convolution of ``(N, C, H, W)`` by ``(O, C/groups, kH, kW)``.

    Returns:
        ``((N, O, H_out, W_out), explanation_H, explanation_W)`` (see :func:`plan_conv2d`).

    Raises:
        ShapeError: for a channel/group mismatch (with the likely cause) or an impossible
            size along H or W.
    """
    n, c, h, w = input_shape
    plan = plan_conv2d((n, c, h, w), weight_shape, stride, padding, dilation, groups)
    return plan.output_shape, plan.rows, plan.cols


@dataclass(frozen=True)
class FieldOfView:
    """Receptive field of one layer in a stack (in input pixels).

    Attributes:
        size: how many input pixels one output pixel sees (per dimension).
        jump: distance in input pixels between neighbouring output pixels.
        formula: ``rf_prev + (k_eff - 1)*jump_prev``, with numbers.
    """

    size: int
    jump: int
    formula: str


def receptive_field(layers: list[tuple[int, int, int]]) -> list[FieldOfView]:
    """Receptive field and jump after each layer of a stack.

    Args:
        layers: ``(kernel, stride, dilation)`` per layer, input first.

    Returns:
        One :class:`FieldOfView` per layer. For ``simple_cnn``'s five stride-2 3×3 convs the
        sizes are 3, 7, 15, 31, 63.
    """
    size, jump = 1, 1
    out: list[FieldOfView] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, str) or not isinstance(layer, Sequence) or len(layer) != 3:
            raise ValueError(f"layers[{i}] must be a (kernel, stride, dilation) triple such as "
                             f"(3, 2, 1), got {layer!r}")
        k, s, d = layer
        _check_int(f"layers[{i}] kernel", k, 1, ">= 1")
        _check_int(f"layers[{i}] stride", s, 1, ">= 1")
        _check_int(f"layers[{i}] dilation", d, 1, ">= 1")
        k_eff = d * (k - 1) + 1
        new_size = size + (k_eff - 1) * jump
        out.append(FieldOfView(new_size, jump * s, f"{size} + ({k_eff} - 1)*{jump} = {new_size}"))
        size, jump = new_size, jump * s
    return out
