"""The digit reader and the movie recommender, used through a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_draw_a_digit_and_see_the_prediction(
    start_studio: Any, page: Any, digit_classifier: Any
) -> None:
    from playwright.sync_api import expect

    studio = start_studio(classifier=digit_classifier)
    page.goto(studio.url + "/digits")
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 140, box["y"] + 40)  # one vertical stroke: a 1
    page.mouse.down()
    page.mouse.move(box["x"] + 142, box["y"] + 240, steps=12)
    page.mouse.up()
    expect(page.locator("#digit-label")).to_have_text("1")
    expect(page.locator("#digit-confidence")).to_have_text(re.compile(r"\(\d+\.\d% sure\)"))
    expect(page.locator("#probabilities .bar-row")).to_have_count(10)
    expect(page.locator("#probabilities .bar-row.top")).to_have_attribute("data-digit", "1")
    expect(page.locator("#input28")).to_be_visible()
    expect(page.locator("#activations figure")).to_have_count(32)
    expect(page.locator("#activations-info")).to_contain_text("32 maps of 12×12")
    assert page.locator("#digit-error").text_content() == ""
    # a test digit by index; one past the end is answered with the rule, not a crash
    page.fill("#mnist-index", "1")
    page.click("#read-mnist")
    # the ring of the tiny test set; the small test model may be below the "sure" threshold,
    # and then it must still name 0 as its first guess
    expect(page.locator("#digit-label")).to_have_text(re.compile(r"^(0|not sure \(0 or \d\?\))$"))
    page.fill("#mnist-index", "7")
    page.click("#read-mnist")
    expect(page.locator("#digit-error")).to_contain_text("the MNIST test set has 2 digits")


def test_sign_up_rate_five_movies_and_see_recommendations(
    start_studio: Any, page: Any, movie_recommender: Any
) -> None:
    from playwright.sync_api import expect

    studio = start_studio(recommender=movie_recommender)
    page.goto(studio.url + "/login?next=/movies")
    page.fill("#username", "moviefan")
    page.fill("#password", "a long password")
    page.click("#signup")
    page.wait_for_url(studio.url + "/movies")
    expect(page.locator("#whoami")).to_have_text("moviefan")
    expect(page.locator("#recs li")).to_have_count(10)  # before any rating: liked by most
    expect(page.locator("#bias-low li")).to_have_count(5)
    rated = []
    for k, (query, title) in enumerate([
        ("star wars", "Star Wars (1977)"),
        ("empire strikes back", "Empire Strikes Back, The (1980)"),
        ("return of the jedi", "Return of the Jedi (1983)"),
        ("raiders of the lost ark", "Raiders of the Lost Ark (1981)"),
        ("terminator 2", "Terminator 2: Judgment Day (1991)"),
    ], start=1):
        page.fill("#movie-search", query)
        page.press("#movie-search", "Enter")
        first = page.locator("#search-results li").first
        expect(first.locator(".title")).to_have_text(title)
        stars = 5 if k < 5 else 3  # "because you rated X" needs X above this user's mean
        first.locator(f'.stars button[data-stars="{stars}"]').click()
        expect(page.locator("#my-ratings li")).to_have_count(k)
        rated.append(first.get_attribute("data-movie"))
        expect(first.locator(".stars button.on")).to_have_count(stars)
    expect(page.locator("#recs-info")).to_contain_text("From your 5 ratings")
    expect(page.locator("#recs li")).to_have_count(10)
    expect(page.locator("#recs li .why").first).to_have_text(re.compile("^because you rated “"))
    shown = page.locator("#recs li").evaluate_all("items => items.map(i => i.dataset.movie)")
    assert not set(shown) & set(rated)
    # similar movies for the first recommendation, and the map of movie factors
    page.locator("#recs li button.similar").first.click()
    expect(page.locator("#similar li")).to_have_count(8)
    # no empty image box before the map is asked for (the stylesheet's display once beat hidden)
    expect(page.locator("#movie-map")).to_be_hidden()
    page.click("#show-map")
    expect(page.locator("#movie-map")).to_be_visible()
    page.wait_for_function(
        "() => { const m = document.getElementById('movie-map'); return m.naturalWidth > 0; }"
    )
    assert page.locator("#movies-error").text_content() == ""
