"""conv_arithmetic-style animations of a convolution, drawn with Pillow (no matplotlib).

The geometry comes from :mod:`convrec.conv.sliding` (the same numbers as the studio's
playground): the input (blue), its padding (white, dashed), the zeros a transposed
convolution inserts (white, dotted), the window (dark blue) and the output filling in
(cyan), one frame per output pixel, captioned with the output-size formula in your numbers.

Example::

    >>> from convrec.vision.animate import animate_convolution
    >>> path = animate_convolution("anim.gif", n=5, kernel=3, padding=1, stride=2)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from convrec.conv.sliding import SlidingWindows

__all__ = ["AnimationSpec", "animate_convolution", "animation_caption", "animation_frames"]

INPUT_BLUE = (92, 157, 216)
WINDOW_BLUE = (24, 70, 140)
OUTPUT_CYAN = (120, 214, 222)
OUTPUT_DARK = (24, 150, 165)
DROPPED_RED = (240, 200, 196)
LINE = (40, 40, 40)
MAX_CELLS = 40  # per side of the drawn grid: an animation is for seeing, not for 224×224


@dataclass(frozen=True)
class AnimationSpec:
    """One animation: ``n`` (or ``(h, w)``) input, square ``kernel``, and the settings."""

    n: int | tuple[int, int]
    kernel: int
    stride: int = 1
    padding: int | str = 0
    dilation: int = 1
    transposed: bool = False
    output_padding: int = 0


def _check_size(spec: AnimationSpec, h: int, w: int) -> None:
    """Refuse, from the arithmetic alone, anything too big to draw (before any allocation)."""
    from convrec.conv.shapes import explain, explain_transposed, normalize_padding

    for name, value in (("input", max(h, w)), ("kernel", spec.kernel)):
        if isinstance(value, int) and value > MAX_CELLS:
            raise ValueError(
                f"{name} size {value} is too big to draw: an animation shows at most {MAX_CELLS} "
                f"cells per side; use a {name} of at most {MAX_CELLS}"
            )
    if spec.transposed:
        explain_transposed(h, spec.kernel, spec.stride, int(spec.padding), spec.dilation,
                           spec.output_padding)  # impossible settings: the formula and rule
        pads = [spec.dilation * (spec.kernel - 1) - int(spec.padding)] * 2
        sides = [(n - 1) * spec.stride + 1 + 2 * p + spec.output_padding for n, p in
                 zip((h, w), pads, strict=True)]
    else:
        k, s, d = (spec.kernel,) * 2, (spec.stride,) * 2, (spec.dilation,) * 2
        top, bottom, left, right = normalize_padding(spec.padding, (h, w), k, s, d)
        explain(h, spec.kernel, spec.stride, (top, bottom), spec.dilation)  # impossible? say so
        explain(w, spec.kernel, spec.stride, (left, right), spec.dilation, axis_word="column")
        sides = [h + top + bottom, w + left + right]
    if max(sides) > MAX_CELLS:
        raise ValueError(
            f"the padded input would be {sides[0]}×{sides[1]} cells; an animation shows at most "
            f"{MAX_CELLS} per side: use less padding, a smaller stride or a smaller --input"
        )


def _layout(spec: AnimationSpec) -> SlidingWindows:
    from convrec.conv.sliding import slide, slide_transposed

    h, w = (spec.n, spec.n) if isinstance(spec.n, int) else spec.n
    if spec.transposed and not isinstance(spec.padding, int):
        raise ValueError(
            f"a transposed convolution takes a number of padding rows, got padding="
            f"{spec.padding!r}; give an integer such as -p 1"
        )
    _check_size(spec, h, w)
    x = np.zeros((h, w))
    k = np.ones((spec.kernel, spec.kernel))
    if spec.transposed:
        return slide_transposed(x, k, spec.stride, int(spec.padding), spec.dilation,
                                spec.output_padding)
    return slide(x, k, spec.stride, spec.padding, spec.dilation)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _dashed_rect(draw: Any, box: tuple[float, float, float, float], dash: int) -> None:
    x0, y0, x1, y1 = box
    for a, b, horizontal, fixed in ((x0, x1, True, y0), (x0, x1, True, y1),
                                    (y0, y1, False, x0), (y0, y1, False, x1)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            if horizontal:
                draw.line([(pos, fixed), (end, fixed)], fill=LINE, width=1)
            else:
                draw.line([(fixed, pos), (fixed, end)], fill=LINE, width=1)
            pos += 2 * dash


def _caption(s: SlidingWindows, spec: AnimationSpec) -> list[str]:
    rows, cols = s.rows, s.cols
    if spec.transposed:
        head = (f"transposed convolution: n={spec.n}, k={spec.kernel}, s={spec.stride}, "
                f"p={spec.padding}, d={spec.dilation}, output_padding={spec.output_padding}")
    else:
        top, bottom, left, right = s.pads
        pad = top if len({top, bottom, left, right}) == 1 else s.pads
        head = (f"convolution: n={spec.n}, k={spec.kernel}, s={spec.stride}, p={pad}"
                f"{'' if spec.padding == pad else f' ({spec.padding})'}, d={spec.dilation}")
    lines = [head, f"rows: {rows}" if str(rows) == str(cols) else f"rows: {rows}   columns: {cols}"]
    lines.extend(dict.fromkeys([*rows.notes, *cols.notes]))
    if s.padding_note:
        lines.append(s.padding_note)
    return lines


def animation_caption(spec: AnimationSpec) -> list[str]:
    """The caption under every frame: the settings, the formula in your numbers, the notes."""
    return _caption(_layout(spec), spec)


def _wrap(lines: list[str], font: Any, room: float) -> list[str]:
    out: list[str] = []
    for line in lines:
        words, current = line.split(" "), ""
        for word in words:
            trial = f"{current} {word}".strip()
            if current and font.getlength(trial) > room:
                out.append(current)
                current = "    " + word  # a continued line is indented
            else:
                current = trial if not current.startswith("    ") else f"{current} {word}"
        out.append(current)
    return out


def animation_frames(spec: AnimationSpec, cell: int = 28) -> list[PILImage.Image]:
    """The frames, one per output pixel (raster order), then the finished output.

    Raises:
        ShapeError: an impossible configuration, with the formula.
        ValueError: a grid over :data:`MAX_CELLS` per side.
    """
    from PIL import Image, ImageDraw

    s = _layout(spec)
    _, hg, wg = s.grid.shape
    ho, wo = s.output.shape
    if max(hg, wg, ho, wo) > MAX_CELLS:
        raise ValueError(
            f"the animation would draw a {hg}×{wg} grid and a {ho}×{wo} output; at most "
            f"{MAX_CELLS} cells per side are drawn: use a smaller --input"
        )
    kh, kw = s.kernel.shape[1:]
    font = _font(max(11, cell // 2))
    lines = _caption(s, spec)
    margin, gap = cell, 2 * cell
    line_h = int(font.size * 1.5)
    width = margin * 2 + wg * cell + gap + wo * cell
    width = max(width, 560)
    lines = _wrap(lines, font, width - 2 * margin)
    height = margin * 2 + max(hg, ho) * cell + line_h * (len(lines) + 1)
    ox, oy = margin + wg * cell + gap, margin  # the output's top-left corner
    reach_r = (ho - 1) * s.stride[0] + (kh - 1) * s.dilation[0] + 1
    reach_c = (wo - 1) * s.stride[1] + (kw - 1) * s.dilation[1] + 1

    def frame(done: int, current: int | None) -> Image.Image:
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        window: set[tuple[int, int]] = set()
        if current is not None:
            window = {(int(r), int(c)) for r, c in s.taps(*divmod(current, wo)).reshape(-1, 2)}
        for i in range(hg):
            for j in range(wg):
                box = (margin + j * cell, margin + i * cell,
                       margin + (j + 1) * cell, margin + (i + 1) * cell)
                kind = int(s.cell_kind[i, j])
                dropped = i >= reach_r or j >= reach_c
                fill = INPUT_BLUE if kind == 0 else (DROPPED_RED if dropped else (255, 255, 255))
                if kind == 0 and dropped:
                    fill = (170, 140, 170)  # input the floor drops: blue under red
                if (i, j) in window:
                    fill = WINDOW_BLUE
                draw.rectangle(box, fill=fill)
                if kind == 0:
                    draw.rectangle(box, outline=LINE)
                else:
                    _dashed_rect(draw, box, 2 if kind == 2 else 4)
        for n in range(ho * wo):
            i, j = divmod(n, wo)
            box = (ox + j * cell, oy + i * cell, ox + (j + 1) * cell, oy + (i + 1) * cell)
            fill = (255, 255, 255)
            if n < done:
                fill = OUTPUT_CYAN
            if current is not None and n == current:
                fill = OUTPUT_DARK
            draw.rectangle(box, fill=fill, outline=LINE)
        y = margin + max(hg, ho) * cell + line_h // 2
        for text in lines:
            draw.text((margin, y), text, fill=LINE, font=font)
            y += line_h
        return img

    frames = [frame(n + 1, n) for n in range(ho * wo)]
    frames.append(frame(ho * wo, None))
    return frames


def animate_convolution(
    path: str | Path, spec: AnimationSpec, cell: int = 28, ms_per_frame: int = 500
) -> Path:
    """Write the animation of ``spec`` as a looping GIF; returns the path.

    Shape:
        one frame per output pixel plus a final one (held 4× longer), each
        ``(margin + grid + gap + output) × (grid + caption)`` pixels.
    """
    frames = animation_frames(spec, cell)
    path = Path(path)
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 4]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                   duration=durations, optimize=False, disposal=1)
    return path
