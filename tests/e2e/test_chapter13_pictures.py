"""The studio's screenshots of fastai's chapter 13 experiments, made by the browser
(``docs/chapter13.md`` lists every experiment with the picture that shows it).

Writes into ``docs/images/``: ``studio-conv-edges.png`` (the four edge kernels on a digit),
``studio-conv-matmul.png`` (one output pixel as an im2col column and a Toeplitz row),
``studio-conv-rgb.png`` (a 3×3×3 kernel summing over the colour channels) and
``studio-digits.png`` (a trained CNN reading an MNIST test digit, every layer shown). Each
picture is taken after the page showed the numbers checked here against PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

pytestmark = pytest.mark.browser

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def test_digits(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 16 MNIST test digits (a 7, a 2, a 1, a 0, ...)."""
    from convrec.data.mnist import read_mnist_split

    images, labels = read_mnist_split(shared_data / "mnist", "test")
    return images[:16], labels[:16]


def panel(page: Any, title: str) -> Any:
    """The page's section whose heading starts with ``title``."""
    return page.locator("section.panel", has=page.locator(f"h2:text-matches('^{title}')"))


def save(locator: Any, name: str) -> Path:
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / name
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    with Image.open(path) as im:
        assert min(im.size) > 100
        assert np.asarray(im.convert("L")).std() > 10  # drawn, not blank
    return path


def test_edge_kernels_on_a_digit(start_studio: Any, page: Any, test_digits: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio(mnist=test_digits)
    page.goto(studio.url + "/conv")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    edges = panel(page, "5. ")
    expect(edges.locator("canvas")).to_have_count(4)
    expect(page.locator("#edges-info")).to_contain_text("(1, 1, 28, 28) → (1, 4, 26, 26)")
    seven = torch.from_numpy(test_digits[0][0].astype(np.float64) / 255)[None, None]
    top_edge = torch.tensor([[-1.0] * 3, [0.0] * 3, [1.0] * 3], dtype=torch.float64)
    bound = float(F.conv2d(seven, top_edge[None, None]).abs().max())
    expect(edges).to_contain_text(f"top_edge → 26×26, range ±{bound:.2f}")  # as the page rounds
    save(edges, "studio-conv-edges.png")


def test_one_pixel_as_a_matrix_product(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/conv")
    page.select_option("#source", "numbers")  # the 5×5 grid 1/25 ... 25/25: small matrices
    page.select_option("#padding", "1")
    expect(page.locator("#out-shape")).to_have_text("5×5")
    page.wait_for_load_state("networkidle")
    cell = float(page.locator("#out-canvas").get_attribute("data-cell"))
    page.locator("#out-canvas").hover(position={"x": 2.5 * cell, "y": 1.5 * cell})
    expect(page.locator("#pixel-title")).to_have_text("output pixel (1, 2)")
    x = torch.arange(1, 26, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    top_edge = torch.tensor([[-1.0] * 3, [0.0] * 3, [1.0] * 3], dtype=torch.float64)
    expected = float(F.conv2d(x, top_edge[None, None], padding=1)[0, 0, 1, 2])
    assert float(page.locator("#pixel-sum").get_attribute("data-value")) == pytest.approx(
        expected, abs=1e-4)
    expect(page.locator("#im2col-title")).to_contain_text("column 7 is output pixel (1, 2)")
    expect(page.locator("#toeplitz-title")).to_contain_text("row 7")
    expect(page.locator("#checks")).to_contain_text("Toeplitz M @ grid.ravel(): equal")
    save(panel(page, "4. "), "studio-conv-matmul.png")


def test_a_kernel_per_colour_channel(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/conv")
    page.select_option("#channels", "3")
    page.select_option("#source", "colour")
    page.click("text=red only: top edge 3×3")
    expect(page.locator("#out-shape")).to_have_text("14×14")
    page.wait_for_load_state("networkidle")  # the preset's answer drawn: a hover sticks
    cell = float(page.locator("#out-canvas").get_attribute("data-cell"))
    page.locator("#out-canvas").hover(position={"x": 6.5 * cell, "y": 5.5 * cell})
    expect(page.locator("#pixel-title")).to_have_text("output pixel (5, 6)")
    assert len(page.locator("#products td").all()) == 27  # 3×3×3: the sum runs over channels
    expect(page.locator("#pixel-sum")).to_contain_text("red")
    save(panel(page, "3. "), "studio-conv-rgb.png")


def test_a_trained_cnn_reads_a_test_digit(
    start_studio: Any, page: Any, digit_classifier: Any, test_digits: Any
) -> None:
    from playwright.sync_api import expect

    studio = start_studio(classifier=digit_classifier, mnist=test_digits)
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.goto(studio.url + "/digits")
    page.fill("#mnist-index", "0")
    page.click("#read-mnist")
    expected = digit_classifier.predict(test_digits[0][0])  # the model itself, not the page
    assert expected.digit == int(test_digits[1][0]) == 7  # the first test digit, read right
    expect(page.locator("#digit-label")).to_have_text(expected.verdict())
    expect(page.locator("#activations figure")).to_have_count(32)
    expect(page.locator("#saliency")).to_be_visible()
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-digits.png"), full_page=True)
    with Image.open(IMAGES / "studio-digits.png") as im:
        assert im.size[0] == 1280 and np.asarray(im.convert("L")).std() > 10
