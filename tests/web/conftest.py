"""Web fixtures: an app on a fresh database with a small decks folder, a controllable
clock, and a client helper that carries the CSRF token like a browser does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from flashcards.config import Settings
from flashcards.db.models import Review
from flashcards.services.importing import import_paths
from flashcards.web.app import app_state, create_app

BASICS_YAML = """\
# A small deck for the web tests. This comment must survive edits.
deck: Basics
id: basics
description: A *small* deck with ![a dot](img/dot.png) in it.
tags: [test]
cards:
  - id: capital   # the capital card
    front: What is the capital of France?
    back: Paris
    extra: The city of light.
    tags: [geo]
  - id: euler
    front: Euler's identity?
    back: $e^{i\\pi} + 1 = 0$
    reverse: true
  - id: cloze-one
    cloze: The {{c1::mitochondria}} is the {{c2::powerhouse::what kind of house?}} of the cell.
  - id: picture
    front: "What is shown? ![a dot](img/dot.png)"
    back: A dot.
"""

SUB_YAML = """\
deck: Basics::Sub
id: basics-sub
cards:
  - id: one
    front: One?
    back: Uno
  - id: two
    front: Two?
    back: Dos
"""

# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class Clock:
    """A settable `now` for app.config["NOW"]."""

    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
def decks_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "decks"
    (folder / "img").mkdir(parents=True)
    (folder / "basics.yaml").write_text(BASICS_YAML)
    (folder / "basics-sub.yaml").write_text(SUB_YAML)
    (folder / "img" / "dot.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    return folder


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


def make_app(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock, **overrides: Any
) -> Flask:
    settings = Settings(
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        decks_dir=decks_dir,
        **overrides,
    )
    app = create_app(settings, testing=True)
    app.config["NOW"] = clock
    return app


@pytest.fixture
def empty_app(database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock) -> Flask:
    """The app before any deck was imported."""
    return make_app(database_url, tmp_path, decks_dir, clock)


@pytest.fixture
def app(empty_app: Flask, decks_dir: Path, clock: Clock) -> Iterator[Flask]:
    with empty_app.app_context():
        state = app_state()
        with state.sessions.begin() as session:
            report = import_paths(session, [decks_dir], now=clock())
        assert report.ok, report.failures
    yield empty_app
    with empty_app.app_context():
        app_state().engine.dispose()


class Browser:
    """A test client that sends the page's CSRF token with its posts."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.token: str | None = None

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        response = self.client.get(url, **kwargs)
        match = re.search(rb'name="csrf-token" content="([^"]+)"', response.data)
        if match:
            self.token = match.group(1).decode()
        return response

    def csrf(self) -> str:
        if self.token is None:
            self.get("/")
        assert self.token is not None
        return self.token

    def post(
        self, url: str, data: dict[str, Any] | None = None, *, json: bool = False,
        csrf: bool = True, **kwargs: Any,
    ) -> TestResponse:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf())
        headers = kwargs.pop("headers", {})
        if json:
            headers["Accept"] = "application/json"
        return self.client.post(url, data=form, headers=headers, **kwargs)


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app.test_client())


def review_count(app: Flask) -> int:
    with app.app_context(), app_state().sessions() as session:
        return session.scalar(select(func.count()).select_from(Review)) or 0


def text_of(response: TestResponse) -> str:
    """The page's text without tags, whitespace collapsed (for message checks)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def field(response: TestResponse, name: str) -> str:
    """The value of the first form field `name` on the page."""
    match = re.search(
        rf'name="{name}" value="([^"]*)"', response.get_data(as_text=True)
    )
    assert match, f"no field {name!r} on the page"
    return match.group(1)


def deck_id(app: Flask, slug: str = "basics") -> int:
    from flashcards.db.models import Deck

    with app.app_context(), app_state().sessions() as session:
        return session.scalars(select(Deck.id).where(Deck.slug == slug)).one()
