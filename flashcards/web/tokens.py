"""Settings page for personal API tokens: list, create (shown once), revoke.

Place: a blueprint of the web layer over services.api_tokens. Tokens belong to the
current user (the local user in local mode, the logged-in user with accounts) and
let scripts use the JSON API (web.api) as that user. The forms are CSRF-protected
like every other form; the new token's secret is rendered in the response to the
create form only, never stored, flashed or put in a URL.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm  # type: ignore[import-untyped]
from werkzeug.wrappers import Response
from wtforms import StringField  # type: ignore[import-untyped]
from wtforms.validators import DataRequired, Length  # type: ignore[import-untyped]

from flashcards.services.api_tokens import (
    NAME_MAX,
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
)
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user

bp = Blueprint("tokens", __name__)


class NewTokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "Token name",
        validators=[
            DataRequired("Give the token a name, such as the device or script using it."),
            Length(max=NAME_MAX, message=f"At most {NAME_MAX} characters."),
        ],
        description="Say where it is used, e.g. “phone app” or “sync script”.",
    )


class RevokeForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token; the token id is in the URL."""


def _page(
    form: NewTokenForm,
    *,
    new_secret: str | None = None,
    new_name: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    with app_state().sessions.begin() as session:
        user = current_user(session)
        tokens = list_tokens(session, user_id=user.id)
        user_name = user.name
    return render_template(
        "tokens/index.html",
        form=form,
        revoke_form=RevokeForm(),
        tokens=tokens,
        new_secret=new_secret,
        new_name=new_name,
        user_name=user_name,
    ), status


@bp.get("/settings/tokens")
def index() -> tuple[str, int]:
    """Your API tokens and a form to create one."""
    return _page(NewTokenForm())


@bp.post("/settings/tokens")
def create() -> tuple[str, int]:
    """Create a token and show it, this once."""
    form = NewTokenForm()
    if not form.validate():
        return _page(form, status=400)
    try:
        with app_state().sessions.begin() as session:
            user = current_user(session)
            made = create_token(session, user=user, name=form.name.data, now=now())
            name = made.token.name
    except TokenError as error:
        form.name.errors = [str(error)]
        return _page(form, status=400)
    return _page(NewTokenForm(formdata=None), new_secret=made.secret, new_name=name)


@bp.post("/settings/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> Response | tuple[str, int]:
    """Revoke one of your tokens: it stops working at once."""
    form = RevokeForm()
    if not form.validate():
        return _page(NewTokenForm(formdata=None), status=400)
    try:
        with app_state().sessions.begin() as session:
            user = current_user(session)
            token = revoke_token(session, user_id=user.id, token_id=token_id, now=now())
            name = token.name
    except TokenError as error:
        abort(404, description=str(error))
    flash(f"The token “{name}” was revoked; it no longer works.", "success")
    return redirect(url_for("tokens.index"), code=303)
