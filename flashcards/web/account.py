"""Account blueprint: log in, log out, register, accept an invitation, change password.

Only active with accounts on (FLASHCARDS_ACCOUNTS=1); in local mode these pages are
404. The pages call flashcards.services.accounts; web.auth keeps everyone else out
until they log in. A login replaces the whole cookie session (new CSRF token too)
and stores only a random token that names a `login_sessions` row.

The account page has a marked place for the personal API tokens list: it includes
"account/_tokens.html" when that template exists (the API's own template).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField  # type: ignore[import-untyped]
from wtforms.validators import DataRequired, EqualTo, Length  # type: ignore[import-untyped]

from flashcards.db.models import User
from flashcards.services.accounts import (
    INVALID_INVITATION,
    MAX_PASSWORD,
    MIN_PASSWORD,
    AccountError,
    RateLimitedError,
    accept_invitation,
    authenticate,
    change_password,
    check_registration_limit,
    create_user,
    end_login_session,
    invitation_info,
    record_registration,
    start_login_session,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import LOGIN_KEY, accounts_on, current_user, safe_path

bp = Blueprint("account", __name__)

_PASSWORD_HELP = (
    f"At least {MIN_PASSWORD} characters. A few unrelated words make a good one."
)
_MISMATCH = "The two passwords differ; type the same one twice."


class LoginForm(FlaskForm):  # type: ignore[misc]
    name = StringField("User name", validators=[DataRequired(), Length(max=80)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)]
    )


class RegisterForm(FlaskForm):  # type: ignore[misc]
    name = StringField("User name", validators=[DataRequired(), Length(max=80)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)]
    )
    confirm = PasswordField(
        "Password again", validators=[DataRequired(), EqualTo("password", _MISMATCH)]
    )


class InviteForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD)]
    )
    confirm = PasswordField(
        "Password again", validators=[DataRequired(), EqualTo("password", _MISMATCH)]
    )


class PasswordForm(FlaskForm):  # type: ignore[misc]
    current = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_PASSWORD)]
    )
    new = PasswordField(
        "New password", validators=[DataRequired(), Length(max=MAX_PASSWORD)]
    )
    confirm = PasswordField(
        "New password again", validators=[DataRequired(), EqualTo("new", _MISMATCH)]
    )


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: logging out is a POST so no other site can do it."""


def _accounts_only() -> None:
    if not accounts_on():
        abort(
            404,
            description="Accounts are off: this flashcards runs for one person "
            "without logins (set FLASHCARDS_ACCOUNTS=1 to turn them on).",
        )


def _client_address() -> str | None:
    return request.remote_addr


def _log_in(token: str) -> None:
    """Start a fresh cookie session that carries the login token."""
    cookie.clear()
    cookie[LOGIN_KEY] = token
    cookie.permanent = True


def _home(next_url: str | None = None) -> Response:
    return redirect(next_url or url_for("decks.index"), code=303)


def _registration() -> str:
    return app_state().settings.registration


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]] | tuple[str, int]:
    """The login form; on success, back to the page that asked for it."""
    _accounts_only()
    next_url = safe_path(request.values.get("next"))
    if g.get("user_id") is not None:
        return _home(next_url)
    form = LoginForm()
    context: dict[str, Any] = {
        "form": form,
        "next_url": next_url,
        "registration": _registration(),
    }
    if not form.is_submitted():
        return render_template("account/login.html", **context)
    if not form.validate():
        return render_template("account/login.html", **context), 400
    user: User | None = None
    token = ""
    try:
        with app_state().sessions.begin() as session:
            user = authenticate(
                session,
                name=form.name.data or "",
                password=form.password.data or "",
                address=_client_address(),
                now=now(),
            )
            if user is not None:
                token = start_login_session(session, user=user, now=now())
    except RateLimitedError as error:
        return (
            render_template("account/login.html", **context, problem=str(error)),
            429,
            {"Retry-After": str(error.retry_after)},
        )
    if user is None:
        return render_template(
            "account/login.html",
            **context,
            problem="The user name or the password is wrong.",
        ), 401
    _log_in(token)
    return _home(next_url)


@bp.post("/logout")
def logout() -> Response:
    """End this login (the cookie stops working even if someone copied it)."""
    _accounts_only()
    if not LogoutForm().validate_on_submit():
        abort(400)
    token = cookie.get(LOGIN_KEY)
    if isinstance(token, str):
        with app_state().sessions.begin() as session:
            end_login_session(session, token)
    cookie.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("account.login"), code=303)


@bp.route("/register", methods=["GET", "POST"])
def register() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Create an account, when registration is open; otherwise say how to get one."""
    _accounts_only()
    mode = _registration()
    form = RegisterForm()
    if mode != "open":
        status = 403 if request.method == "POST" else 200
        return render_template("account/register.html", form=None, mode=mode), status
    if g.get("user_id") is not None:
        return _home()
    if not form.is_submitted():
        return render_template("account/register.html", form=form, mode=mode)
    if not form.validate():
        return render_template("account/register.html", form=form, mode=mode), 400
    address = _client_address()
    try:
        with app_state().sessions.begin() as session:
            check_registration_limit(session, address=address, now=now())
            user = create_user(
                session,
                name=form.name.data or "",
                password=form.password.data or "",
                now=now(),
            )
            record_registration(session, address=address, now=now())
            token = start_login_session(session, user=user, now=now())
            name = user.name
    except RateLimitedError as error:
        return (
            render_template(
                "account/register.html", form=form, mode=mode, problem=str(error)
            ),
            429,
            {"Retry-After": str(error.retry_after)},
        )
    except AccountError as error:
        return render_template(
            "account/register.html", form=form, mode=mode, problem=str(error)
        ), 400
    _log_in(token)
    flash(f"Welcome, {name}! Your account is ready.", "success")
    return _home()


@bp.route("/invite/<token>", methods=["GET", "POST"])
def invite(token: str) -> Response | str | tuple[str, int]:
    """Accept a one-time invitation: choose a password for the named account."""
    _accounts_only()
    if _registration() == "closed":
        return render_template("account/register.html", form=None, mode="closed"), 403
    with app_state().sessions() as session:
        info = invitation_info(session, token, now=now())
    if info is None:
        return render_template(
            "account/invite.html", info=None, form=None, problem=INVALID_INVITATION
        ), 404
    form = InviteForm()
    if not form.is_submitted():
        return render_template("account/invite.html", info=info, form=form)
    if not form.validate():
        return render_template("account/invite.html", info=info, form=form), 400
    try:
        with app_state().sessions.begin() as session:
            user = accept_invitation(
                session, token=token, password=form.password.data or "", now=now()
            )
            login_token = start_login_session(session, user=user, now=now())
            name = user.name
    except AccountError as error:
        return render_template(
            "account/invite.html", info=info, form=form, problem=str(error)
        ), 400
    _log_in(login_token)
    flash(f"Welcome, {name}! Your account is ready.", "success")
    return _home()


def _account_page(
    session: Session, form: PasswordForm, *, problem: str | None = None
) -> str:
    user = current_user(session)
    return render_template(
        "account/account.html",
        user=user,
        form=form,
        problem=problem,
        password_help=_PASSWORD_HELP,
    )


@bp.get("/account")
def account() -> str:
    """Your account: name and role, password change, and your API tokens."""
    _accounts_only()
    with app_state().sessions.begin() as session:
        return _account_page(session, PasswordForm())


@bp.post("/account/password")
def password() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Change your password; every other browser logged in as you is logged out."""
    _accounts_only()
    form = PasswordForm()
    with app_state().sessions.begin() as session:
        if not form.validate_on_submit():
            return _account_page(session, form), 400
        user = current_user(session)
        token = cookie.get(LOGIN_KEY)
        try:
            change_password(
                session,
                user=user,
                current=form.current.data or "",
                new=form.new.data or "",
                keep_token=token if isinstance(token, str) else None,
                address=_client_address(),
                now=now(),
            )
        except RateLimitedError as error:
            page = _account_page(session, form, problem=str(error))
            return page, 429, {"Retry-After": str(error.retry_after)}
        except AccountError as error:
            # Committed on purpose: a wrong current password counts as a failure.
            return _account_page(session, form, problem=str(error)), 400
    flash(
        "Password changed. Every other browser logged in as you is logged out.",
        "success",
    )
    return redirect(url_for("account.account"), code=303)


# --- keeping secrets out of the request log ----------------------------------------------

_INVITE_PATH = re.compile(r"(/invite/)[^\s?\"]+")


class _RedactInviteTokens(logging.Filter):
    """The development server logs each request line; hide invitation tokens in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _INVITE_PATH.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _INVITE_PATH.sub(r"\1[redacted]", record.msg)
        return True


def init_app(app: Flask) -> None:
    app.jinja_env.globals["min_password"] = MIN_PASSWORD
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, _RedactInviteTokens) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(_RedactInviteTokens())
