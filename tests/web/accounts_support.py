"""Helpers for the accounts tests: an app with FLASHCARDS_ACCOUNTS on, users made
through the accounts service, and a browser that logs in like a person does.

Import `accounts_app_fixture` (it provides `app`, replacing the local-mode one) and
`fast_hashing` into a test module. Password hashing runs at a tiny scrypt cost
here; one test in test_accounts.py checks the production cost.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from flashcards.db.models import Card, Deck, Note, User
from flashcards.services import accounts
from flashcards.services.importing import import_paths
from flashcards.services.uploads import upload_deck
from flashcards.web.app import app_state
from tests.web.conftest import Browser, Clock, make_app

PASSWORDS = {
    "alice": "alice-correct-horse-1",
    "bob": "bob-battery-staple-2",
    "root": "root-admin-passphrase-3",
}

ALICE_YAML = """\
deck: Alice private
id: diary
cards:
  - id: secret
    front: alice-secret-question
    back: alice-secret-answer
"""

BOB_YAML = """\
deck: Bob private
id: diary
cards:
  - id: secret
    front: bob-own-question
    back: bob-own-answer
"""


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "SCRYPT_COST", (2**4, 8, 1))


def accounts_app(
    database_url: str,
    tmp_path: Path,
    decks_dir: Path,
    clock: Clock,
    **overrides: Any,
) -> Flask:
    app = make_app(database_url, tmp_path, decks_dir, clock, accounts=True, **overrides)
    with app.app_context(), app_state().sessions.begin() as session:
        report = import_paths(session, [decks_dir], now=clock())
        assert report.ok, report.failures
    return app


@pytest.fixture(name="app")
def accounts_app_fixture(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> Iterator[Flask]:
    """Accounts on, invitation-only registration, the shared decks imported."""
    app = accounts_app(database_url, tmp_path, decks_dir, clock)
    yield app
    with app.app_context():
        app_state().engine.dispose()


def add_user(app: Flask, name: str, *, admin: bool = False) -> int:
    with app.app_context(), app_state().sessions.begin() as session:
        user = accounts.create_user(
            session,
            name=name,
            password=PASSWORDS[name],
            now=app.config["NOW"](),
            is_admin=admin,
        )
        return user.id


def upload(app: Flask, user_id: int, text: str, filename: str = "diary.yaml") -> int:
    with app.app_context(), app_state().sessions.begin() as session:
        user = session.get_one(User, user_id)
        result = upload_deck(
            session, user=user, data=text.encode(), filename=filename,
            now=app.config["NOW"](),
        )
        return result.deck_id


def card_in(app: Flask, deck: int, key: str = "secret", slot: str = "front") -> int:
    with app.app_context(), app_state().sessions() as session:
        return session.scalars(
            select(Card.id)
            .join(Note, Note.id == Card.note_id)
            .where(Card.deck_id == deck, Note.key == key, Card.slot == slot)
        ).one()


def shared_deck(app: Flask, slug: str = "basics") -> int:
    with app.app_context(), app_state().sessions() as session:
        return session.scalars(
            select(Deck.id).where(Deck.slug == slug, Deck.scope == "shared")
        ).one()


def login(
    browser: Browser, name: str, password: str | None = None, **extra: str
) -> TestResponse:
    """Log in through the form; afterwards the browser holds the new CSRF token."""
    browser.token = None
    browser.get("/login")
    response = browser.post(
        "/login", {"name": name, "password": password or PASSWORDS[name], **extra}
    )
    if response.status_code == 303:
        browser.get("/")
    return response


def logged_in(app: Flask, name: str) -> Browser:
    browser = Browser(app.test_client())
    response = login(browser, name)
    assert response.status_code == 303, response.get_data(as_text=True)
    return browser


def invite_token(link: str) -> str:
    match = re.search(r"/invite/([A-Za-z0-9_-]+)", link)
    assert match, link
    return match.group(1)


def later(clock: Clock, **delta: float) -> dt.datetime:
    clock.advance(**delta)
    return clock()
