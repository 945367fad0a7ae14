"""The convolution playground's one request: every number its page draws, in one answer.

``POST /api/conv/playground`` (see :mod:`convrec.web.routers.conv`) lays one convolution out
with :func:`convrec.conv.sliding.slide` (or ``slide_transposed``): the padded grid with the
padding mode's actual values, the kernel as applied, the output, the shape explained, the
im2col matrix (:func:`convrec.conv.im2col`) and the Toeplitz matrix
(:func:`convrec.conv.conv_matrix`, sent as CSR), and the check that conv2d, im2col and the
Toeplitz product agree. The page draws, animates and hovers from these numbers alone.

Values are on the 0–1 scale of fastai's chapter 13 (grey levels / 255).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, cast

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from convrec.conv._padding import check_padding_mode
from convrec.conv.shapes import PADDING_MODES, PaddingMode, ParsedPadding
from convrec.settings import Limits
from convrec.web.errors import field_error
from convrec.web.render import rounded
from convrec.web.schemas import ImageIn, KernelValue, PaddingSpec, ShapeOut
from convrec.web.services import Services

if TYPE_CHECKING:  # scipy loads with the first playground request (it ships no types)
    from scipy.sparse import csr_matrix

__all__ = ["PLAYGROUND_MAX_SIDE", "PlaygroundIn", "PlaygroundOut", "build_playground"]

#: Inputs given as pixels may be at most this many per side (drawings and uploads are reduced
#: to 28×28): the page draws every cell and the im2col/Toeplitz matrices whole.
PLAYGROUND_MAX_SIDE = 32
MAX_MATRIX_ENTRIES = 400_000  # im2col entries the page is sent (k=7, d=3, 'full' on 28×28 fits)
PLAYGROUND_MAX_PADDING = 7  # rows of padding per side the page draws (a 7×7 kernel's 'full' is 6)

SampleName = Literal["numbers", "colour"]


class PlaygroundIn(BaseModel):
    """One convolution to lay out. ``image`` or ``sample`` gives the input."""

    model_config = ConfigDict(extra="forbid")

    image: ImageIn | None = Field(
        default=None, description="An MNIST digit, grey pixels (at most 32×32) or an image "
        "file; a drawing or upload is reduced to 28×28 as MNIST was made (grey) or fitted "
        "in 28×28 (colour).")
    sample: SampleName = Field(
        default="numbers", description="Used when no image is given: 'numbers' (a 5×5 grid "
        "of 0.04 to 1.00) or 'colour' (a 16×16 RGB picture of a red disc, a green square and "
        "a blue bar).")
    channels: Literal[1, 3] = Field(default=1, description="1 (grey) or 3 (RGB).")
    kernel: list[list[list[KernelValue]]] = Field(
        min_length=1, max_length=3,
        description="(C, kH, kW): one kH×kW slice per input channel, sides 1 to 7.")
    kernel_name: str = Field(default="your kernel", min_length=1, max_length=60,
                             description="The preset's name, shown with the result.")
    stride: Annotated[int, Field(ge=1, le=4)] = 1
    # conv's one parser: 1, [1, 2], [t, b, l, r], "1,2", "same", ... (the default parsed too)
    padding: PaddingSpec = Field(default=0, validate_default=True)
    dilation: Annotated[int, Field(ge=1, le=3)] = 1
    padding_mode: PaddingMode = Field(
        default="zeros", description=f"One of {', '.join(PADDING_MODES)} (PyTorch's names).")
    true_convolution: bool = Field(default=False, description="Flip the kernel (scipy's "
                                   "convolve2d) instead of cross-correlation (PyTorch's).")
    transposed: bool = Field(default=False, description="A transposed convolution, drawn as "
                             "conv_arithmetic does (zeros inserted, stride-1 sliding).")
    output_padding: Annotated[int, Field(ge=0, le=3)] = 0

    @field_validator("padding")
    @classmethod
    def _drawable(cls, value: ParsedPadding) -> ParsedPadding:
        if isinstance(value, tuple) and max(value) > PLAYGROUND_MAX_PADDING:
            raise ValueError(f"the playground draws at most {PLAYGROUND_MAX_PADDING} rows of "
                             f"padding per side, got {max(value)}")
        return value

    @field_validator("padding_mode", mode="before")
    @classmethod
    def _known_mode(cls, value: object) -> object:
        # conv's one check, in conv's words, before the Literal (which then only types it)
        return check_padding_mode(value) if isinstance(value, str) else value

    @property
    def parsed_padding(self) -> ParsedPadding:
        """``padding`` as conv's parser left it: a name, or ``(top, bottom, left, right)``."""
        return cast("ParsedPadding", self.padding)  # PaddingSpec's validator returns this


class CheckOut(BaseModel):
    route: str
    max_abs_difference: float


class CsrOut(BaseModel):
    """A sparse matrix in CSR form: row ``r``'s entries are ``indices``/``data`` from
    ``indptr[r]`` to ``indptr[r + 1]``."""

    shape: tuple[int, int]
    indptr: list[int]
    indices: list[int]
    data: list[float]


class PlaygroundOut(BaseModel):
    channels: int
    input: list[list[list[float]]] = Field(description="(C, H, W), 0 to 1.")
    input_note: str
    transposed: bool
    title: str
    grid: list[list[list[float]]] = Field(description="(C, Hg, Wg): what the window slides "
                                          "over (padded, or zero-inserted for transposed).")
    cell_kind: list[list[int]] = Field(description="(Hg, Wg): 0 input, 1 padding, 2 a zero "
                                       "inserted by a transposed convolution's stride.")
    source_rows: list[int] = Field(description="Input row each grid row copies (-1: zeros).")
    source_cols: list[int]
    pads: tuple[int, int, int, int] = Field(description="(top, bottom, left, right).")
    padding_mode: str
    padding_note: str
    kernel_name: str
    kernel_given: list[list[list[float]]]
    kernel: list[list[list[float]]] = Field(description="(C, kH, kW) as applied at each tap: "
                                            "flipped for true or transposed convolution.")
    stride: tuple[int, int]
    dilation: tuple[int, int]
    output: list[list[float]] = Field(description="(H_out, W_out).")
    output_bound: float = Field(description="max |output|: the colour scale's range.")
    rows: ShapeOut
    cols: ShapeOut
    im2col: list[list[float]] = Field(description="(C*kH*kW, H_out*W_out) of the grid.")
    toeplitz: CsrOut = Field(description="(H_out*W_out, C*Hg*Wg): output = M @ grid.ravel().")
    checks: list[CheckOut]
    colour_scale: list[str] = Field(description="The diverging scale, -bound to +bound.")


def _sample(name: SampleName) -> NDArray[np.float64]:
    if name == "numbers":
        return (np.arange(1, 26, dtype=np.float64).reshape(1, 5, 5)) / 25  # 0.04 .. 1.00
    yy, xx = np.mgrid[0:16, 0:16]
    rgb = np.zeros((3, 16, 16))
    rgb[0] = ((yy - 5) ** 2 + (xx - 5) ** 2 <= 12).astype(float)  # red disc
    rgb[1, 8:14, 8:14] = 1.0  # green square
    rgb[2][np.abs(yy + xx - 15) <= 1] = 0.8  # blue bar
    return rgb


def _image(
    body: PlaygroundIn, limits: Limits, services: Services
) -> tuple[NDArray[np.float64], str]:
    """The input (C, H, W) on the 0–1 scale and a sentence saying where it came from."""
    from convrec.web.inputs import decode_image

    image = body.image
    if image is None:
        x = _sample(body.sample)
        if body.channels == 3 and x.shape[0] == 1:
            x = np.repeat(x, 3, axis=0)
        elif body.channels == 1 and x.shape[0] == 3:
            x = x.mean(axis=0, keepdims=True)
        h, w = x.shape[1:]
        return x, f"the {body.sample} sample, {h}×{w}"
    loc: list[str | int] = ["body", "image"]
    if image.png_base64 is not None and body.channels == 3:
        return _colour_upload(image.png_base64, limits, loc), (
            "your image in colour, fitted in 28×28")
    grey = decode_image(image, limits, services, loc)  # (H, W), 0..255
    if image.png_base64 is not None:
        from convrec.vision.predict import preprocess_digit

        h, w = grey.shape
        try:
            grey = preprocess_digit(grey.astype(np.uint8)).astype(np.float32)
        except ValueError as exc:
            raise field_error([*loc, "png_base64"], f"{h}×{w} image", str(exc)) from exc
        note = (f"your {h}×{w} image reduced to 28×28 as MNIST was made (fitted in 20×20, "
                "centred by mass)")
    elif image.mnist_index is not None:
        note = f"MNIST test digit {image.mnist_index}, 28×28"
    else:
        note = f"your {grey.shape[0]}×{grey.shape[1]} pixels"
    if max(grey.shape) > PLAYGROUND_MAX_SIDE:
        raise field_error(
            [*loc, "pixels"], f"{grey.shape[0]}×{grey.shape[1]}",
            f"the playground draws every cell: give at most {PLAYGROUND_MAX_SIDE}×"
            f"{PLAYGROUND_MAX_SIDE} pixels, or upload an image (it is reduced to 28×28)",
            status=413, kind="too_large",
        )
    x = grey.astype(np.float64)[None] / 255
    if body.channels == 3:
        x = np.repeat(x, 3, axis=0)
        note += ", the same grey in R, G and B"
    return x, note


def _colour_upload(text: str, limits: Limits, loc: list[str | int]) -> NDArray[np.float64]:
    import base64
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    data_part = text.partition(",")[2] if text.startswith("data:") else text
    if len(data_part) * 3 // 4 > limits.max_upload_bytes:
        raise field_error([*loc, "png_base64"], text, f"the upload is over the limit of "
                          f"{limits.max_upload_bytes:,} bytes", status=413, kind="too_large")
    try:
        data = base64.b64decode(data_part, validate=True)
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > limits.max_image_pixels:
                raise field_error([*loc, "png_base64"], f"{img.width}×{img.height}",
                                  f"at most {limits.max_image_pixels:,} pixels", status=413,
                                  kind="too_large")
            rgb = img.convert("RGB")
            rgb.thumbnail((28, 28), Image.Resampling.LANCZOS)
            arr = np.asarray(rgb, dtype=np.float64)  # (h, w, 3)
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError,
            Image.DecompressionBombError) as exc:
        raise field_error([*loc, "png_base64"], text, "not an image the studio can read "
                          f"(PNG, JPEG, ...): {exc}") from exc
    return arr.transpose(2, 0, 1) / 255


def _kernel(body: PlaygroundIn, channels: int) -> NDArray[np.float64]:
    loc = ["body", "kernel"]
    if any(not sl or not all(sl) for sl in body.kernel):
        raise field_error(loc, "an empty row", "every channel of the kernel needs 1 to 7 rows "
                          "of 1 to 7 values")
    sizes = {(len(sl), len(row)) for sl in body.kernel for row in sl}
    shapes = {(len(sl), len({len(r) for r in sl})) for sl in body.kernel}
    if any(n_widths != 1 for _, n_widths in shapes) or len({s[0] for s in shapes}) != 1:
        raise field_error(loc, "uneven rows", "every row of the kernel needs the same number "
                          "of values, and every channel the same number of rows")
    kh, kw = next(iter(sizes))
    if not (1 <= kh <= 7 and 1 <= kw <= 7):
        raise field_error(loc, f"{kh}×{kw}", "the playground's kernels are 1 to 7 per side")
    if len(body.kernel) != channels:
        raise field_error(loc, f"{len(body.kernel)}×{kh}×{kw}",
                          f"a {channels}-channel input needs a {channels}×{kh}×{kw} kernel "
                          "(one slice per channel; the sum runs over the channels)")
    return np.asarray(body.kernel, dtype=np.float64)


def _csr(matrix: csr_matrix) -> CsrOut:
    m = matrix.tocsr()
    return CsrOut(shape=(int(m.shape[0]), int(m.shape[1])), indptr=m.indptr.tolist(),
                  indices=m.indices.tolist(), data=rounded(m.data, 4))


def build_playground(body: PlaygroundIn, limits: Limits, services: Services) -> PlaygroundOut:
    """Lay the requested convolution out; every failure is one plain-words HTTP error."""
    import scipy.sparse as sp

    from convrec.conv import conv2d, conv_matrix, im2col
    from convrec.conv._padding import check_padding_mode
    from convrec.conv.limits import ConvLimits, LimitError, check_kernel_size, check_padding
    from convrec.conv.sliding import slide, slide_transposed
    from convrec.vision.colours import DIVERGING_STOPS, diverging_bound

    x, note = _image(body, limits, services)
    k = _kernel(body, x.shape[0])
    kh, kw = k.shape[1:]
    try:  # the studio's configured limits (conv's one guard) hold here too
        conv_limits = ConvLimits.from_settings(limits)
        check_kernel_size(k.shape, conv_limits)
        padding = body.parsed_padding
        if isinstance(padding, tuple):
            check_padding(padding, conv_limits, shown=_padding_text(padding))
    except LimitError as exc:
        raise field_error(["body", exc.parameter], exc.value, str(exc), status=413,
                          kind="too_large") from exc
    try:
        if body.transposed:
            if isinstance(body.parsed_padding, str) or len(set(body.parsed_padding)) != 1:
                raise field_error(["body", "padding"], _padding_text(body.parsed_padding),
                                  "a transposed convolution takes one number of padding rows "
                                  "for every side, not 'same', 'full', 'valid' or one per side")
            s = slide_transposed(x, k, body.stride, body.parsed_padding[0], body.dilation,
                                 body.output_padding)
            title = "transposed convolution"
        else:
            if body.output_padding:  # would be ignored: say so instead of drawing without it
                raise field_error(["body", "output_padding"], body.output_padding,
                                  "only a transposed convolution has an output padding; set "
                                  "transposed to true, or output_padding to 0")
            s = slide(x, k, body.stride, body.parsed_padding, body.dilation, body.padding_mode,
                      flip=body.true_convolution)
            title = "true convolution (kernel flipped)" if body.true_convolution else (
                "cross-correlation (PyTorch's conv2d)")
    except ValueError as exc:  # ShapeError (impossible shape) or padding the mode refuses
        raise field_error(["body", "settings"], _settings_text(body, kh, kw), str(exc)) from exc
    c, hg, wg = s.grid.shape
    length = s.output.size
    if c * kh * kw * length > MAX_MATRIX_ENTRIES:
        raise field_error(["body", "settings"], _settings_text(body, kh, kw),
                          f"the im2col matrix would have {c * kh * kw * length:,} entries; the "
                          f"page draws at most {MAX_MATRIX_ENTRIES:,}: use less padding or "
                          "dilation, or a smaller input", status=413, kind="too_large")
    cols = im2col(s.grid, (kh, kw), s.stride, 0, s.dilation)  # (C*kH*kW, L)
    toeplitz = sp.hstack(
        [conv_matrix(s.kernel[ch], (hg, wg), s.stride, 0, s.dilation, sparse=True)
         for ch in range(c)], format="csr")  # (L, C*Hg*Wg)
    flat = s.output.ravel()
    checks = [
        CheckOut(route="kernel.ravel() @ im2col(grid)",
                 max_abs_difference=float(np.abs(s.kernel.ravel() @ cols - flat).max())),
        CheckOut(route="Toeplitz M @ grid.ravel()",
                 max_abs_difference=float(np.abs(toeplitz @ s.grid.ravel() - flat).max())),
    ]
    if not body.transposed:
        direct = conv2d(x.astype(np.float32), k[None].astype(np.float32), stride=body.stride,
                        padding=body.parsed_padding, dilation=body.dilation,
                        padding_mode=check_padding_mode(body.padding_mode),
                        flip=body.true_convolution, engine="direct")[0]
        checks.insert(0, CheckOut(route="convrec.conv.conv2d(x, kernel)",
                                  max_abs_difference=float(np.abs(direct - s.output).max())))
    return PlaygroundOut(
        channels=c, input=rounded(x, 4), input_note=note, transposed=body.transposed,
        title=title, grid=rounded(s.grid, 4), cell_kind=s.cell_kind.tolist(),
        source_rows=s.source_rows.tolist(), source_cols=s.source_cols.tolist(), pads=s.pads,
        padding_mode=s.padding_mode, padding_note=s.padding_note, kernel_name=body.kernel_name,
        kernel_given=rounded(k, 4), kernel=rounded(s.kernel, 4), stride=s.stride,
        dilation=s.dilation, output=rounded(s.output, 4),
        output_bound=diverging_bound(s.output), rows=ShapeOut(**s.rows.to_dict()),
        cols=ShapeOut(**s.cols.to_dict()), im2col=rounded(cols, 4), toeplitz=_csr(toeplitz),
        checks=checks, colour_scale=list(DIVERGING_STOPS),
    )


def _settings_text(body: PlaygroundIn, kh: int, kw: int) -> str:
    kind = "transposed" if body.transposed else body.padding_mode
    padding = _padding_text(body.parsed_padding)
    return (f"kernel {kh}×{kw}, stride {body.stride}, padding {padding}, dilation "
            f"{body.dilation}, {kind}")


def _padding_text(padding: ParsedPadding) -> str | int:
    """Padding as the user would write it: a name, one amount, or ``top,bottom,left,right``."""
    if isinstance(padding, str):
        return padding
    if len(set(padding)) == 1:
        return padding[0]
    return ",".join(map(str, padding))
