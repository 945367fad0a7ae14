"""The convolution playground and accounts, used through a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_changing_the_stride_changes_the_shape_formula(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/conv")
    expect(page.locator("#shape-rows")).to_have_text("(28 + 2*0 - 3)//1 + 1 = 26")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    page.fill("#stride", "2")
    expect(page.locator("#shape-rows")).to_have_text("(28 + 2*0 - 3)//2 + 1 = 13")
    expect(page.locator("#out-shape")).to_have_text("13×13")
    page.select_option("#padding", "same")
    expect(page.locator("#out-shape")).to_have_text("14×14")
    # the im2col view explains one output pixel as a row times a column
    expect(page.locator("#matmul")).to_contain_text("im2col matrix (9×")
    page.fill("#stride", "0")  # invalid: the API's rule is shown, not a crash
    expect(page.locator("#conv-error")).to_contain_text("stride")


def test_draw_a_digit_and_see_its_maps(start_studio: Any, page: Any) -> None:
    from playwright.sync_api import expect

    studio = start_studio()
    page.goto(studio.url + "/conv")
    expect(page.locator("#out-shape")).to_have_text("26×26")
    box = page.locator("#draw").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 140, box["y"] + 240, steps=10)
    page.mouse.up()
    # the 280×280 drawing replaces the 28×28 digit
    expect(page.locator("#image-info")).to_have_text("input 280×280")
    expect(page.locator("#out-shape")).to_have_text("278×278")
    page.check("#all-edges")
    expect(page.locator("#maps figure")).to_have_count(5)  # input + four edge maps


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
