"""Flask app factory: engine, schema upgrade, security headers, CSRF, blueprints.

The web layer is the outermost ring of the design: views open a Session from
`app_state().sessions`, call services, and render Jinja templates. Every asset
(CSS, JavaScript) is served by the app itself, so it works on a closed network.

Hardening lives here: the security headers on every response, the session
cookie (HttpOnly, SameSite=Lax, Secure whenever the request came over HTTPS),
the upload size limit, the secret key file (mode 600, made on first start) and,
behind a reverse proxy (FLASHCARDS_BEHIND_PROXY=1), trusting one proxy hop for the
client address and scheme. Logins are web.auth and web.account.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from flashcards.config import Settings
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database

SECRET_KEY_FILE = "secret_key"
SESSION_LIFETIME = dt.timedelta(days=30)
# Room for the multipart envelope and the other form fields around an upload.
_UPLOAD_OVERHEAD = 64 * 1024

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

csrf = CSRFProtect()


@dataclass
class AppState:
    """What the views need besides Flask: settings and the database."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """Build the web app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(settings.instance_dir))
    app.config.update(
        TESTING=testing,
        SECRET_KEY=_secret_key(settings.instance_dir),
        MAX_CONTENT_LENGTH=settings.max_deck_bytes + _UPLOAD_OVERHEAD,
        # A study tab stays open for hours; the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_NAME="flashcards_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        # Secure is added per request when it came over HTTPS (see _SessionInterface).
        SESSION_COOKIE_SECURE=False,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # Tests set a callable returning an aware UTC datetime to control the clock.
        NOW=None,
    )
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    app.extensions["flashcards"] = AppState(
        settings=settings, engine=engine, sessions=make_session_factory(engine)
    )
    app.session_interface = _SessionInterface()
    if settings.behind_proxy:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=1, x_proto=1, x_host=0, x_prefix=0
        )
    csrf.init_app(app)
    app.after_request(_security_headers)

    from flashcards.web import (
        account,
        api,
        auth,
        browse,
        decks,
        downloads,
        edit,
        errors,
        jobs,
        media,
        options,
        stats,
        study,
        templating,
        tokens,
    )

    templating.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    account.init_app(app)
    for module in (
        decks,
        study,
        browse,
        edit,
        options,
        media,
        jobs,
        account,
        stats,
        downloads,
    ):
        app.register_blueprint(module.bp)
    # The JSON API authenticates by bearer token, not cookies: no CSRF token there.
    csrf.exempt(api.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(tokens.bp)
    api.init_app(app)  # after the other error handlers: JSON errors under /api/
    return app


def app_state() -> AppState:
    """The settings and database of the app handling the current request."""
    state: AppState = current_app.extensions["flashcards"]
    return state


def now() -> dt.datetime:
    """The current instant (aware UTC); tests override it with app.config["NOW"]."""
    override: Callable[[], dt.datetime] | None = current_app.config.get("NOW")
    if override is not None:
        return override()
    return dt.datetime.now(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _secret_key(instance_dir: Path) -> str:
    """The instance's secret key, created (owner-readable only) on first start."""
    path = instance_dir / SECRET_KEY_FILE
    try:
        if path.stat().st_mode & 0o077:
            # Made by hand or copied with a loose mode: only the owner may read it.
            path.chmod(0o600)
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another worker won the race; use its key so sessions agree.
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with Secure on the cookie over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        if has_request_context() and request.is_secure:
            return True
        return bool(app.config["SESSION_COOKIE_SECURE"])


def _security_headers(response: Response) -> Response:
    headers = response.headers
    if has_request_context() and request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    return response
