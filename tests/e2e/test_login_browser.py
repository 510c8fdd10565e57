"""Accounts in a real browser: a `flashcards serve` with FLASHCARDS_ACCOUNTS=1, logging
in, the header, changing the password, logging out; screenshots of the login and
account pages at desktop and phone width, light and dark, into test-artifacts/.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from flashcards.config import Settings
from flashcards.db.engine import make_engine, make_session_factory
from flashcards.db.migrate import upgrade_database
from flashcards.services.accounts import create_user
from tests.e2e.conftest import STUDY_YAML, Server, run_server
from tests.e2e.test_pages_look import SCHEMES, SIZES, Scheme, check_layout, shoot

pytestmark = pytest.mark.e2e

PASSWORD = "alice-correct-horse-1"


@pytest.fixture
def accounts_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A server with accounts on, one shared deck and the user alice."""
    decks = tmp_path / "decks"
    decks.mkdir()
    (decks / "study.yaml").write_text(STUDY_YAML)
    instance = tmp_path / "instance"
    monkeypatch.setenv("FLASHCARDS_ACCOUNTS", "1")
    settings = Settings.from_env(instance_dir=instance, environ={})
    instance.mkdir()
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    with make_session_factory(engine).begin() as session:
        create_user(session, name="alice", password=PASSWORD, now=dt.datetime.now(dt.UTC))
    engine.dispose()
    yield from run_server(tmp_path, decks)


def log_in(page: Page, server: Server, password: str = PASSWORD) -> None:
    page.get_by_label("User name").fill("Alice")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_log_in_change_password_log_out(chromium: Browser, accounts_server: Server) -> None:
    server = accounts_server
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server.url}/browse")
    expect(page).to_have_url(f"{server.url}/login?next=/browse")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    # The nav is hidden until you log in.
    expect(page.get_by_role("link", name="Browse")).to_have_count(0)

    log_in(page, server, "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("user name or the password is wrong")

    log_in(page, server)
    expect(page).to_have_url(f"{server.url}/browse")
    header = page.locator(".site-user")
    expect(header).to_contain_text("alice")
    expect(page.get_by_role("link", name="Jobs")).to_have_count(0)  # not an admin

    header.get_by_role("link", name="alice").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("alice-second-passphrase")
    page.get_by_label("New password again").fill("alice-second-passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".flash-success")).to_contain_text("Password changed")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator(".flash-success")).to_contain_text("You are logged out")
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/login")
    log_in(page, server, "alice-second-passphrase")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator(".site-user")).to_contain_text("alice")
    expect(page.get_by_role("link", name="Study Study")).to_be_visible()
    context.close()
    # The refused login answers 401, which Chromium reports; nothing else may
    # appear (no CSP violations, no script errors).
    assert errors == [
        "Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"
    ], errors


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", SIZES)
def test_login_and_account_pages_look(
    chromium: Browser, accounts_server: Server, size: str, scheme: Scheme
) -> None:
    server = accounts_server
    width, height = SIZES[size]
    context = chromium.new_context(
        viewport={"width": width, "height": height}, color_scheme=scheme
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.url}/login")
    shoot(page, "login", size, scheme)
    check_layout(page, "login", size, scheme)
    log_in(page, server, "not-the-password")
    expect(page.get_by_role("alert")).to_be_visible()
    shoot(page, "login-refused", size, scheme)
    check_layout(page, "login-refused", size, scheme)
    page.goto(f"{server.url}/register")
    shoot(page, "register-by-invitation", size, scheme)
    check_layout(page, "register-by-invitation", size, scheme)
    page.goto(f"{server.url}/login")
    log_in(page, server)
    expect(page.locator(".site-user")).to_be_visible()
    shoot(page, "home-logged-in", size, scheme)
    check_layout(page, "home-logged-in", size, scheme)
    page.goto(f"{server.url}/account")
    shoot(page, "account", size, scheme)
    check_layout(page, "account", size, scheme)
    context.close()
    # 401 for the wrong password is expected; nothing else (no CSP violations).
    assert len(errors) == 1, errors
    assert "401" in errors[0], errors
