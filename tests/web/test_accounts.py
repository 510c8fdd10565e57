"""Accounts: login and logout, the login gate, registration modes, invitations,
password change, rate limits, admin-only pages, and local mode staying login-free.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from flashcards.db.models import LoginAttempt, LoginSession, User
from flashcards.services import accounts
from flashcards.web.app import app_state
from tests.web.accounts_support import (
    PASSWORDS,
    accounts_app,
    accounts_app_fixture,  # noqa: F401  (the `app` fixture)
    add_user,
    fast_hashing,  # noqa: F401  (fixture)
    logged_in,
    login,
)
from tests.web.conftest import Browser, Clock, make_app, text_of


def _users(app: Flask) -> dict[str, User]:
    with app.app_context(), app_state().sessions() as session:
        users = session.scalars(select(User)).all()
        for user in users:
            session.expunge(user)
        return {u.name: u for u in users}


# --- the login gate ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login_with_next(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/browse?q=x")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/browse?q%3Dx"
    home = client.get("/")
    assert home.headers["Location"] == "/login"
    # Forms are refused too: without a token by CSRF, with one by the login gate.
    assert client.post("/options", data={"timezone": "UTC"}).status_code == 400
    browser = Browser(client)
    browser.get("/login")
    post = browser.post("/options", {"timezone": "UTC", "rollover_hour": "4"})
    assert post.status_code == 303
    assert post.headers["Location"] == "/login"
    # The study script asks for JSON: it gets a 401 it can show.
    json = client.get("/study/1", headers={"Accept": "application/json"})
    assert json.status_code == 401
    assert json.get_json()["error"] == "Log in first."


def test_login_page_static_files_and_invitations_are_public(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/register").status_code == 200
    assert client.get("/invite/not-a-token").status_code == 404


def test_login_then_back_to_the_page_asked_for(app: Flask) -> None:
    add_user(app, "alice")
    browser = Browser(app.test_client())
    browser.get("/login?next=/browse")
    response = browser.post(
        "/login", {"name": "Alice", "password": PASSWORDS["alice"], "next": "/browse"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/browse"
    page = browser.get("/browse")
    assert page.status_code == 200
    assert "alice" in text_of(page)
    assert "Log out" in text_of(page)


def test_wrong_password_and_unknown_name_read_the_same(app: Flask) -> None:
    add_user(app, "alice")
    browser = Browser(app.test_client())
    login_page = browser.get("/login")
    assert login_page.status_code == 200
    wrong = browser.post("/login", {"name": "alice", "password": "not-her-password"})
    unknown = browser.post("/login", {"name": "nobody", "password": "not-her-password"})
    assert wrong.status_code == unknown.status_code == 401
    message = "The user name or the password is wrong."
    assert message in text_of(wrong)
    assert message in text_of(unknown)
    assert browser.client.get("/").status_code == 303


def test_logout_ends_the_login_even_for_a_copied_cookie(app: Flask) -> None:
    add_user(app, "alice")
    browser = logged_in(app, "alice")
    cookie = browser.client.get_cookie("flashcards_session")
    assert cookie is not None
    stolen = app.test_client()
    stolen.set_cookie("flashcards_session", cookie.value)
    assert stolen.get("/").status_code == 200
    response = browser.post("/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert browser.client.get("/").status_code == 303
    # The old cookie names a login that no longer exists.
    assert stolen.get("/").status_code == 303
    with app.app_context(), app_state().sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_logout_needs_the_csrf_token(app: Flask) -> None:
    add_user(app, "alice")
    browser = logged_in(app, "alice")
    response = browser.post("/logout", csrf=False)
    assert response.status_code == 400
    assert browser.client.get("/").status_code == 200


def test_login_replaces_the_session_and_its_csrf_token(app: Flask) -> None:
    add_user(app, "alice")
    browser = Browser(app.test_client())
    browser.get("/login")
    before = browser.token
    login(browser, "alice")
    assert browser.token is not None
    assert browser.token != before


def test_session_cookie_flags(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    client.get("/login")
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORDS["alice"], "csrf_token": token},
    )
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # plain http on 127.0.0.1
    assert "Expires=" in header  # stays logged in across browser restarts


def test_session_cookie_is_secure_over_https(app: Flask) -> None:
    add_user(app, "alice")
    client = app.test_client()
    page = client.get("/login", base_url="https://flashcards.example")
    assert "Secure" in page.headers["Set-Cookie"]
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_behind_proxy_trusts_forwarded_proto_only_when_told(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    plain = accounts_app(database_url, tmp_path / "a", decks_dir, clock)
    assert "Secure" not in plain.test_client().get("/login", headers=headers).headers[
        "Set-Cookie"
    ]
    proxied = accounts_app(
        database_url, tmp_path / "b", decks_dir, clock, behind_proxy=True
    )
    response = proxied.test_client().get("/login", headers=headers)
    assert "Secure" in response.headers["Set-Cookie"]


# --- admins -------------------------------------------------------------------------------


def test_jobs_page_and_presets_are_for_admins(app: Flask) -> None:
    add_user(app, "bob")
    add_user(app, "root", admin=True)
    bob = logged_in(app, "bob")
    root = logged_in(app, "root")
    assert bob.get("/jobs").status_code == 403
    assert "Only an admin" in text_of(bob.get("/jobs"))
    assert "Jobs" not in text_of(bob.get("/"))
    assert root.get("/jobs").status_code == 200
    assert "Jobs" in text_of(root.get("/"))
    assert bob.post("/options/presets", {"name": "Mine"}).status_code == 403
    assert root.post("/options/presets", {"name": "Shared"}).status_code == 303


def test_local_user_cannot_log_in_with_accounts_on(app: Flask) -> None:
    with app.app_context(), app_state().sessions.begin() as session:
        from flashcards.services.users import ensure_local_user

        ensure_local_user(session, now=dt.datetime.now(dt.UTC))
    browser = Browser(app.test_client())
    browser.get("/login")
    assert browser.post("/login", {"name": "local", "password": ""}).status_code == 400
    assert browser.post("/login", {"name": "local", "password": "x" * 12}).status_code == 401


# --- registration ------------------------------------------------------------------------


@pytest.fixture
def open_app(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> Flask:
    return accounts_app(database_url, tmp_path, decks_dir, clock, registration="open")


def test_open_registration_creates_a_user_and_logs_in(open_app: Flask) -> None:
    browser = Browser(open_app.test_client())
    browser.get("/register")
    password = "a-long-enough-passphrase"
    response = browser.post(
        "/register", {"name": "Carol", "password": password, "confirm": password}
    )
    assert response.status_code == 303
    assert "Welcome, carol" in text_of(browser.get("/"))
    users = _users(open_app)
    assert not users["carol"].is_admin
    assert users["carol"].password_hash is not None
    assert password not in users["carol"].password_hash


@pytest.mark.parametrize(
    ("name", "password", "confirm", "message"),
    [
        ("carol", "short", "short", "at least 12 characters"),
        ("carol", "a-long-enough-passphrase", "different-passphrase", "two passwords differ"),
        ("local", "a-long-enough-passphrase", "a-long-enough-passphrase", "reserved"),
        ("no spaces", "a-long-enough-passphrase", "a-long-enough-passphrase", "1 to 40"),
        ("carolcarol12", "CarolCarol12", "CarolCarol12", "not be the user name"),
    ],
)
def test_registration_refusals(
    open_app: Flask, name: str, password: str, confirm: str, message: str
) -> None:
    browser = Browser(open_app.test_client())
    browser.get("/register")
    response = browser.post(
        "/register", {"name": name, "password": password, "confirm": confirm}
    )
    assert response.status_code == 400
    assert message in text_of(response)
    assert set(_users(open_app)) == set()


def test_registration_of_a_taken_name(open_app: Flask) -> None:
    add_user(open_app, "alice")
    browser = Browser(open_app.test_client())
    browser.get("/register")
    password = "a-long-enough-passphrase"
    response = browser.post(
        "/register", {"name": "ALICE", "password": password, "confirm": password}
    )
    assert response.status_code == 400
    assert "already a user called “alice”" in text_of(response)


def test_registration_is_rate_limited_per_address(open_app: Flask) -> None:
    password = "a-long-enough-passphrase"
    for n in range(accounts.MAX_REGISTRATIONS_PER_ADDRESS):
        browser = Browser(open_app.test_client())
        browser.get("/register")
        response = browser.post(
            "/register", {"name": f"user{n}", "password": password, "confirm": password}
        )
        assert response.status_code == 303
    browser = Browser(open_app.test_client())
    browser.get("/register")
    response = browser.post(
        "/register", {"name": "onemore", "password": password, "confirm": password}
    )
    assert response.status_code == 429
    assert "Too many new accounts" in text_of(response)


@pytest.mark.parametrize("mode", ["invite", "closed"])
def test_register_is_refused_unless_open(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock, mode: str
) -> None:
    app = accounts_app(database_url, tmp_path, decks_dir, clock, registration=mode)
    browser = Browser(app.test_client())
    page = browser.get("/register")
    assert page.status_code == 200
    expected = "by invitation" if mode == "invite" else "Registration is closed"
    assert expected in text_of(page)
    password = "a-long-enough-passphrase"
    response = browser.post(
        "/register", {"name": "mallory", "password": password, "confirm": password}
    )
    assert response.status_code == 403
    assert _users(app) == {}


def test_unknown_registration_mode_is_refused_at_start() -> None:
    from flashcards.config import Settings

    with pytest.raises(ValueError, match="FLASHCARDS_REGISTRATION"):
        Settings.from_env(environ={"FLASHCARDS_REGISTRATION": "sometimes"})


# --- invitations -------------------------------------------------------------------------


def _invite(app: Flask, name: str, *, admin: bool = False, days: int = 7) -> str:
    with app.app_context(), app_state().sessions.begin() as session:
        return accounts.create_invitation(
            session,
            name=name,
            now=app.config["NOW"](),
            is_admin=admin,
            lifetime=dt.timedelta(days=days),
        )


def _accept(app: Flask, token: str, password: str = "dave-new-passphrase") -> Browser:
    browser = Browser(app.test_client())
    page = browser.get(f"/invite/{token}")
    assert page.status_code == 200, text_of(page)
    response = browser.post(
        f"/invite/{token}", {"password": password, "confirm": password}
    )
    assert response.status_code == 303, text_of(response)
    return browser


def test_invitation_creates_the_account_once(app: Flask) -> None:
    token = _invite(app, "Dave", admin=True)
    browser = _accept(app, token)
    home = browser.get("/")
    assert home.status_code == 200
    assert "Welcome, dave" in text_of(home)
    assert _users(app)["dave"].is_admin
    # One time only.
    again = Browser(app.test_client())
    page = again.get(f"/invite/{token}")
    assert page.status_code == 404
    assert "used already" in text_of(page)
    password = "another-passphrase"
    response = again.post(f"/invite/{token}", {"password": password, "confirm": password})
    assert response.status_code == 404


def test_invitation_expires(app: Flask, clock: Clock) -> None:
    token = _invite(app, "dave", days=1)
    clock.advance(days=1, seconds=1)
    page = Browser(app.test_client()).get(f"/invite/{token}")
    assert page.status_code == 404
    assert "expired" in text_of(page)
    assert "dave" not in _users(app)


def test_a_new_invitation_replaces_the_old_one(app: Flask) -> None:
    old = _invite(app, "dave")
    new = _invite(app, "dave")
    assert Browser(app.test_client()).get(f"/invite/{old}").status_code == 404
    _accept(app, new)


def test_invitation_only_stores_a_hash_of_the_token(app: Flask) -> None:
    from flashcards.db.models import Invitation

    token = _invite(app, "dave")
    with app.app_context(), app_state().sessions() as session:
        stored = session.scalars(select(Invitation.token_hash)).one()
    assert token not in stored


def test_invitation_for_an_existing_name_is_refused(app: Flask) -> None:
    add_user(app, "alice")
    with pytest.raises(accounts.AccountError, match="already a user"):
        _invite(app, "alice")


def test_invitation_links_do_not_work_when_registration_is_closed(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    app = accounts_app(database_url, tmp_path, decks_dir, clock, registration="closed")
    token = _invite(app, "dave")
    page = Browser(app.test_client()).get(f"/invite/{token}")
    assert page.status_code == 403
    assert "Registration is closed" in text_of(page)


# --- password change ------------------------------------------------------------------


def test_password_change_logs_out_other_sessions(app: Flask) -> None:
    add_user(app, "alice")
    laptop = logged_in(app, "alice")
    phone = logged_in(app, "alice")
    new = "alice-brand-new-passphrase"
    laptop.get("/account")
    response = laptop.post(
        "/account/password",
        {"current": PASSWORDS["alice"], "new": new, "confirm": new},
    )
    assert response.status_code == 303
    assert "Password changed" in text_of(laptop.get("/account"))
    # The phone's login is gone; the laptop's stays.
    assert phone.client.get("/").status_code == 303
    assert laptop.client.get("/").status_code == 200
    # The old password no longer works, the new one does.
    assert login(Browser(app.test_client()), "alice").status_code == 401
    assert login(Browser(app.test_client()), "alice", new).status_code == 303


def test_password_change_needs_the_current_password(app: Flask) -> None:
    add_user(app, "alice")
    browser = logged_in(app, "alice")
    browser.get("/account")
    new = "alice-brand-new-passphrase"
    response = browser.post(
        "/account/password", {"current": "wrong-password!", "new": new, "confirm": new}
    )
    assert response.status_code == 400
    assert "current password is wrong" in text_of(response)
    # It counted as a failed login (for the name and for the address).
    with app.app_context(), app_state().sessions() as session:
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 2
    assert login(Browser(app.test_client()), "alice").status_code == 303


def test_account_page_has_the_api_tokens_section(app: Flask) -> None:
    add_user(app, "alice")
    page = logged_in(app, "alice").get("/account")
    assert page.status_code == 200
    text = text_of(page)
    assert "Change your password" in text
    assert "API tokens" in text


def test_cli_set_password_ends_all_sessions(app: Flask) -> None:
    add_user(app, "alice")
    browser = logged_in(app, "alice")
    with app.app_context(), app_state().sessions.begin() as session:
        user = accounts.find_account(session, "alice")
        assert user is not None
        accounts.set_password(session, user=user, password="set-by-the-admin-1")
    assert browser.client.get("/").status_code == 303


# --- rate limits ---------------------------------------------------------------------------


def test_five_failures_for_a_name_lock_it_for_fifteen_minutes(
    app: Flask, clock: Clock
) -> None:
    add_user(app, "alice")
    for _ in range(accounts.MAX_FAILURES_PER_NAME):
        assert login(Browser(app.test_client()), "alice", "wrong-password!").status_code == 401
    # Even the right password is refused now, with a clear message.
    response = login(Browser(app.test_client()), "alice")
    assert response.status_code == 429
    assert "Too many failed logins for this name" in text_of(response)
    assert "Wait 15 minutes" in text_of(response)
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60 + 1
    # Other names are not affected.
    add_user(app, "bob")
    assert login(Browser(app.test_client()), "bob").status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert login(Browser(app.test_client()), "alice").status_code == 303


def test_failures_from_one_address_are_limited_across_names(app: Flask) -> None:
    add_user(app, "alice")
    for n in range(accounts.MAX_FAILURES_PER_ADDRESS):
        response = login(Browser(app.test_client()), f"guess{n}", "wrong-password!")
        assert response.status_code == 401
    response = login(Browser(app.test_client()), "alice")
    assert response.status_code == 429
    assert "from your network" in text_of(response)
    # Another address may still log in.
    other = Browser(app.test_client())
    other.client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(other, "alice").status_code == 303


def test_failures_are_counted_in_the_database(app: Flask) -> None:
    """A second worker (another app on the same database) sees the same count."""
    add_user(app, "alice")
    for _ in range(accounts.MAX_FAILURES_PER_NAME):
        login(Browser(app.test_client()), "alice", "wrong-password!")
    state = app.extensions["flashcards"]
    second = make_app(
        state.settings.database_url,
        state.settings.instance_dir.parent / "second",
        state.settings.decks_dir,
        app.config["NOW"],
        accounts=True,
    )
    assert login(Browser(second.test_client()), "alice").status_code == 429


def test_a_good_login_clears_the_name_failures(app: Flask) -> None:
    add_user(app, "alice")
    for _ in range(accounts.MAX_FAILURES_PER_NAME - 1):
        login(Browser(app.test_client()), "alice", "wrong-password!")
    assert login(Browser(app.test_client()), "alice").status_code == 303
    for _ in range(accounts.MAX_FAILURES_PER_NAME - 1):
        login(Browser(app.test_client()), "alice", "wrong-password!")
    assert login(Browser(app.test_client()), "alice").status_code == 303


def test_ipv6_addresses_count_per_64_network() -> None:
    assert accounts.address_key("2001:db8::1") == accounts.address_key("2001:db8::ffff")
    assert accounts.address_key("2001:db8::1") != accounts.address_key("2001:db8:0:1::1")
    assert accounts.address_key("::ffff:192.0.2.1") == "addr:192.0.2.1"
    assert accounts.address_key("192.0.2.1") == "addr:192.0.2.1"


# --- password hashing -------------------------------------------------------------------


def test_password_hashes_are_salted_scrypt_with_the_production_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(accounts, "SCRYPT_COST", (2**15, 8, 3))
    first = accounts.hash_password("correct horse battery")
    second = accounts.hash_password("correct horse battery")
    assert first.startswith("scrypt$n=32768,r=8,p=3$")
    assert first != second  # a salt per password
    assert accounts.verify_password(first, "correct horse battery")
    assert not accounts.verify_password(first, "correct horse battery!")
    assert not accounts.verify_password(None, "anything")
    assert not accounts.verify_password("garbage", "anything")


def test_old_cost_hashes_are_upgraded_at_login(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_user(app, "alice")  # made with the test cost (2**4, 8, 1)
    monkeypatch.setattr(accounts, "SCRYPT_COST", (2**5, 8, 1))
    assert login(Browser(app.test_client()), "alice").status_code == 303
    assert _users(app)["alice"].password_hash.startswith("scrypt$n=32,r=8,p=1$")  # type: ignore[union-attr]


# --- local mode ----------------------------------------------------------------------------


def test_local_mode_has_no_login(
    database_url: str, tmp_path: Path, decks_dir: Path, clock: Clock
) -> None:
    local = make_app(database_url, tmp_path, decks_dir, clock)
    client = local.test_client()
    home = client.get("/")
    assert home.status_code == 200
    assert "Log out" not in text_of(home)
    assert "Jobs" in text_of(home)
    assert client.get("/jobs").status_code == 200
    for path in ("/login", "/register", "/account", "/invite/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Accounts are off" in text_of(response)


# --- the `flashcards users` command -----------------------------------------------------------


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> dict[str, str]:
    env = {
        "FLASHCARDS_ACCOUNTS": "1",
        "FLASHCARDS_INSTANCE": str(tmp_path / "instance"),
        "FLASHCARDS_DATABASE_URL": database_url,
        "FLASHCARDS_DECKS": str(tmp_path / "decks"),
        "FLASHCARDS_REGISTRATION": "invite",
        "FLASHCARDS_BASE_URL": "https://cards.example",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _cli(*args: str, input: str | None = None) -> tuple[int, str]:
    from click.testing import CliRunner

    from flashcards.cli import main

    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.output


def test_users_add_prints_a_link_that_works_once(
    cli_env: dict[str, str], database_url: str, tmp_path: Path, decks_dir: Path,
    clock: Clock,
) -> None:
    code, output = _cli("users", "add", "Erin", "--admin")
    assert code == 0, output
    assert "Invitation for admin erin" in output
    link = re.search(r"https://cards\.example/invite/(\S+)", output)
    assert link, output
    clock.current = dt.datetime.now(dt.UTC)
    app = accounts_app(database_url, tmp_path, decks_dir, clock)
    browser = Browser(app.test_client())
    path = f"/invite/{link.group(1)}"
    assert "Welcome, erin" in text_of(browser.get(path))
    password = "erin-chosen-passphrase"
    assert browser.post(path, {"password": password, "confirm": password}).status_code == 303
    assert Browser(app.test_client()).get(path).status_code == 404
    code, output = _cli("users", "list")
    assert re.search(r"erin\s+admin\s+password set", output), output


def test_users_add_with_password_and_the_other_commands(cli_env: dict[str, str]) -> None:
    code, output = _cli(
        "users", "add", "frank", "--password", input="frank-secret-words\nfrank-secret-words\n"
    )
    assert code == 0, output
    assert "frank-secret-words" not in output  # a hidden prompt
    assert "Added frank; they can log in now." in output
    code, output = _cli("users", "add", "frank", "--password", "--password-stdin",
                        input="another-long-one\n")
    assert code == 1
    assert "already a user called “frank”" in output
    code, output = _cli("users", "add", "grace", "--password", "--password-stdin",
                        input="short\n")
    assert code == 1
    assert "at least 12 characters" in output
    assert _cli("users", "set-admin", "frank")[1].strip() == "frank is now an admin."
    assert "no longer" in _cli("users", "set-admin", "frank", "--revoke")[1]
    code, output = _cli("users", "set-password", "frank", "--password-stdin",
                        input="frank-new-secret-words\n")
    assert code == 0, output
    assert "Password set for frank" in output
    assert _cli("users", "set-admin", "nobody")[0] == 1
    code, output = _cli("users", "rename", "frank", "Franz")
    assert code == 0, output
    code, output = _cli("users", "list")
    assert "franz" in output
    assert "frank " not in output


def test_rename_local_keeps_local_mode_progress(cli_env: dict[str, str]) -> None:
    from flashcards.cli import Context
    from flashcards.config import Settings
    from flashcards.services.users import ensure_local_user

    context = Context(Settings.from_env())
    with context.sessions.begin() as session:
        ensure_local_user(session, now=dt.datetime.now(dt.UTC))
    code, output = _cli("users", "rename", "local", "hana")
    assert code == 0, output
    assert "hana has no password yet" in output


def test_users_add_link_refused_when_registration_is_closed(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASHCARDS_REGISTRATION", "closed")
    code, output = _cli("users", "add", "ivan")
    assert code == 1
    assert "Use --password" in output
