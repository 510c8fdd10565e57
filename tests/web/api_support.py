"""Helpers for the JSON API tests: users made directly in the database, tokens, and a
client that sends `Authorization: Bearer …` (and never a CSRF token or a cookie login).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flashcards.db.models import ApiToken, User
from flashcards.services.api_tokens import create_token
from flashcards.services.users import ensure_local_user
from flashcards.web.app import app_state

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def ensure_token_table(app: Flask) -> None:
    """Until the lead regenerates the migration, the tests create the table."""
    with app.app_context():
        ApiToken.__table__.create(app_state().engine, checkfirst=True)


def make_user(app: Flask, name: str) -> int:
    with app.app_context(), app_state().sessions.begin() as session:
        user = User(name=name, created_at=NOW)
        session.add(user)
        session.flush()
        return user.id


def local_user_id(app: Flask) -> int:
    with app.app_context(), app_state().sessions.begin() as session:
        return ensure_local_user(session, now=NOW).id


def make_token(app: Flask, user_id: int, name: str = "test") -> str:
    with app.app_context(), app_state().sessions.begin() as session:
        user = session.get_one(User, user_id)
        return create_token(session, user=user, name=name, now=NOW).secret


class Api:
    """A test client for /api/v1 that authenticates with one token."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.token is not None:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        headers = self._headers(kwargs.pop("headers", None))
        return self.client.get("/api/v1" + path, headers=headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> TestResponse:
        headers = self._headers(kwargs.pop("headers", None))
        if json is not None:
            kwargs["json"] = json
        return self.client.post("/api/v1" + path, headers=headers, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = self._headers(kwargs.pop("headers", None))
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kwargs)


def error_of(response: TestResponse, status: int) -> str:
    """Assert the API's JSON error shape and status; return the message."""
    assert response.status_code == status, (response.status_code, response.data[:500])
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == status
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message
