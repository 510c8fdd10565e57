"""Who is asking: the one helper every view uses to get "the current user", and the
login gate in front of every page.

Local mode (FLASHCARDS_ACCOUNTS off) has one implicit user
(services.users.ensure_local_user) and no login. With accounts on, a
`before_request` hook reads the login token from the signed session cookie,
resolves it through services.accounts (a row per login, so logging out really
ends it) and sends anonymous visitors to /login; `current_user(session)` then
returns that user and never the local one. Blueprints that authenticate their own
callers (the JSON API, with personal tokens) are listed in `SELF_AUTHENTICATED`:
they set `g.user_id` themselves and call `current_user` like every view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, jsonify, redirect, request, url_for
from flask import session as cookie
from sqlalchemy.orm import Session

from flashcards.db.models import User
from flashcards.services.accounts import session_user
from flashcards.services.users import ensure_local_user
from flashcards.web.app import app_state, now
from flashcards.web.errors import error_response, wants_json

# The Flask session key that holds the login token.
LOGIN_KEY = "login"
# Pages anyone may open with accounts on.
PUBLIC_ENDPOINTS = frozenset(
    {"static", "account.login", "account.register", "account.invite"}
)
# Blueprints that check their own credentials (API tokens) instead of the cookie.
SELF_AUTHENTICATED = {"api"}

F = TypeVar("F", bound=Callable[..., Any])


def accounts_on() -> bool:
    return app_state().settings.accounts


def current_user(session: Session) -> User:
    """The user of this request, loaded into `session`.

    With accounts on this is the logged-in user (or the API token's owner); a
    request without one gets 401, never the local user.
    """
    user_id: int | None = g.get("user_id")
    if user_id is not None:
        user = session.get(User, user_id)
        if user is not None:
            g.user_zone = user.timezone
            return user
    if accounts_on():
        abort(401)
    user = ensure_local_user(session, now=now())
    g.user_id = user.id
    g.user_zone = user.timezone
    g.user_is_admin = True
    return user


def is_admin(user: User | None = None) -> bool:
    """May this request manage shared things (decks, presets, jobs)?

    Always in local mode; with accounts, only admins.
    """
    if not accounts_on():
        return True
    if user is not None:
        return bool(user.is_admin)
    return bool(g.get("user_is_admin", False))


def admin_required(view: F) -> F:
    """A view only admins may use when accounts are on (403 for everybody else)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_admin():
            return forbidden("Only an admin can do this.")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def forbidden(message: str) -> tuple[Response | str, int]:
    return error_response(403, "Not allowed", message)


def safe_path(target: str | None) -> str | None:
    """`target` if it is a path on this site ('/decks/3?x=1'); None otherwise.

    Refuses absolute URLs, scheme-relative '//host', backslashes (which browsers
    read as slashes) and control characters or spaces (which browsers strip).
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _load_login() -> User | None:
    """Resolve the session cookie's login token; remember who it is on `g`."""
    token = cookie.get(LOGIN_KEY)
    if not isinstance(token, str):
        return None
    with app_state().sessions.begin() as session:
        user = session_user(session, token, now=now())
        if user is None:
            cookie.pop(LOGIN_KEY, None)
            return None
        g.user_id = user.id
        g.user_name = user.name
        g.user_is_admin = bool(user.is_admin)
        g.user_zone = user.timezone
        session.expunge(user)
        return user


def _require_login() -> Any:
    if not accounts_on():
        return None
    endpoint = request.endpoint
    if endpoint == "static" or request.blueprint in SELF_AUTHENTICATED:
        return None
    user = _load_login()
    if user is not None or endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    if wants_json():
        response = jsonify(error="Log in first.", title="Not logged in")
        response.status_code = 401
        return response
    target = None
    if request.method == "GET":
        target = safe_path(request.full_path.rstrip("?"))
    if target in (None, "/"):
        return redirect(url_for("account.login"), code=303)
    return redirect(url_for("account.login", next=target), code=303)


def init_app(app: Flask) -> None:
    app.before_request(_require_login)

    @app.context_processor
    def _login_state() -> dict[str, object]:
        return {
            "accounts": accounts_on(),
            "login_name": g.get("user_name"),
            "login_is_admin": is_admin(),
        }
