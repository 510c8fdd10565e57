"""The statistics page: served safely, accessible charts with tables, deck and period."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from flashcards.db.models import Card, CardProgress, Deck, Note
from flashcards.services import study
from flashcards.web.app import app_state
from flashcards.web.auth import current_user
from tests.web.conftest import Browser, Clock, make_app, text_of


@pytest.fixture
def stats_app(app: Flask) -> Flask:
    """The app; create_app registers the statistics blueprint."""
    assert "stats" in app.blueprints
    return app


@pytest.fixture
def stats_browser(stats_app: Flask) -> Browser:
    return Browser(stats_app.test_client())


def answer_some(app: Flask, clock: Clock, ratings: list[int]) -> list[int]:
    """Answer the first cards of Basics once each; returns their ids."""
    ids = []
    with app.test_request_context(), app_state().sessions.begin() as session:
        user = current_user(session)
        cards = session.scalars(
            select(Card.id)
            .join(Deck, Deck.id == Card.deck_id)
            .where(Deck.slug == "basics", Card.slot == "front")  # no siblings
            .order_by(Card.id)
        ).all()
        for card_id, rating in zip(cards, ratings, strict=False):
            study.answer_card(
                session,
                user=user,
                card_id=card_id,
                rating=rating,
                now=clock(),
                expected_version=0,
                duration_ms=5000,
            )
            ids.append(card_id)
    return ids


def test_page_is_served_safely(stats_browser: Browser) -> None:
    response = stats_browser.get("/stats")
    assert response.status_code == 200
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert 'href="/static/stats.css"' in html


def test_stylesheet_has_dark_colours(stats_browser: Browser) -> None:
    response = stats_browser.get("/static/stats.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["Content-Type"]
    css = response.get_data(as_text=True)
    assert "@media (prefers-color-scheme: dark)" in css


def test_every_chart_is_an_accessible_image_with_a_table(
    stats_app: Flask, stats_browser: Browser, clock: Clock
) -> None:
    answer_some(stats_app, clock, [3, 1, 4])
    html = stats_browser.get("/stats").get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    charts = re.findall(r"<svg\b[^>]*>", html)
    assert len(charts) == 9
    for tag in charts:
        assert 'role="img"' in tag
        chart_id = re.search(r'\sid="([^"]+)"', tag)
        assert chart_id
        labelled = re.search(r'aria-labelledby="([^"]+)"', tag)
        assert labelled
        assert labelled.group(1).split() == [
            f"{chart_id.group(1)}-title",
            f"{chart_id.group(1)}-desc",
        ]
    assert html.count("<title id=") == 9
    assert html.count("<desc id=") == 9
    # Each panel with charts has a table of the same numbers.
    panels = re.findall(r'<section class="panel".*?</section>', html, flags=re.S)
    for panel in panels:
        if "<svg" in panel:
            assert "<table" in panel, panel[:120]


def test_figures_after_some_answers(
    stats_app: Flask, stats_browser: Browser, clock: Clock
) -> None:
    card_ids = answer_some(stats_app, clock, [3, 1, 4])
    response = stats_browser.get("/stats")
    text = text_of(response)
    assert "Answers today 3" in text
    assert "Time today 15 s" in text
    assert "Correct today 66.7%" in text
    assert "Streak 1 day" in text
    # The calendar's title names today's answers; its table lists today.
    assert "3 answers on 1 day of the past 365" in text
    assert "Tue 10 Mar 2026 3 15 s" in text
    # The answer buttons of new cards count as learning.
    assert re.search(r"Learning 1 0 1 1", text)
    html = response.get_data(as_text=True)
    assert f'href="/cards/{card_ids[0]}"' not in html  # no lapses yet
    assert "No card has lapsed yet." in text


def test_hardest_cards_link_to_their_card_page(
    stats_app: Flask, stats_browser: Browser, clock: Clock
) -> None:
    with stats_app.test_request_context(), app_state().sessions.begin() as session:
        user = current_user(session)
        card_id = session.scalars(
            select(Card.id).join(Note).where(Note.key == "capital")
        ).first()
        assert card_id is not None
        study.set_due_in_days(session, user=user, card_id=card_id, days=0, now=clock())
        version = session.scalars(
            select(CardProgress.version).where(CardProgress.card_id == card_id)
        ).one()
        study.answer_card(
            session,
            user=user,
            card_id=card_id,
            rating=1,
            now=clock(),
            expected_version=version,
        )
    html = stats_browser.get("/stats").get_data(as_text=True)
    assert f'href="/cards/{card_id}"' in html
    assert "What is the capital of France?" in html


def test_one_deck_and_its_subdecks(stats_app: Flask, stats_browser: Browser) -> None:
    with stats_app.app_context(), app_state().sessions() as session:
        basics = session.scalars(select(Deck).where(Deck.slug == "basics")).one()
        sub = session.scalars(select(Deck).where(Deck.slug == "basics-sub")).one()
    all_text = text_of(stats_browser.get("/stats"))
    assert "New 8 100.0%" in all_text  # 6 cards in Basics, 2 in Basics::Sub
    response = stats_browser.get(f"/stats?deck={basics.id}")
    assert response.status_code == 200
    text = text_of(response)
    assert "Statistics Basics and its subdecks" in text
    assert "New 8 100.0%" in text
    sub_text = text_of(stats_browser.get(f"/stats?deck={sub.id}"))
    assert "New 2 100.0%" in sub_text
    html = response.get_data(as_text=True)
    assert f'<option value="{basics.id}" selected>' in html
    # State counts link to the browser, filtered to the deck.
    assert f"/browse?state=new&amp;deck={basics.id}" in html


def test_period_choice(stats_browser: Browser) -> None:
    month = stats_browser.get("/stats").get_data(as_text=True)
    assert '<option value="30" selected>' in month
    assert "Answers per day, past month" in month
    year = stats_browser.get("/stats?period=365").get_data(as_text=True)
    assert '<option value="365" selected>' in year
    assert "Answers per week, past year" in year


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/stats?deck=999999", 404),
        ("/stats?deck=abc", 400),
        ("/stats?period=7", 400),
        ("/stats?period=x", 400),
        ("/stats?period=0", 400),
        ("/stats?deck=0", 404),
    ],
)
def test_bad_queries(stats_browser: Browser, url: str, status: int) -> None:
    response = stats_browser.get(url)
    assert response.status_code == status
    assert "Traceback" not in response.get_data(as_text=True)


def test_empty_collection_page(empty_app: Flask) -> None:
    response = Browser(empty_app.test_client()).get("/stats")
    assert response.status_code == 200
    text = text_of(response)
    assert "Answers today 0" in text
    assert "No answers in the past year." in text
    assert "No card has lapsed yet." in text


def test_accounts_mode_needs_a_login(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    app = make_app(database_url, tmp_path, decks_dir, clock, accounts=True)
    response = app.test_client().get("/stats?deck=1")
    assert response.status_code == 303
    assert "/login" in response.headers["Location"]
