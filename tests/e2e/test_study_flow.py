"""Studying in a real browser: keyboard only, no page loads, undo, math, cloze,
stale tabs, and plain forms when JavaScript is off."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def counts(page: Page) -> tuple[int, int, int]:
    text = page.locator(".study-panel .counts").inner_text()
    pairs = re.findall(r"(\d+)\s+(new|learning|to review)", text)
    found = {kind: int(n) for n, kind in pairs}
    return found["new"], found["learning"], found["to review"]


def answer_with_keys(page: Page, key: str) -> None:
    card = page.locator(".study-panel").get_attribute("data-card")
    page.keyboard.press("Space")
    expect(page.locator("#answer")).to_be_visible()
    page.keyboard.press(key)
    expect(page.locator(".study-panel")).not_to_have_attribute("data-card", card or "")


def test_study_five_cards_with_the_keyboard(page: Page, server: Server) -> None:
    deck = server.deck_id("study")
    page.goto(f"{server.url}/study/{deck}")
    page.evaluate("window.__noReload = true")
    assert counts(page) == (8, 0, 0)  # 7 cards + the Math subdeck's card
    for n in range(1, 6):
        expect(page.locator(".face.question")).to_contain_text(f"Question number {n}?")
        page.wait_for_timeout(50)  # a measurable time per card
        answer_with_keys(page, "3")
    assert counts(page) == (3, 5, 0)
    expect(page.locator(".face.question")).to_contain_text("Question number 6?")
    # No page was loaded: the marker set before studying is still there.
    assert page.evaluate("window.__noReload") is True
    logged = server.reviews()
    assert len(logged) == 5
    assert [rating for _, rating, _ in logged] == [3] * 5
    assert all(duration >= 50 for _, _, duration in logged)
    assert len({card for card, _, _ in logged}) == 5


def test_undo_with_z(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/study/{server.deck_id('study')}")
    answer_with_keys(page, "1")
    expect(page.locator(".face.question")).to_contain_text("Question number 2?")
    assert len(server.reviews()) == 1
    page.keyboard.press("z")
    expect(page.locator(".face.question")).to_contain_text("Question number 1?")
    expect(page.locator(".notice")).to_contain_text("taken back")
    assert server.reviews() == []
    assert counts(page) == (8, 0, 0)


def test_bury_and_suspend_keys(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/study/{server.deck_id('study')}")
    page.keyboard.press("-")
    expect(page.locator(".notice")).to_contain_text("Buried")
    expect(page.locator(".face.question")).to_contain_text("Question number 2?")
    page.keyboard.press("@")
    expect(page.locator(".notice")).to_contain_text("Suspended")
    expect(page.locator(".face.question")).to_contain_text("Question number 3?")


def test_math_renders_as_mathml(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/study/{server.deck_id('math')}")
    math = page.locator(".face.question math")
    expect(math).to_have_count(1)
    box = math.bounding_box()
    assert box and box["width"] > 20 and box["height"] > 10
    assert page.locator(".face.question msubsup, .face.question munderover").count() >= 1
    page.keyboard.press("Enter")
    block = page.locator(".face.answer math[display='block']")
    expect(block).to_be_visible()
    expect(page.locator(".extra")).to_contain_text("polar coordinates")


def test_cloze_front_and_back(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/study/{server.deck_id('cloze')}")
    expect(page.locator(".face.question .cloze")).to_have_text("[…]")
    expect(page.locator(".face.question")).not_to_contain_text("mitochondria")
    page.keyboard.press("Space")
    revealed = page.locator(".face.answer .cloze-revealed")
    expect(revealed).to_have_text("mitochondria")
    color = revealed.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent")


def test_stale_tab_shows_a_message_and_records_once(
    chromium: Browser, server: Server
) -> None:
    context = chromium.new_context()
    first, second = context.new_page(), context.new_page()
    url = f"{server.url}/study/{server.deck_id('study')}"
    first.goto(url)
    second.goto(url)
    answer_with_keys(first, "3")
    second.keyboard.press("Space")
    second.keyboard.press("4")
    expect(second.locator(".notice")).to_contain_text("already answered")
    expect(second.locator(".face.question")).to_contain_text("Question number 2?")
    assert len(server.reviews()) == 1
    context.close()


def test_plain_forms_without_javascript(chromium: Browser, server: Server) -> None:
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/study/{server.deck_id('study')}")
    expect(page.locator("#answer")).to_be_hidden()
    page.get_by_role("button", name="Show answer").click()
    expect(page.locator("#answer")).to_be_visible()
    expect(page.locator(".face.answer")).to_contain_text("Answer number 1.")
    page.locator(".rate-good").click()
    expect(page.locator(".face.question")).to_contain_text("Question number 2?")
    assert len(server.reviews()) == 1
    page.get_by_role("button", name="Undo").click()
    expect(page.locator(".face.question")).to_contain_text("Question number 1?")
    assert server.reviews() == []
    context.close()


def test_keyboard_reaches_everything_with_visible_focus(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const e = document.activeElement;"
            " const s = getComputedStyle(e); return [e.tagName, e.textContent.trim(),"
            " s.outlineStyle, s.outlineWidth]; }"
        )
        tag, text, style, width = outline
        if tag in ("A", "BUTTON"):
            assert style != "none" and width != "0px", (text, style, width)
            seen.add(text)
    assert "Study" in seen
