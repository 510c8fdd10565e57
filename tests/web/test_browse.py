"""The card browser (search, sort, pages) and a card's page with its actions."""

from __future__ import annotations

import io
import re
from pathlib import Path

from flask import Flask

from flashcards.services.importing import import_paths
from flashcards.web.app import app_state
from tests.web.conftest import (
    SUB_YAML,
    Browser,
    Clock,
    deck_id,
    field,
    review_count,
    text_of,
)


def card_links(html: str) -> list[int]:
    pattern = r'<th scope="row" class="question-cell"><a href="/cards/(\d+)"'
    return [int(n) for n in re.findall(pattern, html)]


def study_one(browser: Browser, deck: int, rating: str) -> int:
    page = browser.get(f"/study/{deck}")
    card = field(page, "card_id")
    browser.post(f"/study/{deck}/answer", {"card_id": card,
                 "version": field(page, "version"), "rating": rating})
    return int(card)


def test_browse_lists_every_card(app: Flask, browser: Browser) -> None:
    page = browser.get("/browse")
    assert page.status_code == 200
    assert "8 cards found" in text_of(page)
    assert len(card_links(page.get_data(as_text=True))) == 8


def test_search_by_text_deck_and_tag(app: Flask, browser: Browser) -> None:
    page = browser.get("/browse?q=capital")
    assert "1 card found" in text_of(page)
    assert "What is the capital of France?" in text_of(page)
    # Both words must match; case does not matter.
    assert "1 card found" in text_of(browser.get("/browse?q=PARIS+france"))
    assert "0 cards found" in text_of(browser.get("/browse?q=capital+dos"))
    # Wildcards are literal.
    assert "0 cards found" in text_of(browser.get("/browse?q=%25"))
    sub = deck_id(app, "basics-sub")
    assert "2 cards found" in text_of(browser.get(f"/browse?deck={sub}"))
    # A deck includes its subdecks.
    assert "8 cards found" in text_of(browser.get(f"/browse?deck={deck_id(app)}"))
    assert "1 card found" in text_of(browser.get("/browse?tag=geo"))
    # Deck tags count for every card of the deck.
    assert "6 cards found" in text_of(browser.get("/browse?tag=test"))


def test_search_by_state_due_and_lapses(app: Flask, browser: Browser, clock: Clock) -> None:
    deck = deck_id(app, "basics-sub")
    study_one(browser, deck, "4")  # review, due in 4 days
    study_one(browser, deck, "3")  # learning
    assert "6 cards found" in text_of(browser.get("/browse?state=new"))
    assert "1 card found" in text_of(browser.get("/browse?state=learning"))
    assert "1 card found" in text_of(browser.get("/browse?state=review"))
    assert "1 card found" in text_of(browser.get("/browse?due=today"))
    assert "2 cards found" in text_of(browser.get("/browse?due=week"))
    assert "0 cards found" in text_of(browser.get("/browse?due=overdue"))
    clock.advance(days=6)
    assert "2 cards found" in text_of(browser.get("/browse?due=overdue"))
    assert "0 cards found" in text_of(browser.get("/browse?lapses=1"))
    study_one(browser, deck, "4")  # the learning card comes first; it graduates
    page = browser.get(f"/study/{deck}")
    card = field(page, "card_id")
    study_one(browser, deck, "1")
    found = browser.get("/browse?lapses=1")
    assert "1 card found" in text_of(found)
    assert card_links(found.get_data(as_text=True)) == [int(card)]


def test_sort_and_pages(app: Flask, browser: Browser) -> None:
    deck = deck_id(app, "basics-sub")
    reviewed = study_one(browser, deck, "4")
    all_ids = card_links(browser.get("/browse").get_data(as_text=True))
    assert all_ids == sorted(all_ids)
    desc = card_links(browser.get("/browse?order=desc").get_data(as_text=True))
    assert desc == sorted(all_ids, reverse=True)
    by_interval = card_links(
        browser.get("/browse?sort=interval&order=desc").get_data(as_text=True)
    )
    assert by_interval[0] == reviewed
    by_due = card_links(browser.get("/browse?sort=due").get_data(as_text=True))
    assert by_due[0] == reviewed
    # Pages of 3, forwards and backwards.
    seen: list[int] = []
    url = "/browse?sort=deck"
    pages = 0
    app.config["BROWSE_PAGE_SIZE"] = 3
    while url:
        page = browser.get(url).get_data(as_text=True)
        seen += card_links(page)
        pages += 1
        match = re.search(r'href="([^"]+)">Next', page)
        url = match.group(1).replace("&amp;", "&") if match else ""
    assert pages == 3
    assert sorted(seen) == sorted(all_ids)
    assert len(seen) == len(set(seen))
    match = re.search(r'href="([^"]+)">← Previous', page)
    assert match
    previous = browser.get(match.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert card_links(previous) == seen[3:6]


def test_bad_searches_are_explained(app: Flask, browser: Browser) -> None:
    for url, message in (
        ("/browse?sort=nonsense", "Unknown sort"),
        ("/browse?state=sleepy", "Unknown state"),
        ("/browse?lapses=many", "Lapses must be a whole number"),
        ("/browse?after=garbage", "no longer valid"),
        ("/browse?deck=99999", "no such deck"),
    ):
        response = browser.get(url)
        assert response.status_code == 400, url
        assert message in text_of(response), url


def test_odd_search_text_is_searched_not_an_error(app: Flask, browser: Browser) -> None:
    """A NUL byte, a word repeated many times: a result page, never a 500."""
    for text in ("cap%00ital", "Paris " * 3000, "%00"):
        response = browser.get("/browse", query_string={"q": text.replace("%00", "\x00")})
        assert response.status_code == 200, text[:20]
    found = text_of(browser.get("/browse", query_string={"q": "capital\x00"}))
    assert "What is the capital of France?" in found


def test_card_page_shows_content_state_history_and_source(
    app: Flask, browser: Browser, decks_dir: object
) -> None:
    card = study_one(browser, deck_id(app), "3")
    page = browser.get(f"/cards/{card}")
    text = text_of(page)
    assert "What is the capital of France?" in text
    assert "Paris" in text
    assert "The city of light." in text
    assert "learning" in text
    assert "File basics.yaml:7" in text  # relative to the decks folder
    assert str(decks_dir) not in page.get_data(as_text=True)
    assert "Good" in text  # the review log
    assert "Unsuspend" not in text


def test_pages_name_deck_files_without_server_paths(
    app: Flask, browser: Browser, decks_dir: Path, tmp_path: Path, clock: Clock
) -> None:
    (decks_dir / "lang").mkdir()
    (decks_dir / "lang" / "spanish.yaml").write_text(
        "deck: Spanish\nid: es\ncards:\n  - id: hola\n    front: hola\n    back: hello\n"
    )
    elsewhere = tmp_path / "elsewhere" / "french.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(
        "deck: French\nid: fr\ncards:\n  - id: oui\n    front: oui\n    back: oui\n"
    )
    with app.app_context(), app_state().sessions.begin() as session:
        assert import_paths(session, [decks_dir, elsewhere], now=clock()).ok
    mine = b"deck: Mine\ncards:\n  - id: m\n    front: mine\n    back: x\n"
    upload = browser.client.post(
        "/decks/upload",
        data={"csrf_token": browser.csrf(), "deck_file": (io.BytesIO(mine), "mine.yaml")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 303
    for slug, deck_text, card_text in (
        ("es", "Source lang/spanish.yaml", "File lang/spanish.yaml:4"),
        ("fr", "Source french.yaml", "File french.yaml:4"),  # outside: the name only
        ("mine", "Uploaded by you", "File uploaded deck mine , line 3"),
    ):
        deck = deck_id(app, slug)
        card = card_links(browser.get(f"/browse?deck={deck}").get_data(as_text=True))[0]
        for url, expected in ((f"/decks/{deck}", deck_text), (f"/cards/{card}", card_text)):
            page = browser.get(url)
            assert expected in text_of(page), url
            assert str(tmp_path) not in page.get_data(as_text=True), url


def test_search_follows_edits_and_removals(
    app: Flask, browser: Browser, decks_dir: Path, clock: Clock
) -> None:
    capital = card_links(browser.get("/browse?q=capital").get_data(as_text=True))
    assert len(capital) == 1
    form = browser.get(f"/cards/{capital[0]}/edit")
    browser.post(f"/cards/{capital[0]}/edit", {
        "base_hash": field(form, "base_hash"),
        "front": "What is the capital of France?", "back": "Lutetia", "extra": "",
    })
    assert "1 card found" in text_of(browser.get("/browse?q=lutetia"))
    assert "0 cards found" in text_of(browser.get("/browse?q=paris"))
    assert "0 cards found" in text_of(browser.get("/browse?q=light"))
    # An entry taken out of its file: found among removed cards only.
    (decks_dir / "basics-sub.yaml").write_text(SUB_YAML.split("  - id: two")[0])
    with app.app_context(), app_state().sessions.begin() as session:
        assert import_paths(session, [decks_dir], now=clock()).ok
    assert "0 cards found" in text_of(browser.get("/browse?q=dos"))
    assert "1 card found" in text_of(browser.get("/browse?q=dos&state=retired"))


def test_card_actions(app: Flask, browser: Browser) -> None:
    card = study_one(browser, deck_id(app), "4")
    browser.get(f"/cards/{card}")
    assert browser.post(f"/cards/{card}/suspend").status_code == 303
    page = text_of(browser.get(f"/cards/{card}"))
    assert "Suspended: it stays out of study" in page
    assert "Unsuspend" in page
    assert "1 card found" in text_of(browser.get("/browse?state=suspended"))
    browser.post(f"/cards/{card}/unsuspend")
    assert "0 cards found" in text_of(browser.get("/browse?state=suspended"))
    browser.post(f"/cards/{card}/due", {"days": "10"})
    assert "in 10 days" in text_of(browser.get(f"/cards/{card}"))
    browser.post(f"/cards/{card}/bury")
    assert "Unbury" in text_of(browser.get(f"/cards/{card}"))
    browser.post(f"/cards/{card}/unbury")
    browser.post(f"/cards/{card}/reset")
    page = text_of(browser.get(f"/cards/{card}"))
    assert "Progress reset" in page
    assert "State new" in page
    assert review_count(app) == 1  # the log stays


def test_bad_card_actions_change_nothing(app: Flask, browser: Browser) -> None:
    card = study_one(browser, deck_id(app), "4")
    assert browser.post(f"/cards/{card}/due", {"days": "soon"}).status_code == 400
    response = browser.post(f"/cards/{card}/due", {"days": "-3"})
    assert response.status_code == 400
    assert "between 0 and 36500" in text_of(response)
    assert browser.post(f"/cards/{card}/explode").status_code == 404
    assert browser.post("/cards/999999/suspend").status_code == 404
    assert browser.post(f"/cards/{card}/suspend", csrf=False).status_code == 400
    assert "0 cards found" in text_of(browser.get("/browse?state=suspended"))
