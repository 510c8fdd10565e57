"""Every page at desktop and phone width, light and dark: screenshots into
test-artifacts/ (to look at), no horizontal scrolling at 360 px, dark mode applied."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect

from tests.e2e.conftest import ARTIFACTS, Server

pytestmark = pytest.mark.e2e

Scheme = Literal["light", "dark"]
SIZES = {"desktop": (1280, 900), "phone": (360, 740)}
SCHEMES: tuple[Scheme, ...] = ("light", "dark")


def luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def prepare(page: Page, server: Server) -> dict[str, str]:
    """Study a little so the pages have something to show; return the page URLs."""
    study = server.deck_id("study")
    page.goto(f"{server.url}/study/{study}")
    for key in ("3", "1", "4"):
        page.keyboard.press("Space")
        expect(page.locator("#answer")).to_be_visible()
        card = page.locator(".study-panel").get_attribute("data-card") or ""
        page.keyboard.press(key)
        expect(page.locator(".study-panel")).not_to_have_attribute("data-card", card)
    with page.expect_navigation():
        page.locator("a[data-action='edit']").click()
    edit_url = page.url
    reviewed = server.reviews()[0][0]
    card_url = f"{server.url}/cards/{reviewed}"
    return {
        "home": f"{server.url}/",
        "deck": f"{server.url}/decks/{study}",
        "study-question": f"{server.url}/study/{study}",
        "study-answer": "reveal",
        "study-math": f"{server.url}/study/{server.deck_id('math')}",
        "study-cloze-answer": f"{server.url}/study/{server.deck_id('cloze')}",
        "study-done": "done",
        "browse": f"{server.url}/browse?sort=due",
        "card": card_url,
        "edit": edit_url,
        "upload": f"{server.url}/decks/upload",
        "options": f"{server.url}/options",
        "preset": f"{server.url}/options/presets/1",
    }


def open_page(page: Page, name: str, url: str, server: Server) -> None:
    if url == "reveal":
        page.goto(f"{server.url}/study/{server.deck_id('study')}")
        page.keyboard.press("Space")
    elif url == "done":
        page.goto(f"{server.url}/study/{server.deck_id('cloze')}")
        page.keyboard.press("Space")
        page.keyboard.press("4")
        expect(page.locator(".done")).to_be_visible()
        page.keyboard.press("z")  # put it back for the next round
        expect(page.locator(".face.question")).to_be_visible()
        page.goto(f"{server.url}/study/{server.deck_id('cloze')}")
        page.keyboard.press("Space")
        page.keyboard.press("4")
        expect(page.locator(".done")).to_be_visible()
    else:
        page.goto(url)
        if name == "study-cloze-answer":
            page.keyboard.press("Space")


def shoot(page: Page, name: str, size: str, scheme: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{size}-{scheme}.png"), full_page=True)


def check_layout(page: Page, name: str, size: str, scheme: str) -> None:
    width = SIZES[size][0]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name} scrolls sideways at {width}px ({scroll}px)"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    if scheme == "dark":
        assert luminance(background) < 0.2, (name, background)
    else:
        assert luminance(background) > 0.8, (name, background)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_every_page(chromium: Browser, server: Server, size: str, scheme: Scheme) -> None:
    width, height = SIZES[size]
    context = chromium.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme
    )
    page = context.new_page()
    urls = prepare(page, server)
    for name, url in urls.items():
        open_page(page, name, url, server)
        page.wait_for_load_state("networkidle")
        shoot(page, name, size, scheme)
        check_layout(page, name, size, scheme)
    # A refused upload shows its problems.
    page.goto(f"{server.url}/decks/upload")
    page.set_input_files(
        "#deck_file",
        files=[FilePayload(
            name="broken.yaml", mimeType="text/yaml",
            buffer=b"deck: Broken\ncards:\n  - id: a\n    front: only a front\n",
        )],
    )
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator(".problems")).to_be_visible()
    shoot(page, "upload-problems", size, scheme)
    check_layout(page, "upload-problems", size, scheme)
    context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_empty_home(chromium: Browser, empty_server: Server, size: str, scheme: Scheme) -> None:
    width, height = SIZES[size]
    context = chromium.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme
    )
    page = context.new_page()
    page.goto(empty_server.url + "/")
    expect(page.get_by_role("heading", name="No decks yet")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text(str(empty_server.decks))
    shoot(page, "empty-home", size, scheme)
    check_layout(page, "empty-home", size, scheme)
    context.close()


