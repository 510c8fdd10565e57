"""The home page's deck tree and counts, its empty state, and a deck's page."""

from __future__ import annotations

import re

from flask import Flask

from tests.web.conftest import Browser, deck_id, field, text_of


def test_home_lists_the_tree_with_counts(app: Flask, browser: Browser) -> None:
    page = browser.get("/")
    html = page.get_data(as_text=True)
    rows = re.findall(r'<tr class="depth-(\d)">.*?</tr>', html, flags=re.S)
    assert rows == ["0", "1"]
    text = text_of(page)
    # Basics: 6 cards of its own (front, reverse, c1, c2, ...) + 2 of Basics::Sub.
    assert "Basics 8 cards" in text
    assert "Sub 2 cards" in text
    basics_row = re.search(r'<tr class="depth-0">(.*?)</tr>', html, flags=re.S)
    assert basics_row
    counts = re.findall(r'class="num count-\w+[^"]*">(\d+)<', basics_row.group(1))
    assert counts == ["8", "0", "0"]
    assert "Total 2 decks, 8 cards" in text
    assert "never" in text
    assert html.count(">Study</a>") == 2


def test_counts_change_after_studying(app: Flask, browser: Browser) -> None:
    sub = deck_id(app, "basics-sub")
    page = browser.get(f"/study/{sub}")
    browser.post(f"/study/{sub}/answer", {"card_id": field(page, "card_id"),
                 "version": field(page, "version"), "rating": "3"})
    html = browser.get("/").get_data(as_text=True)
    sub_row = re.search(r'<tr class="depth-1">(.*?)</tr>', html, flags=re.S)
    assert sub_row
    counts = re.findall(r'class="num count-\w+[^"]*">(\d+)<', sub_row.group(1))
    assert counts == ["1", "1", "0"]
    assert "just now" in text_of(browser.get("/"))


def test_parent_that_is_only_a_name(app: Flask, browser: Browser, decks_dir: object) -> None:
    from pathlib import Path

    from flashcards.services.importing import import_paths
    from flashcards.web.app import app_state

    assert isinstance(decks_dir, Path)
    (decks_dir / "lang.yaml").write_text(
        "deck: Languages::Spanish\nid: es\ncards:\n  - id: a\n    front: a\n    back: b\n"
    )
    with app.app_context(), app_state().sessions.begin() as session:
        import_paths(session, [decks_dir], now=app.config["NOW"]())
    text = text_of(browser.get("/"))
    assert "Languages 1 card" in text
    assert "Spanish 1 card" in text


def test_empty_home_says_what_to_do(empty_app: Flask, decks_dir: object) -> None:
    page = Browser(empty_app.test_client()).get("/")
    text = text_of(page)
    assert "No decks yet" in text
    assert str(decks_dir) in text
    assert "Upload a deck file" in text
    assert "flashcards import" in text


def test_deck_page(app: Flask, browser: Browser) -> None:
    page = browser.get(f"/decks/{deck_id(app)}")
    text = text_of(page)
    assert "Study now" in text
    assert "basics.yaml" in text
    assert "8 new" in text
    html = page.get_data(as_text=True)
    assert "<em>small</em>" in html
    assert f'src="/media/{deck_id(app)}/img/dot.png"' in html


def test_choose_preset(app: Flask, browser: Browser) -> None:
    browser.get("/options")
    created = browser.post("/options/presets", {"name": "Intense"})
    assert created.status_code == 303
    preset_id = int(created.headers["Location"].rsplit("/", 1)[1])
    response = browser.post("/decks/1/preset", {"preset_id": str(preset_id)})
    assert response.status_code == 303
    assert "now uses the options preset “Intense”" in text_of(browser.get("/decks/1"))
    assert browser.post("/decks/1/preset", {"preset_id": "9999"}).status_code == 400
    assert browser.post("/decks/1/preset", {"preset_id": "1"}, csrf=False).status_code == 400
