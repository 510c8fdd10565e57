"""Hardening: security headers on every kind of response, the secret key file, upload
size limits, redirects only to our own paths, no secrets in logs, and local mode
refusing to listen beyond this machine.
"""

from __future__ import annotations

import http.cookiejar
import io
import logging
import os
import re
import stat
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from werkzeug.serving import make_server

from flashcards.cli import is_loopback, main
from flashcards.services import accounts
from flashcards.web.app import SECRET_KEY_FILE, app_state, create_app
from flashcards.web.auth import safe_path
from tests.web.accounts_support import (
    PASSWORDS,
    accounts_app,
    accounts_app_fixture,  # noqa: F401  (the `app` fixture)
    add_user,
    card_in,
    fast_hashing,  # noqa: F401  (fixture)
    logged_in,
    login,
    shared_deck,
)
from tests.web.conftest import Browser, Clock, make_app, text_of

EVIL = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "http://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/%0a/evil.example".replace("%0a", "\n"),
    " //evil.example",
    "javascript:alert(1)",
    "evil.example",
    "https:/evil.example",
]


# --- headers -------------------------------------------------------------------------------


def _check_headers(response: Any, where: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in policy, where
    assert re.search(r"default-src '(self|none)'", policy), where
    assert "unsafe-eval" not in policy, where
    assert "script-src 'self'" in policy or "default-src 'none'" in policy, where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where


def test_security_headers_on_every_kind_of_response(
    app: Flask,
) -> None:
    add_user(app, "alice")
    anonymous = app.test_client()
    alice = logged_in(app, "alice")
    deck = shared_deck(app)
    card = card_in(app, deck, "capital")
    responses = {
        "login page": anonymous.get("/login"),
        "redirect to login": anonymous.get("/browse"),
        "json 401": anonymous.get("/study/1", headers={"Accept": "application/json"}),
        "static css": anonymous.get("/static/style.css"),
        "static js": anonymous.get("/static/app.js"),
        "deck list": alice.get("/"),
        "deck page": alice.get(f"/decks/{deck}"),
        "study page": alice.get(f"/study/{deck}"),
        "study json": alice.get(f"/study/{deck}", headers={"Accept": "application/json"}),
        "card page": alice.get(f"/cards/{card}"),
        "browse": alice.get("/browse?q=capital"),
        "options": alice.get("/options"),
        "account": alice.get("/account"),
        "image": alice.get(f"/media/{deck}/img/dot.png"),
        "404 page": alice.get("/no/such/page"),
        "404 card": alice.get("/cards/999999"),
        "403 page": alice.get("/jobs"),
        "405": alice.client.put("/"),
        "400 csrf": alice.post("/options", csrf=False),
        "form redirect": alice.post(f"/cards/{card}/bury"),
        "api 401": anonymous.get("/api/v1/decks"),
        "api doc": anonymous.get("/api/v1/openapi.json"),
    }
    for where, response in responses.items():
        _check_headers(response, where)
    # Pages are not cached by shared caches; images only privately.
    assert responses["deck list"].headers["Cache-Control"] == "no-store"
    assert responses["image"].headers["Cache-Control"].startswith("private")
    assert "sandbox" in responses["image"].headers["Content-Security-Policy"]


def test_headers_in_local_mode_too(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    local = make_app(database_url, tmp_path, decks_dir, clock)
    for path in ("/", "/jobs", "/static/style.css", "/nowhere"):
        _check_headers(local.test_client().get(path), path)


# --- the secret key ------------------------------------------------------------------------


def test_secret_key_is_made_on_first_start_with_mode_600(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    first = make_app(database_url, tmp_path, decks_dir, clock)
    path = tmp_path / "instance" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    assert len(key) >= 64
    assert first.config["SECRET_KEY"] == key
    # A second start (or another worker) uses the same key.
    second = make_app(database_url, tmp_path, decks_dir, clock)
    assert second.config["SECRET_KEY"] == key


def test_a_secret_key_with_a_loose_mode_is_tightened(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    path = instance / SECRET_KEY_FILE
    path.write_text("k" * 64)
    os.chmod(path, 0o644)
    app = make_app(database_url, tmp_path, decks_dir, clock)
    assert app.config["SECRET_KEY"] == "k" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_key_is_not_in_any_page(app: Flask) -> None:
    add_user(app, "alice")
    key = app.config["SECRET_KEY"]
    alice = logged_in(app, "alice")
    for path in ("/", "/account", "/options", "/login"):
        assert key not in alice.get(path).get_data(as_text=True)


# --- upload limits ------------------------------------------------------------------------


def test_uploads_over_the_limit_are_413(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    app = accounts_app(database_url, tmp_path, decks_dir, clock, max_deck_bytes=2000)
    add_user(app, "alice")
    alice = logged_in(app, "alice")
    alice.get("/decks/upload")
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit < 2000 + 100 * 1024
    big = io.BytesIO(b"#" * (limit + 1))
    response = alice.post(
        "/decks/upload",
        {"deck_file": (big, "big.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "too large" in text_of(response)
    # Over the deck limit but under the request limit: refused by the parser.
    middling = io.BytesIO(b"#" * 2001)
    response = alice.post(
        "/decks/upload",
        {"deck_file": (middling, "middling.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    # Any big request body, even on the login form, is cut off the same way.
    anonymous = app.test_client()
    assert anonymous.post("/login", data={"name": "x" * (limit + 1)}).status_code == 413


# --- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", EVIL)
def test_safe_path_refuses_other_sites(target: str) -> None:
    assert safe_path(target) is None


@pytest.mark.parametrize("target", ["/", "/browse?q=a%20b", "/cards/3/edit?next=/cards/3"])
def test_safe_path_keeps_our_paths(target: str) -> None:
    assert safe_path(target) == target


@pytest.mark.parametrize("target", EVIL)
def test_login_never_redirects_to_another_site(app: Flask, target: str) -> None:
    add_user(app, "alice")
    browser = Browser(app.test_client())
    page = browser.get("/login?" + urllib.parse.urlencode({"next": target}))
    assert "evil.example" not in page.get_data(as_text=True)
    response = login(browser, "alice", next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    # Logged in already: the login page sends you on, but still only home.
    again = browser.client.get("/login?" + urllib.parse.urlencode({"next": target}))
    assert again.headers["Location"] == "/"


def test_login_follows_a_path_of_ours(app: Flask) -> None:
    add_user(app, "alice")
    response = login(Browser(app.test_client()), "alice", next="/options")
    assert response.headers["Location"] == "/options"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_edit_never_redirects_to_another_site(
    app: Flask, target: str
) -> None:
    add_user(app, "root", admin=True)
    root = logged_in(app, "root")
    card = card_in(app, shared_deck(app), "capital")
    form = root.get(f"/cards/{card}/edit?" + urllib.parse.urlencode({"next": target}))
    base_hash = re.search(r'name="base_hash" value="([^"]*)"', form.get_data(as_text=True))
    assert base_hash
    response = root.post(
        f"/cards/{card}/edit",
        {"base_hash": base_hash.group(1), "front": "Capital of France?",
         "back": "Paris", "next": target},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/cards/{card}"


# --- logs ------------------------------------------------------------------------------------


def test_passwords_and_tokens_never_reach_the_logs(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_user(app, "alice")
    wrong = "wrong-but-secret-guess"
    assert login(Browser(app.test_client()), "alice", wrong).status_code == 401
    browser = Browser(app.test_client())
    assert login(browser, "alice").status_code == 303
    new = "alice-next-secret-pass"
    browser.get("/account")
    browser.post(
        "/account/password", {"current": "typo-in-current-pw", "new": new, "confirm": new}
    )
    browser.post(
        "/account/password", {"current": PASSWORDS["alice"], "new": new, "confirm": new}
    )
    with app.app_context(), app_state().sessions.begin() as session:
        token = accounts.create_invitation(session, name="dave", now=app.config["NOW"]())
    invited = Browser(app.test_client())
    invited.get(f"/invite/{token}")
    dave = "dave-first-secret-pass"
    invited.post(f"/invite/{token}", {"password": dave, "confirm": dave})
    login_cookie = browser.client.get_cookie("flashcards_session")
    assert login_cookie is not None

    logged = caplog.text
    assert "failed login for name 'alice'" in logged  # the log says what happened...
    for secret in (wrong, PASSWORDS["alice"], new, "typo-in-current-pw", dave, token,
                   login_cookie.value, "scrypt$"):
        assert secret not in logged  # ...but never with a secret in it


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app behind werkzeug's real server, whose request log we read."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_request_log_has_no_form_bodies_or_invitation_tokens(
    app: Flask, live_server: str
) -> None:
    add_user(app, "alice")
    with app.app_context(), app_state().sessions.begin() as session:
        token = accounts.create_invitation(session, name="dave", now=app.config["NOW"]())
    records = _Records()
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.addHandler(records)
    old_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.INFO)
    try:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        page = opener.open(f"{live_server}/login").read().decode()
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert csrf
        body = urllib.parse.urlencode(
            {"name": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf.group(1)}
        ).encode()
        opener.open(f"{live_server}/login", data=body).read()
        opener.open(f"{live_server}/invite/{token}").read()
    finally:
        werkzeug_log.removeHandler(records)
        werkzeug_log.setLevel(old_level)
    logged = "\n".join(records.lines)
    assert "POST /login HTTP/1.1" in logged  # the line is there...
    assert "/invite/[redacted]" in logged
    for secret in (PASSWORDS["alice"], token, csrf.group(1)):
        assert secret not in logged  # ...without the secrets


# --- local mode stays on this machine -------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com", ""])
def test_serve_without_accounts_refuses_other_hosts(
    host: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLASHCARDS_ACCOUNTS", raising=False)
    monkeypatch.setenv("FLASHCARDS_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("FLASHCARDS_DECKS", str(tmp_path / "decks"))
    result = CliRunner().invoke(main, ["serve", "--host", host])
    assert result.exit_code == 2
    assert f"Refusing to listen on {host}" in result.output
    assert "FLASHCARDS_ACCOUNTS=1" in result.output
    assert "flashcards users add NAME --admin" in result.output
    assert not (tmp_path / "instance").exists()  # refused before touching anything


def test_serve_with_accounts_may_listen_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(Flask, "run", lambda self, **kw: started.update(kw))
    monkeypatch.setenv("FLASHCARDS_ACCOUNTS", "1")
    monkeypatch.setenv("FLASHCARDS_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("FLASHCARDS_DECKS", str(tmp_path / "decks"))
    monkeypatch.setenv("FLASHCARDS_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert started["host"] == "0.0.0.0"
    assert "No admin can log in yet" in result.output
    assert "flashcards users add NAME --admin" in result.output


def test_the_secret_key_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from flashcards.config import Settings

    caplog.set_level(logging.DEBUG)
    settings = Settings(
        instance_dir=tmp_path / "instance",
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        decks_dir=tmp_path,
        accounts=True,
    )
    app = create_app(settings)
    assert app.config["SECRET_KEY"] not in caplog.text
