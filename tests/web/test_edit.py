"""Editing a card writes into its YAML file (layout kept) or the uploaded source."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from flashcards.cli import main as cli
from flashcards.db.models import Card, Deck, Note
from flashcards.web.app import app_state
from tests.web.conftest import (
    BASICS_YAML,
    Browser,
    deck_id,
    field,
    review_count,
    text_of,
)


def card_of(app: Flask, key: str, slot: str = "front") -> int:
    with app.app_context(), app_state().sessions() as session:
        return session.scalars(
            select(Card.id).join(Note, Note.id == Card.note_id)
            .where(Note.key == key, Card.slot == slot)
        ).one()


def test_edit_form_shows_the_source(app: Flask, browser: Browser, decks_dir: Path) -> None:
    card = card_of(app, "capital")
    page = browser.get(f"/cards/{card}/edit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ">What is the capital of France?</textarea>" in html
    assert ">Paris</textarea>" in html
    assert f"{decks_dir}/basics.yaml:7" in text_of(page)
    cloze = browser.get(f"/cards/{card_of(app, 'cloze-one', 'c1')}/edit")
    assert 'name="cloze"' in cloze.get_data(as_text=True)
    assert 'name="front"' not in cloze.get_data(as_text=True)


def test_edit_writes_back_keeping_comments_and_history(
    app: Flask, browser: Browser, decks_dir: Path
) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    card = int(field(page, "card_id"))
    assert card == card_of(app, "capital")
    browser.post(f"/study/{deck}/answer", {"card_id": str(card),
                 "version": field(page, "version"), "rating": "3"})
    form = browser.get(f"/cards/{card}/edit?next=/study/{deck}")
    response = browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"),
        "next": f"/study/{deck}",
        "front": "What is the capital of France?",
        "back": "Paris, on the Seine",
        "extra": "The city of light.",
    })
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/study/{deck}")
    text = (decks_dir / "basics.yaml").read_text()
    assert "back: Paris, on the Seine" in text
    assert "# A small deck for the web tests. This comment must survive edits." in text
    assert "# the capital card" in text
    # Only that line changed: comments, quoting and order are as they were.
    assert text == BASICS_YAML.replace("back: Paris\n", "back: Paris, on the Seine\n", 1)
    page = browser.get(f"/cards/{card}")
    assert "Paris, on the Seine" in text_of(page)
    assert "Good" in text_of(page)  # the history stayed with the card
    assert review_count(app) == 1
    assert card_of(app, "capital") == card


def test_emptying_extra_removes_it(app: Flask, browser: Browser, decks_dir: Path) -> None:
    card = card_of(app, "capital")
    form = browser.get(f"/cards/{card}/edit")
    browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"),
        "front": "What is the capital of France?", "back": "Paris", "extra": "",
    })
    assert "city of light" not in (decks_dir / "basics.yaml").read_text()


def test_invalid_edit_is_refused_with_the_messages_of_check(
    app: Flask, browser: Browser, decks_dir: Path, tmp_path: Path
) -> None:
    card = card_of(app, "cloze-one", "c1")
    before = (decks_dir / "basics.yaml").read_bytes()
    form = browser.get(f"/cards/{card}/edit")
    bad = "The mitochondria has no gap at all."
    response = browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"), "cloze": bad, "extra": "",
    })
    assert response.status_code == 400
    assert (decks_dir / "basics.yaml").read_bytes() == before
    # `flashcards check` on the same edit says the same thing.
    edited = tmp_path / "check" / "basics.yaml"
    edited.parent.mkdir()
    edited.write_text(before.decode().replace(
        "The {{c1::mitochondria}} is the {{c2::powerhouse::what kind of house?}} "
        "of the cell.", bad))
    result = CliRunner().invoke(cli, ["check", str(edited)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines
    page = text_of(response)
    for line in lines:
        assert line.replace(str(edited), str(decks_dir / "basics.yaml")) in page
    # The form keeps what was typed.
    assert bad in response.get_data(as_text=True)


def test_required_field_cannot_be_emptied(app: Flask, browser: Browser, decks_dir: Path) -> None:
    card = card_of(app, "capital")
    before = (decks_dir / "basics.yaml").read_bytes()
    form = browser.get(f"/cards/{card}/edit")
    response = browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"), "front": "  ", "back": "Paris",
    })
    assert response.status_code == 400
    assert "'front' cannot be empty" in text_of(response)
    assert (decks_dir / "basics.yaml").read_bytes() == before


def test_file_changed_meanwhile_is_a_conflict(
    app: Flask, browser: Browser, decks_dir: Path
) -> None:
    card = card_of(app, "capital")
    form = browser.get(f"/cards/{card}/edit")
    path = decks_dir / "basics.yaml"
    changed = path.read_text().replace("back: Paris", "back: Paris (edited in vim)")
    path.write_text(changed)
    response = browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"), "front": "Capital of France?",
        "back": "Paris",
    })
    assert response.status_code == 409
    assert "changed after you opened this card" in text_of(response)
    assert path.read_text() == changed
    # The form now offers the current text.
    assert "Paris (edited in vim)</textarea>" in response.get_data(as_text=True)


def test_bad_edit_posts(app: Flask, browser: Browser, decks_dir: Path) -> None:
    card = card_of(app, "capital")
    before = (decks_dir / "basics.yaml").read_bytes()
    form = browser.get(f"/cards/{card}/edit")
    data = {"base_hash": field(form, "base_hash"), "front": "x", "back": "y"}
    assert browser.post(f"/cards/{card}/edit", data, csrf=False).status_code == 400
    assert browser.post("/cards/999999/edit", data).status_code == 404
    assert browser.get("/cards/999999/edit").status_code == 404
    # An unsafe "next" is ignored.
    response = browser.post(f"/cards/{card}/edit", {**data, "next": "//evil.example/"})
    assert response.headers["Location"] == f"/cards/{card}"
    assert (decks_dir / "basics.yaml").read_bytes() != before


def test_edit_uploaded_deck_stores_the_source(app: Flask, browser: Browser) -> None:
    browser.get("/decks/upload")
    upload = b"deck: Mine\nid: mine\ncards:\n  - id: a  # keep me\n    front: A?\n    back: a\n"
    browser.client.post("/decks/upload", data={
        "csrf_token": browser.csrf(), "deck_file": (io.BytesIO(upload), "mine.yaml"),
    }, content_type="multipart/form-data")
    card = card_of(app, "a")
    form = browser.get(f"/cards/{card}/edit")
    response = browser.post(f"/cards/{card}/edit", {
        "base_hash": field(form, "base_hash"), "front": "A?", "back": "alpha",
    })
    assert response.status_code == 303
    with app.app_context(), app_state().sessions() as session:
        deck = session.scalars(select(Deck).where(Deck.slug == "mine")).one()
        assert deck.source_path is None
        assert deck.source_text is not None
        assert "back: alpha" in deck.source_text
        assert "# keep me" in deck.source_text
    assert "alpha" in text_of(browser.get(f"/cards/{card}"))
