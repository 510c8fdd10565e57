"""The Download page and files: .apkg and YAML per deck and for the collection."""

from __future__ import annotations

import io
import sqlite3
import tempfile
import zipfile
from pathlib import Path

from flask import Flask

from flashcards.deckfile.parse import parse_deck
from tests.web.conftest import Browser, deck_id, field, review_count, text_of


def notes_in(package: bytes) -> list[str]:
    with (
        zipfile.ZipFile(io.BytesIO(package)) as archive,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "collection.anki2"
        path.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(path)
        try:
            return [row[0] for row in conn.execute("SELECT flds FROM notes")]
        finally:
            conn.close()


def revlog_rows(package: bytes) -> int:
    with (
        zipfile.ZipFile(io.BytesIO(package)) as archive,
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "collection.anki2"
        path.write_bytes(archive.read("collection.anki2"))
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT count(*) FROM revlog").fetchone()[0])
        finally:
            conn.close()


def test_download_page_lists_decks_with_a_progress_checkbox(
    app: Flask, browser: Browser
) -> None:
    page = browser.get(f"/download?deck={deck_id(app)}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "All decks (the whole collection)" in html
    assert 'name="with_progress"' in html
    assert f'value="{deck_id(app)}" selected' in html
    deck_page = browser.get(f"/decks/{deck_id(app)}")
    assert f"/download?deck={deck_id(app)}" in deck_page.get_data(as_text=True)


def test_download_one_deck_and_the_collection_as_apkg(
    app: Flask, browser: Browser
) -> None:
    one = browser.get(f"/download/file?deck={deck_id(app)}&format=apkg")
    assert one.status_code == 200
    assert one.headers["Content-Disposition"].startswith("attachment;")
    assert ".apkg" in one.headers["Content-Disposition"]
    everything = browser.get("/download/file?format=apkg")
    assert everything.status_code == 200
    assert len(notes_in(everything.data)) >= len(notes_in(one.data)) > 0


def test_download_with_progress_carries_the_review_log(
    app: Flask, browser: Browser
) -> None:
    deck = deck_id(app)
    page = browser.get(f"/study/{deck}")
    browser.post(
        f"/study/{deck}/answer",
        {
            "card_id": field(page, "card_id"),
            "version": field(page, "version"),
            "rating": "3",
        },
    )
    assert review_count(app) == 1
    without = browser.get(f"/download/file?deck={deck}&format=apkg")
    with_progress = browser.get(
        f"/download/file?deck={deck}&format=apkg&with_progress=1"
    )
    assert revlog_rows(without.data) == 0
    assert revlog_rows(with_progress.data) == 1


def test_download_a_deck_as_yaml_parses_back(app: Flask, browser: Browser) -> None:
    response = browser.get(f"/download/file?deck={deck_id(app)}&format=yaml")
    assert response.status_code == 200
    spec = parse_deck(response.data, source="download.yaml", default_id="x")
    assert spec.cards


def test_bad_download_requests_get_clear_errors(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    cases = {
        "/download/file?format=zip": 400,
        "/download/file?deck=abc": 400,
        "/download/file?format=yaml": 400,
        f"/download/file?deck={deck}&format=yaml&with_progress=1": 400,
        "/download/file?deck=999999": 404,
    }
    for url, status in cases.items():
        response = browser.get(url)
        assert response.status_code == status, url
        assert "Nothing was downloaded" in text_of(response) or status == 404
