"""Uploading a deck: the user's own deck, the CLI's validation report, all or nothing."""

from __future__ import annotations

import io

from flask import Flask
from sqlalchemy import func, select

from flashcards.db.models import Card, Deck
from flashcards.web.app import app_state
from tests.web.conftest import Browser, text_of

GOOD = b"""\
deck: Uploaded::German
cards:
  - id: hallo
    front: hallo
    back: hello
    reverse: true
  - front: danke
    back: thanks
"""


def upload(browser: Browser, data: bytes, name: str = "german.yaml", **kw: object) -> object:
    browser.get("/decks/upload")
    form = {"deck_file": (io.BytesIO(data), name)}
    if kw.get("csrf", True):
        form["csrf_token"] = browser.csrf()  # type: ignore[assignment]
    return browser.client.post(
        "/decks/upload", data=form, content_type="multipart/form-data"
    )


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context(), app_state().sessions() as session:
        decks = session.scalar(select(func.count()).select_from(Deck)) or 0
        cards = session.scalar(select(func.count()).select_from(Card)) or 0
        return decks, cards


def test_upload_page(app: Flask, browser: Browser) -> None:
    page = browser.get("/decks/upload")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.get_data(as_text=True)


def test_valid_upload_becomes_the_users_deck(app: Flask, browser: Browser) -> None:
    response = upload(browser, GOOD)
    assert response.status_code == 303  # type: ignore[attr-defined]
    with app.app_context(), app_state().sessions() as session:
        deck = session.scalars(select(Deck).where(Deck.slug == "german")).one()
        assert deck.scope == "user:1"
        assert deck.owner_id == 1
        assert deck.source_text == GOOD.decode()
    page = browser.get(response.headers["Location"])  # type: ignore[attr-defined]
    text = text_of(page)
    assert "german.yaml: ok (2 cards)" in text
    assert "2 added" in text  # entries; the reverse makes a third card
    # The CLI's warning about the derived id, word for word.
    assert "warning: german.yaml:7" in text
    assert "Uploaded by you" in text
    home = text_of(browser.get("/"))
    assert "Uploaded" in home and "German 3 cards" in home


def test_reupload_updates_in_place(app: Flask, browser: Browser) -> None:
    upload(browser, GOOD)
    before = counts(app)
    response = upload(browser, GOOD.replace(b"back: hello", b"back: hi"))
    assert response.status_code == 303  # type: ignore[attr-defined]
    assert counts(app) == before
    assert "1 updated" in text_of(browser.get(response.headers["Location"]))  # type: ignore[attr-defined]


def test_invalid_deck_is_refused_with_every_problem(app: Flask, browser: Browser) -> None:
    before = counts(app)
    bad = b"deck: Broken\ncards:\n  - id: a\n    front: only a front\n  - id: a\n    back: b\n"
    response = upload(browser, bad, "broken.yaml")
    assert response.status_code == 400  # type: ignore[attr-defined]
    text = text_of(response)  # type: ignore[arg-type]
    assert "broken.yaml was not imported" in text
    assert "Nothing was changed" in text
    assert "broken.yaml:3" in text
    assert "broken.yaml:5" in text
    assert counts(app) == before


def test_not_yaml_is_refused(app: Flask, browser: Browser) -> None:
    before = counts(app)
    png = upload(browser, b"\x89PNG\r\n\x1a\n\x00\x00binary", "picture.png")
    assert png.status_code == 400  # type: ignore[attr-defined]
    assert "is not a YAML deck file" in text_of(png)  # type: ignore[arg-type]
    binary = upload(browser, b"\xff\xfe\x00garbage\x00", "deck.yaml")
    assert binary.status_code == 400  # type: ignore[attr-defined]
    assert "deck.yaml" in text_of(binary)  # type: ignore[arg-type]
    prose = upload(browser, b"Just some text, not a deck.", "notes.yaml")
    assert prose.status_code == 400  # type: ignore[attr-defined]
    assert counts(app) == before


def test_fifty_megabytes_is_refused(app: Flask, browser: Browser) -> None:
    before = counts(app)
    response = upload(browser, b"#" * (50 * 1024 * 1024), "huge.yaml")
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert "at most 5.0 MB" in text_of(response)  # type: ignore[arg-type]
    assert counts(app) == before


def test_upload_without_csrf_or_file(app: Flask, browser: Browser) -> None:
    before = counts(app)
    response = upload(browser, GOOD, csrf=False)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "security token" in text_of(response)  # type: ignore[arg-type]
    empty = browser.post("/decks/upload", {})
    assert empty.status_code == 400
    assert "Choose a deck file" in text_of(empty)
    assert counts(app) == before


def test_client_path_is_not_trusted(app: Flask, browser: Browser) -> None:
    response = upload(browser, b"deck: X\ncards: [", "../../etc/evil.yaml")
    assert response.status_code == 400  # type: ignore[attr-defined]
    text = text_of(response)  # type: ignore[arg-type]
    assert "evil.yaml" in text
    assert "../" not in text
