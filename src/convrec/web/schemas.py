"""Request and response models of the HTTP API, one per direction (``...In`` / ``...Out``).

Range rules live here as ``Field`` constraints so that they appear in the OpenAPI schema and
a violation answers 422 naming the field, the value received and the rule. Limits that come
from :class:`convrec.settings.Limits` (upload bytes, pixels, kernel size, batch) are checked
in the routes, because they are configuration, not schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from convrec.conv.shapes import (
    PADDING_MODES,
    PADDING_NAMES,
    PaddingMode,
    ParsedPadding,
    ShapeError,
    parse_padding,
)

__all__ = [
    "BiasOut",
    "BiasesOut",
    "ConvApplyIn",
    "ConvApplyOut",
    "CredentialsIn",
    "DigitPredictionOut",
    "FeatureMapOut",
    "ImageIn",
    "ImageOut",
    "KernelIn",
    "KernelOut",
    "MatmulIn",
    "MatmulOut",
    "MnistPredictIn",
    "MnistPredictOut",
    "MnistSampleOut",
    "MovieMatchOut",
    "MovieOut",
    "MovieSearchOut",
    "PixelProductOut",
    "RatingIn",
    "RatingOut",
    "RatingsOut",
    "RecommendationsOut",
    "ScoredMovieOut",
    "ShapeOut",
    "SignupIn",
    "SimilarOut",
    "TokenOut",
    "UserOut",
]

Pixel = Annotated[float, Field(ge=0, le=255)]
KernelValue = Annotated[float, Field(ge=-1e6, le=1e6)]
Stride = Annotated[int, Field(ge=1, le=32, description="Step between windows, 1 to 32.")]
Dilation = Annotated[int, Field(ge=1, le=16, description="Spacing of kernel taps, 1 to 16.")]


def _parse_padding(value: object) -> ParsedPadding:
    """conv's one padding parser; its one-line message becomes the 422's ``msg``."""
    try:
        return parse_padding(value)
    except ShapeError as exc:
        raise ValueError(str(exc)) from None


# The vocabulary is conv's (PADDING_NAMES, PaddingMode), pinned by
# tests/web/test_conv_vocabulary.py; the per-side maximum is Settings.limits.max_padding,
# checked by conv's guard in the route.
if TYPE_CHECKING:
    #: What a validated field holds: conv's parser's result, or a model's default ``0`` when
    #: the default is not validated. (Pydantic reads the form below: what a body may send.)
    PaddingSpec = int | ParsedPadding
else:
    PaddingSpec = Annotated[
        StrictInt | StrictStr | list[StrictInt],
        AfterValidator(_parse_padding),
        Field(
            description="Padding: an int, [ph, pw], [top, bottom, left, right], text such as "
            f"'1,2', or one of {', '.join(PADDING_NAMES)}."
        ),
    ]


class _Strict(BaseModel):
    """Request bodies: unknown fields refused, no coercion (``"3"`` and ``true`` are not
    numbers), and no ``NaN``/``Infinity``/``1e309`` in any number (422 naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------- accounts
def _nfkc(value: object) -> object:
    """Usernames are read in NFKC (fullwidth ``ａｌｉｃｅ`` is ``alice``) before the rules."""
    import unicodedata

    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


class SignupIn(_Strict):
    """Sign-up form: the username rules and the password policy
    (:func:`convrec.web.security.password_problem`)."""

    username: Annotated[str, BeforeValidator(_nfkc)] = Field(
        min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$",
        description="3 to 32 letters, digits, '_', '.' or '-' (read in NFKC; unique whatever "
        "the case).",
    )
    password: str = Field(
        min_length=1, max_length=128,
        description="10 to 128 characters, not a common password, not your username.",
    )

    @field_validator("password")
    @classmethod
    def _policy(cls, password: str, info: ValidationInfo) -> str:
        from pydantic_core import PydanticCustomError

        from convrec.web.security import password_problem

        problem = password_problem(password, info.data.get("username"))
        if problem is not None:
            raise PydanticCustomError("password_policy", "the password " + problem)
        return password


class CredentialsIn(_Strict):
    """Log-in form (no policy here: an account made under an older policy still logs in)."""

    username: Annotated[str, BeforeValidator(_nfkc)] = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class UserOut(BaseModel):
    id: int
    username: str


class TokenOut(BaseModel):
    """A new login. ``token`` also arrives as an HttpOnly cookie; API clients send it as
    ``Authorization: Bearer <token>``."""

    user: UserOut
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


# ---------------------------------------------------------------- images and kernels
class ImageIn(_Strict):
    """An input image: exactly one of ``png_base64``, ``pixels`` or ``mnist_index``."""

    png_base64: str | None = Field(
        default=None,
        description="An image file (PNG, JPEG, ...) as base64, or a data: URL; colour is "
        "converted to grayscale.",
    )
    pixels: list[list[Pixel]] | None = Field(
        default=None, description="Grayscale rows, values 0 to 255.", min_length=1
    )
    mnist_index: int | None = Field(
        default=None, ge=0, description="Index of a digit in the MNIST test set."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageIn:
        given = [
            n for n in ("png_base64", "pixels", "mnist_index") if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of png_base64, pixels or mnist_index, got "
                + (", ".join(given) if given else "none")
            )
        return self


class KernelIn(_Strict):
    """A kernel: a ``name`` (see ``GET /api/conv/kernels``) or its ``values`` (rows)."""

    name: str | None = Field(default=None, min_length=1, max_length=40)
    values: list[list[KernelValue]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> KernelIn:
        if (self.name is None) == (self.values is None):
            raise ValueError("give exactly one of name or values")
        return self


class KernelOut(BaseModel):
    name: str
    values: list[list[float]]


class ImageOut(BaseModel):
    """The size of the input as it was convolved (grey levels 0-255; colour made grey)."""

    height: int
    width: int


class ShapeOut(BaseModel):
    """One dimension's output size, explained (``convrec.conv.ShapeExplanation``)."""

    kind: str
    n: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    result: int
    formula: str
    dropped: int
    output_padding: int
    notes: list[str]
    rule_broken: str | None
    text: str
    effective_kernel: int


# ---------------------------------------------------------------- convolution
class ConvApplyIn(_Strict):
    image: ImageIn
    kernels: list[KernelIn] = Field(min_length=1, description="Applied one by one.")
    stride: Stride = 1
    padding: PaddingSpec = 0
    dilation: Dilation = 1
    padding_mode: PaddingMode = Field(
        default="zeros", description=f"One of {', '.join(PADDING_MODES)} (PyTorch's names)."
    )


class FeatureMapOut(BaseModel):
    kernel: KernelOut
    height: int
    width: int
    min: float
    max: float
    values: list[list[float]] = Field(
        description="The map, (height, width) rows of numbers rounded to 3 decimals, on the "
        "input's 0-255 scale. The studio draws them with its diverging scale (RdBu_r, "
        "blue < 0 < red, range ±max |value|), as the CLI's figures do."
    )
    rows: ShapeOut
    cols: ShapeOut


class ConvApplyOut(BaseModel):
    input: ImageOut
    outputs: list[FeatureMapOut]


class MatmulIn(_Strict):
    image: ImageIn
    kernel: KernelIn
    crop_top: int = Field(default=0, ge=0, description="Top row of the crop in the image.")
    crop_left: int = Field(default=0, ge=0, description="Left column of the crop.")
    crop_size: int = Field(default=5, ge=1, le=8, description="Side of the square crop, 1 to 8.")
    stride: Stride = 1
    padding: PaddingSpec = 0
    dilation: Dilation = 1
    out_row: int = Field(default=0, ge=0, description="Output pixel whose product is shown.")
    out_col: int = Field(default=0, ge=0)


class PixelProductOut(BaseModel):
    row: int
    col: int
    column_index: int = Field(description="Which im2col column holds this pixel's window.")
    window: list[float]
    weights: list[float]
    products: list[float]
    total: float


class MatmulOut(BaseModel):
    crop: list[list[float]]
    kernel: KernelOut
    weight_row: list[float] = Field(description="The kernel flattened to one row (1, kH*kW).")
    cols: list[list[float]] = Field(description="im2col matrix (kH*kW, H_out*W_out).")
    output_matmul: list[list[float]] = Field(description="weight_row @ cols, reshaped.")
    output_conv2d: list[list[float]] = Field(description="conv2d on the crop, for comparison.")
    max_abs_difference: float
    rows: ShapeOut
    cols_shape: ShapeOut
    pixel: PixelProductOut


# ---------------------------------------------------------------- MNIST
class MnistSampleOut(BaseModel):
    index: int
    label: int
    pixels: list[list[int]]
    png: str


class MnistPredictIn(_Strict):
    images: list[ImageIn] = Field(min_length=1, description="A batch of drawings or images.")


class DigitPredictionOut(BaseModel):
    label: int = Field(description="The most likely digit.")
    confidence: float = Field(description="Its probability.")
    probabilities: list[float] = Field(description="Ten probabilities, digits 0 to 9.")
    input_28: list[list[float]] = Field(description="The preprocessed 28×28 model input.")
    input_png: str = Field(description="That input as a data: URL.")
    activations: list[str] = Field(description="First-layer activation maps as data: URLs.")
    activations_shape: list[int] = Field(description="(channels, height, width) of the maps.")
    sure: bool = Field(description="The confidence reaches the reader's threshold (0.8).")
    verdict: str = Field(description='"7", or "not sure (7 or 1?)" under the threshold.')
    first_layer: dict[str, int] = Field(
        description="The first convolution as the model has it: kernel, stride, padding, "
        "channels.")
    layers: list[LayerMapsOut] = Field(
        description="Every layer's maps after its activation and after each pooling.")
    saliency_png: str = Field(
        description="Input × gradient of the top logit as a data: URL (mid-grey 0, white "
        "for evidence for the answer, black against).")


class LayerMapsOut(BaseModel):
    name: str = Field(description='The layer, e.g. "2 ReLU".')
    shape: list[int] = Field(description="(channels, height, width).")
    maps: list[str] = Field(description="One data: URL per channel.")


DigitPredictionOut.model_rebuild()


class MnistPredictOut(BaseModel):
    predictions: list[DigitPredictionOut]


# ---------------------------------------------------------------- movies
class MovieOut(BaseModel):
    """One MovieLens movie."""

    movie_id: int
    title: str
    year: int | None = Field(description="Release year (null when unknown).")
    genres: list[str]


class MovieMatchOut(MovieOut):
    match: float = Field(description="How well the title matches the query, 0 to 1.")


class MovieSearchOut(BaseModel):
    query: str
    results: list[MovieMatchOut]


class ScoredMovieOut(MovieOut):
    score: float = Field(description="Predicted rating (recommendations) or cosine similarity.")
    explanation: str = Field(description="Why it is here, e.g. \"because you rated ... highly\".")


class SimilarOut(BaseModel):
    movie: MovieOut
    similar: list[ScoredMovieOut]


class RecommendationsOut(BaseModel):
    user_id: int
    based_on: int = Field(description="How many of your ratings were folded in.")
    fold_in_ms: float = Field(description="Time to fold your ratings in and rank every movie.")
    recommendations: list[ScoredMovieOut]


class BiasOut(BaseModel):
    title: str
    bias: float = Field(description="Learned movie bias, in stars.")


class BiasesOut(BaseModel):
    """Movies rated lower (or higher) than their viewers' tastes predict (fastai's book)."""

    min_ratings: int
    lowest: list[BiasOut]
    highest: list[BiasOut]


# ---------------------------------------------------------------- ratings
class RatingIn(_Strict):
    rating: float = Field(ge=0.5, le=5, description="Stars on the served release's scale "
                          "(`GET /api/status` names the release): integers 1 to 5 for ml-100k "
                          "and ml-1m, half stars 0.5 to 5 for the later releases.")


class RatingOut(BaseModel):
    movie_id: int
    rating: float
    title: str | None = None
    updated_at: int


class RatingsOut(BaseModel):
    data: list[RatingOut]
    count: int
