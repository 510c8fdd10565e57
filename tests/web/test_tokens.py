"""The API tokens settings page: create (shown once), list, revoke; CSRF on every form;
and the token service's bookkeeping (only a hash stored, last use recorded).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from flask import Flask
from sqlalchemy import select

from flashcards.db.models import ApiToken, User
from flashcards.services.api_tokens import (
    MAX_ACTIVE_TOKENS,
    TokenError,
    authenticate,
    create_token,
)
from flashcards.web.app import app_state
from tests.web.api_support import (
    Api,
    ensure_token_table,
    error_of,
    local_user_id,
    make_token,
    make_user,
)
from tests.web.conftest import Browser, text_of

TOKEN = re.compile(r"fc_[A-Za-z0-9_-]{43}")


@pytest.fixture
def page(app: Flask, browser: Browser) -> Browser:
    ensure_token_table(app)
    return browser


def _tokens(app: Flask) -> list[ApiToken]:
    with app.app_context(), app_state().sessions() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def test_empty_page_explains_tokens(page: Browser) -> None:
    response = page.get("/settings/tokens")
    assert response.status_code == 200
    text = text_of(response)
    assert "You have no API tokens yet." in text
    assert "Authorization: Bearer fc_…" in text


def test_create_shows_the_token_once_and_it_works(page: Browser, app: Flask) -> None:
    response = page.post("/settings/tokens", {"name": "  phone   app "})
    assert response.status_code == 200
    shown = TOKEN.findall(response.get_data(as_text=True))
    assert shown and len(set(shown)) == 1
    secret = shown[0]
    assert "Copy it now: it is not shown again." in text_of(response)
    (token,) = _tokens(app)
    assert token.name == "phone app"
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.user_id == local_user_id(app)

    later = page.get("/settings/tokens")
    assert secret not in later.get_data(as_text=True)
    assert "phone app" in text_of(later) and "never" in text_of(later)

    api = Api(app.test_client(), secret)
    assert api.get("/decks").status_code == 200
    assert "just now" in text_of(page.get("/settings/tokens"))


def test_create_needs_a_name_and_the_csrf_token(page: Browser, app: Flask) -> None:
    empty = page.post("/settings/tokens", {"name": "   "})
    assert empty.status_code == 400
    assert "Give the token a name" in text_of(empty)
    too_long = page.post("/settings/tokens", {"name": "x" * 81})
    assert too_long.status_code == 400
    forged = page.post("/settings/tokens", {"name": "evil"}, csrf=False)
    assert forged.status_code == 400
    assert _tokens(app) == []


def test_revoke(page: Browser, app: Flask) -> None:
    secret = make_token(app, local_user_id(app), "script")
    (token,) = _tokens(app)
    forged = page.post(f"/settings/tokens/{token.id}/revoke", csrf=False)
    assert forged.status_code == 400
    assert Api(app.test_client(), secret).get("/decks").status_code == 200

    response = page.post(f"/settings/tokens/{token.id}/revoke")
    assert response.status_code == 303
    listing = page.get("/settings/tokens")
    assert "The token “script” was revoked" in text_of(listing)
    assert "revoked 2026-03-10 12:00" in text_of(listing)
    assert "revoked" in error_of(Api(app.test_client(), secret).get("/decks"), 401)
    # Revoking again changes nothing.
    assert page.post(f"/settings/tokens/{token.id}/revoke").status_code == 303


def test_another_users_token_cannot_be_seen_or_revoked(page: Browser, app: Flask) -> None:
    other = make_user(app, "other")
    secret = make_token(app, other, "other's laptop")
    (token,) = _tokens(app)
    assert "other's laptop" not in page.get("/settings/tokens").get_data(as_text=True)
    assert page.post(f"/settings/tokens/{token.id}/revoke").status_code == 404
    assert _tokens(app)[0].revoked_at is None
    assert Api(app.test_client(), secret).get("/decks").status_code == 200


def test_account_partial_links_to_the_page(page: Browser, app: Flask) -> None:
    with app.test_request_context("/"):
        from flask import render_template

        html = render_template("account/_tokens.html")
    assert 'href="/settings/tokens"' in html


# --- the service ------------------------------------------------------------------------


def test_last_use_is_recorded_at_most_once_a_minute(app: Flask, now: dt.datetime) -> None:
    ensure_token_table(app)
    secret = make_token(app, local_user_id(app))
    with app.app_context():
        sessions = app_state().sessions
        for minutes, expected in ((0, 0), (0.5, 0), (1, 1), (1.5, 1), (2.5, 2.5)):
            with sessions.begin() as session:
                authenticate(session, secret, now=now + dt.timedelta(minutes=minutes))
            (token,) = _tokens(app)
            assert token.last_used_at == now + dt.timedelta(minutes=expected)
        with sessions.begin() as session, pytest.raises(TokenError):
            authenticate(session, secret + "x", now=now)
        with sessions.begin() as session, pytest.raises(TokenError):
            authenticate(session, "x" * 10_000, now=now)


def test_active_tokens_are_capped(app: Flask, now: dt.datetime) -> None:
    ensure_token_table(app)
    user_id = local_user_id(app)
    with app.app_context(), app_state().sessions.begin() as session:
        user = session.get_one(User, user_id)
        for number in range(MAX_ACTIVE_TOKENS):
            create_token(session, user=user, name=f"t{number}", now=now)
        with pytest.raises(TokenError, match="revoke one"):
            create_token(session, user=user, name="one too many", now=now)


def test_options_page_links_to_the_token_page_in_local_mode(app: Flask) -> None:
    page = app.test_client().get("/options")
    assert page.status_code == 200
    assert "/settings/tokens" in page.get_data(as_text=True)
