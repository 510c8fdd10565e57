"""Deck images are served from the deck file's folder, and from nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask import Flask

from tests.web.conftest import PNG, Browser, deck_id


def test_image_from_the_deck_folder(app: Flask, browser: Browser) -> None:
    deck = deck_id(app)
    response = browser.get(f"/media/{deck}/img/dot.png")
    assert response.status_code == 200
    assert response.data == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_study_page_points_at_it(app: Flask, browser: Browser) -> None:
    html = browser.get(f"/decks/{deck_id(app)}").get_data(as_text=True)
    assert f'src="/media/{deck_id(app)}/img/dot.png"' in html


@pytest.mark.parametrize(
    "name",
    [
        "../secret.png",
        "img/../../secret.png",
        "%2e%2e/secret.png",
        "..%2fsecret.png",
        "/etc/passwd",
        "img/missing.png",
        "basics.yaml",
        "img",
    ],
)
def test_nothing_outside_the_folder(app: Flask, browser: Browser, name: str) -> None:
    response = browser.get(f"/media/{deck_id(app)}/{name}", follow_redirects=True)
    assert response.status_code == 404, name
    assert response.data != PNG


def test_symlink_out_of_the_folder_is_refused(
    app: Flask, browser: Browser, decks_dir: Path, tmp_path: Path
) -> None:
    os.symlink(tmp_path / "secret.png", decks_dir / "img" / "link.png")
    assert browser.get(f"/media/{deck_id(app)}/img/link.png").status_code == 404


def test_unknown_deck(app: Flask, browser: Browser) -> None:
    assert browser.get("/media/9999/img/dot.png").status_code == 404
