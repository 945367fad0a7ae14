"""The convolution playground and accounts, used through a real browser.

The playground's numbers are checked against PyTorch computed here, independently of the
page and of the API: hover an output pixel, read the products and the sum the page shows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.e2e.conftest import tiny_mnist

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _patient_expect() -> None:
    """Wait up to 15 s (as the page's default) for the page: the CI machine may be loaded."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


def open_playground(start_studio: Any, page: Any) -> Any:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/conv")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    return studio


def hover_output(page: Any, i: int, j: int) -> None:
    """Hover output pixel (i, j). The canvas may be redrawn at a new cell size after the
    hover (the shape is shown at once, the map when the API answers), so hover again, at
    the cell size of the moment, until the page names the pixel (15 s, as the page waits)."""
    from playwright.sync_api import expect

    canvas, title = page.locator("#out-canvas"), page.locator("#pixel-title")
    for _ in range(30):
        cell = float(canvas.get_attribute("data-cell"))
        canvas.hover(position={"x": j * cell + cell / 2, "y": i * cell + cell / 2})
        if title.text_content() == f"output pixel ({i}, {j})":
            return
        page.wait_for_timeout(500)
    expect(title).to_have_text(f"output pixel ({i}, {j})")


def shown_products(page: Any) -> np.ndarray:
    return np.array(page.eval_on_selector_all(
        "#products td", "cells => cells.map((c) => parseFloat(c.dataset.product))"))


def shown_sum(page: Any) -> float:
    return float(page.locator("#pixel-sum").get_attribute("data-value"))


def digit() -> torch.Tensor:
    return torch.from_numpy(tiny_mnist()[0][0].astype(np.float64) / 255)[None, None]


def test_hover_a_pixel_products_and_sum_equal_conv2d(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    page.select_option("#ksize", "5")
    expect(page.locator("#kernel-name")).to_have_text("top edge 5×5")
    page.select_option("#padding", "2")
    page.select_option("#padding-mode", "reflect")
    page.fill("#stride", "2")
    expect(page.locator("#shape-rows")).to_have_text("(28 + 2*2 - 5)//2 + 1 = 14")
    kernel = torch.tensor([[-1.0] * 5, [-1.0] * 5, [0.0] * 5, [1.0] * 5, [1.0] * 5],
                          dtype=torch.float64)
    padded = F.pad(digit(), (2, 2, 2, 2), mode="reflect")
    expected = F.conv2d(padded, kernel[None, None], stride=2)[0, 0]
    for i, j in [(1, 6), (10, 7), (0, 0)]:
        hover_output(page, i, j)
        window = padded[0, 0, 2 * i : 2 * i + 5, 2 * j : 2 * j + 5]
        np.testing.assert_allclose(shown_products(page), (window * kernel).ravel().numpy(),
                                   atol=1e-4)
        assert shown_sum(page) == pytest.approx(float(expected[i, j]), abs=1e-4)
    assert float(expected[1, 6]) != 0  # the bar's top: the check is not all zeros
    # the same pixel's im2col column and Toeplitz row are named and light up
    expect(page.locator("#im2col-title")).to_contain_text("column 0 is output pixel (0, 0)")
    expect(page.locator("#toeplitz-title")).to_contain_text("row 0")
    expect(page.locator("#checks")).to_contain_text("Toeplitz M @ grid.ravel(): equal")


def test_step_play_and_pause_the_sliding_window(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    canvas = page.locator("#out-canvas")
    expect(canvas).to_have_attribute("data-filled", "676")  # the finished map first
    page.click("#step")
    expect(page.locator("#step-info")).to_have_text("pixel 1 of 676, 1 filled")
    expect(page.locator("#pixel-title")).to_have_text("output pixel (0, 0)")
    page.click("#step")
    page.click("#step")
    expect(page.locator("#pixel-title")).to_have_text("output pixel (0, 2)")
    expect(canvas).to_have_attribute("data-filled", "3")
    page.select_option("#speed", "40")
    page.click("#play")
    expect(page.locator("#play")).to_have_text("Pause")
    expect(canvas).to_have_attribute("data-filled", re.compile(r"^([1-9]\d+)$"))  # it moves
    page.click("#play")
    expect(page.locator("#play")).to_have_text("Play")
    paused_at = canvas.get_attribute("data-filled")
    page.wait_for_timeout(300)
    assert canvas.get_attribute("data-filled") == paused_at
    page.click("#reset")
    expect(canvas).to_have_attribute("data-filled", "1")
    # the same digit through fastai's four edge kernels, (1, 1, 28, 28) -> (1, 4, 26, 26)
    expect(page.locator("#edge-maps canvas")).to_have_count(4)
    expect(page.locator("#edges-info")).to_contain_text("(1, 1, 28, 28) → (1, 4, 26, 26)")
    expect(page.locator("#edge-maps")).to_contain_text("left_edge → 26×26")


def test_edge_maps_are_drawn_from_the_numbers_with_the_diverging_scale(
    start_studio: Any, page: Any
) -> None:
    """The API answers numbers only; the page colours each cell with RdBu_r on ±max |value|.
    Checked against matplotlib's RdBu_r of F.conv2d with fastai's kernels written out here."""
    from matplotlib import colormaps
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    expect(page.locator("#edge-maps canvas")).to_have_count(4)
    fastai = {"left_edge": [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]],
              "diag2_edge": [[1, -1, 0], [0, 1, -1], [0, 0, 1]]}
    for name, kernel in fastai.items():
        expected = F.conv2d(digit(), torch.tensor(kernel, dtype=torch.float64)[None, None])[0, 0]
        bound = float(expected.abs().max())
        canvas = page.locator(f'#edge-maps canvas[data-kernel="{name}"]')
        expect(canvas.locator("xpath=..")).to_contain_text(f"{name} → 26×26, range ±{bound:g}")
        flat = expected.flatten()
        picks = {int(flat.argmax()), int(flat.argmin()), 0, 26 * 13 + 13}
        for index in sorted(picks):
            i, j = divmod(index, 26)
            shown = canvas.evaluate(
                """(c, [i, j]) => { const cs = c.width / 26;
                   return [...c.getContext("2d").getImageData(j * cs + cs / 2, i * cs + cs / 2,
                                                             1, 1).data].slice(0, 3); }""",
                [i, j])
            want = np.array(colormaps["RdBu_r"]((float(expected[i, j]) / bound + 1) / 2)[:3])
            np.testing.assert_allclose(shown, want * 255, atol=3, err_msg=f"{name} ({i}, {j})")


def test_padding_modes_draw_their_real_values_and_kernel_sizes_change(
    start_studio: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    page.select_option("#source", "numbers")
    expect(page.locator("#image-info")).to_have_text("the numbers sample, 5×5")
    x = torch.arange(1, 26, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    for mode, torch_mode in [("zeros", "constant"), ("replicate", "replicate"),
                             ("circular", "circular"), ("reflect", "reflect")]:
        page.select_option("#padding", "1")
        page.select_option("#padding-mode", mode)
        expect(page.locator("#grid-legend")).to_contain_text(
            "zeros padding" if mode == "zeros" else f"{mode} padding")
        hover_output(page, 0, 0)
        padded = F.pad(x, (1, 1, 1, 1), mode=torch_mode)
        window = padded[0, 0, 0:3, 0:3].ravel()
        values = page.eval_on_selector_all("#products td", "c => c.map((e) => +e.dataset.value)")
        np.testing.assert_allclose(values, window.numpy(), atol=1e-4)  # the padding's values
    # a reflect padding cell names the input pixel it copies and the output pixels reading it
    cell = float(page.locator("#grid-canvas").get_attribute("data-cell"))
    page.locator("#grid-canvas").hover(position={"x": 2.5 * cell, "y": 0.5 * cell})
    expect(page.locator("#cell-info")).to_have_text(
        "grid cell (0, 2) = 0.28: reflect padding: a copy of input pixel (1, 1); read by 3 "
        "output pixels (outlined)")
    for size, side in [(1, 5), (2, 6), (4, 4), (7, 1)]:
        page.select_option("#ksize", str(size))
        expect(page.locator("#kernel-grids input")).to_have_count(size * size)
        expect(page.locator("#out-shape")).to_have_text(f"{side}×{side}")
    page.select_option("#padding", "same")
    page.select_option("#ksize", "4")
    expect(page.locator("#shape-notes")).to_contain_text("'same' padding: the output keeps")
    # 'same' with stride 2 on the 28×28 digit: the odd extra row goes at the bottom, said so
    page.select_option("#source", "mnist")
    page.select_option("#ksize", "3")
    page.fill("#stride", "2")
    expect(page.locator("#shape-rows")).to_have_text("(28 + 0 + 1 - 3)//2 + 1 = 14")
    expect(page.locator("#shape-notes")).to_contain_text("1 is odd, so 0 goes before and 1 after")
    # the arrow keys move the chosen output pixel
    hover_output(page, 3, 3)
    page.locator("#out-canvas").press("ArrowRight")
    page.locator("#out-canvas").press("ArrowDown")
    expect(page.locator("#pixel-title")).to_have_text("output pixel (4, 4)")


def test_rgb_sums_over_channels_and_transposed_matches_conv_transpose2d(
    start_studio: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    page.select_option("#channels", "3")
    page.select_option("#source", "colour")
    page.click("text=red only: top edge 3×3")
    expect(page.locator("#out-shape")).to_have_text("14×14")
    hover_output(page, 2, 2)
    assert len(shown_products(page)) == 27  # a 3×3×3 kernel: the sum runs over channels
    expect(page.locator("#pixel-sum")).to_contain_text("red")
    # the transposed view of the 5×5 numbers, stride 2, padding 1, output_padding 1
    page.select_option("#channels", "1")
    page.select_option("#source", "numbers")
    page.select_option("#operation", "transposed")
    page.fill("#stride", "2")
    page.select_option("#padding", "1")
    page.fill("#output-padding", "1")
    expect(page.locator("#shape-rows")).to_have_text(
        "(5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10")
    x = torch.arange(1, 26, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    top_edge = torch.tensor([[-1.0] * 3, [0.0] * 3, [1.0] * 3], dtype=torch.float64)
    expected = F.conv_transpose2d(x, top_edge[None, None], stride=2, padding=1,
                                  output_padding=1)[0, 0]
    for i, j in [(9, 3), (4, 4)]:
        hover_output(page, i, j)
        assert shown_sum(page) == pytest.approx(float(expected[i, j]), abs=1e-4)
    expect(page.locator("#grid-legend")).to_contain_text("zeros inserted by the stride")


def test_errors_are_plain_words_and_clear_the_old_result(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    page.fill("#stride", "9")
    expect(page.locator("#conv-error")).to_have_text(
        "Stride: should be less than or equal to 4 (you gave 9)")
    expect(page.locator("#out-shape")).to_have_text("–")
    expect(page.locator("#products td")).to_have_count(0)
    page.fill("#stride", "1")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    expect(page.locator("#conv-error")).to_have_text("")
    page.select_option("#source", "numbers")
    page.select_option("#ksize", "7")
    expect(page.locator("#conv-error")).to_contain_text("must fit in the padded input")
    expect(page.locator("#conv-error")).not_to_contain_text("body")


def test_a_drawing_is_reduced_to_28_by_28(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    open_playground(start_studio, page)
    box = page.locator("#draw").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 20, steps=10)
    page.mouse.up()
    expect(page.locator("#image-info")).to_contain_text("reduced to 28×28 as MNIST was made")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    page.click("#clear")
    expect(page.locator("#out-shape")).to_have_text("–")


def test_sign_up_then_log_out_and_in(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/login")
    page.fill("#username", "browseruser")
    page.fill("#password", "a long password")
    page.click("#signup")
    expect(page.locator("#whoami")).to_have_text("browseruser")
    cookie = next(c for c in page.context.cookies() if c["name"] == "convrec_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("#logout")
    expect(page.locator("#login-link")).to_be_visible()
    page.goto(studio.url + "/login")
    page.fill("#username", "browseruser")
    page.fill("#password", "the wrong password")
    page.click("#login")
    expect(page.locator("#auth-error")).to_have_text(re.compile("wrong username or password"))
