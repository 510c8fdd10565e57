"""Every page answers, with the security headers, and without inline script or style."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.web.conftest import Browser, text_of

PAGES = [
    "/",
    "/decks/1",
    "/decks/upload",
    "/study/1",
    "/study/1?reveal=1&shown=0",
    "/browse",
    "/browse?q=capital&sort=due&order=desc",
    "/cards/1",
    "/cards/1/edit",
    "/options",
    "/options/presets/1",
]


@pytest.mark.parametrize("url", PAGES)
def test_page_is_served_safely(app: Flask, browser: Browser, url: str) -> None:
    browser.get("/options")  # makes the Default preset
    response = browser.get(url)
    assert response.status_code == 200, url
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    html = response.get_data(as_text=True)
    # Scripts only from files; no inline handlers, no style attributes or blocks.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert " style=" not in html and "<style" not in html
    # Nothing is fetched from elsewhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert 'name="csrf-token"' in html


def test_every_post_form_has_a_csrf_token(app: Flask, browser: Browser) -> None:
    for url in PAGES:
        html = browser.get(url).get_data(as_text=True)
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, flags=re.S):
            assert 'name="csrf_token"' in form, (url, form[:200])


def test_static_files_are_served(app: Flask, browser: Browser) -> None:
    for name, kind in (("style.css", "text/css"), ("app.js", "javascript")):
        response = browser.get(f"/static/{name}")
        assert response.status_code == 200
        assert kind in response.headers["Content-Type"]


def test_unknown_page_is_a_clear_404(app: Flask, browser: Browser) -> None:
    response = browser.get("/no/such/page")
    assert response.status_code == 404
    assert "There is nothing at this address" in text_of(response)
    assert browser.get("/cards/999999").status_code == 404
    assert browser.get("/decks/999999").status_code == 404


def test_wrong_method_is_405(app: Flask, browser: Browser) -> None:
    assert browser.client.get("/study/1/answer").status_code == 405


def test_text_from_decks_is_escaped(app: Flask, browser: Browser, decks_dir: object) -> None:
    from pathlib import Path

    assert isinstance(decks_dir, Path)
    (decks_dir / "evil.yaml").write_text(
        'deck: "<script>alert(1)</script>"\nid: evil\ncards:\n'
        '  - id: x\n    front: "<img src=x onerror=alert(1)> **bold**"\n'
        "    back: ok\n"
    )
    from flashcards.services.importing import import_paths
    from flashcards.web.app import app_state

    with app.app_context(), app_state().sessions.begin() as session:
        import_paths(session, [decks_dir], now=app.config["NOW"]())
    home = browser.get("/").get_data(as_text=True)
    assert "<script>alert(1)" not in home
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in home
    browse = browser.get("/browse?q=bold").get_data(as_text=True)
    assert "<img src=x" not in browse
    study = browser.get("/study/3").get_data(as_text=True)
    assert "<img src=x" not in study
    assert "onerror" not in study.replace("onerror=alert(1)&gt;", "")
    assert "<strong>bold</strong>" in study
