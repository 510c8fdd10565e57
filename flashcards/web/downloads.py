"""Downloads blueprint: a deck or the whole collection as an Anki package or YAML.

The page is a plain GET form (downloads change nothing, so no CSRF token is
needed); the file itself comes from `flashcards.export`, built inside one read
transaction for the current user.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, render_template, request
from sqlalchemy import select

from flashcards.db.models import Deck
from flashcards.export import (
    EmptySelectionError,
    ExportError,
    UnknownDeckError,
    build_package,
    export_yaml,
)
from flashcards.services.decks import visible_decks_clause
from flashcards.services.study import deck_tree_ids
from flashcards.web.app import app_state, now
from flashcards.web.auth import current_user
from flashcards.web.decks import visible_deck
from flashcards.web.errors import error_response

bp = Blueprint("downloads", __name__)

FORMATS = ("apkg", "yaml")


@bp.get("/download")
def index() -> str | tuple[Response | str, int]:
    """The download form: which deck (or all), which format, with progress or not."""
    with app_state().sessions() as session:
        user = current_user(session)
        decks = list(
            session.execute(
                select(Deck.id, Deck.name)
                .where(visible_decks_clause(user.id))
                .order_by(Deck.name)
            )
        )
    chosen = request.args.get("deck", type=int)
    return render_template("downloads/index.html", decks=decks, chosen=chosen)


@bp.get("/download/file")
def file() -> Response | tuple[Response | str, int]:
    """The package or deck file itself, as an attachment."""
    kind = request.args.get("format", "apkg")
    deck_arg = request.args.get("deck", "").strip()
    with_progress = request.args.get("with_progress") in ("1", "on", "true")
    if kind not in FORMATS:
        return error_response(400, "Nothing was downloaded", "Choose .apkg or YAML.")
    if deck_arg and not deck_arg.isdigit():
        return error_response(
            400, "Nothing was downloaded", "Pick a deck from the list."
        )
    if kind == "yaml" and not deck_arg:
        return error_response(
            400, "Nothing was downloaded", "A YAML deck file holds one deck; pick one."
        )
    if kind == "yaml" and with_progress:
        return error_response(
            400,
            "Nothing was downloaded",
            "A YAML deck file never carries progress; choose .apkg to take it along.",
        )
    # A transaction that commits: the export stores the Anki fields it had to
    # render (notes imported before they were kept), so the next one need not.
    with app_state().sessions.begin() as session:
        user = current_user(session)
        name = "flashcards"
        deck_ids: list[int] | None = None
        if deck_arg:
            deck = visible_deck(session, user, int(deck_arg))
            name = deck.slug
            deck_ids = deck_tree_ids(session, deck, user_id=user.id)
        try:
            if kind == "yaml":
                data = export_yaml(session, deck_id=int(deck_arg), user_id=user.id)
                body = data.encode("utf-8")
            else:
                body = build_package(
                    session,
                    deck_ids=deck_ids,
                    user_id=user.id,
                    with_progress=with_progress,
                    now=now(),
                )
        except UnknownDeckError as error:
            return error_response(404, "Nothing was downloaded", str(error))
        except (EmptySelectionError, ExportError) as error:
            return error_response(409, "Nothing was downloaded", str(error))
    mimetype = "application/yaml" if kind == "yaml" else "application/octet-stream"
    response = Response(body, mimetype=mimetype)
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", name)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.{kind}"'
    return response
