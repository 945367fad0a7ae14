"""The README's pictures are made here, by the code, not drawn by hand.

Writes ``docs/images/feature-maps.png`` (the four edge kernels on the first validation batch),
``docs/images/conv-animate.gif`` (``convrec conv animate``) and ``docs/images/studio-conv.png``
(the convolution playground in a real browser).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def test_readme_feature_map_figure(shared_data: Path) -> None:
    from convrec.vision.edges import edge_figure
    from convrec.vision.mnist import first_batch, load_mnist

    data = load_mnist(data_dir=shared_data, download=False)
    x, _ = first_batch("valid", data=data)  # (64, 1, 28, 28)
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = edge_figure(x, IMAGES / "feature-maps.png", rows=4)
    with Image.open(path) as im:
        assert im.size[0] > im.size[1] > 200  # 4 rows × 5 columns


def test_readme_animation() -> None:
    """conv_arithmetic's "padding with strides" case, as ``convrec conv animate`` draws it."""
    from convrec.vision.animate import AnimationSpec, animate_convolution

    IMAGES.mkdir(parents=True, exist_ok=True)
    path = animate_convolution(IMAGES / "conv-animate.gif",
                               AnimationSpec(5, 3, stride=2, padding=1), cell=24)
    with Image.open(path) as gif:
        assert getattr(gif, "n_frames", 1) == 3 * 3 + 1  # one per output pixel, then the end


@pytest.mark.browser
def test_readme_studio_screenshot(shared_data: Path, start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    from convrec.data.mnist import read_mnist_split

    images, labels = read_mnist_split(shared_data / "mnist", "test")
    studio = start_studio(mnist=(images[:16], labels[:16]))
    page.goto(studio.url + "/conv")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    page.fill("#stride", "2")
    page.select_option("#padding", "1")
    page.select_option("#padding-mode", "reflect")
    expect(page.locator("#shape-rows")).to_have_text("(28 + 2*1 - 3)//2 + 1 = 14")
    # the playground's stage: the padded digit, the window of one hovered output pixel, its
    # nine products and their sum, then the same pixel's im2col column
    cell = float(page.locator("#out-canvas").get_attribute("data-cell"))
    page.evaluate("document.querySelectorAll('h2')[2].scrollIntoView()")
    page.locator("#out-canvas").hover(position={"x": 6.5 * cell, "y": 4.5 * cell})
    expect(page.locator("#pixel-title")).to_have_text("output pixel (4, 6)")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-conv.png"), full_page=False)
    with Image.open(IMAGES / "studio-conv.png") as im:
        assert im.size == (1280, 1000)
        assert np.asarray(im.convert("L")).std() > 10  # a rendered page, not a blank one
